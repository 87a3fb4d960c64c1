"""The `tiny` preset end to end on CPU: `python -m transformer_book.train --preset tiny`, timed as a newcomer runs it.

Runs the command in a fresh run folder (BPE training, 900 training steps, checkpoint averaging, beam-search
decoding of test_2016_flickr, sacreBLEU), prints its output, the total wall time, and the run's scores.json.

    python bench/train_tiny.py                    # the run folder goes to a temporary directory
    python bench/train_tiny.py --out runs/tiny    # keep it
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine  # bench/common.py


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="run folder (default: a new temporary folder)")
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="tiny_")) / "run"
    command = [sys.executable, "-m", "transformer_book.train", "--preset", "tiny", "--out", str(out)]
    print(f"# {machine()} | {os.cpu_count()} cores, CPU")
    print("# command: python -m transformer_book.train --preset tiny --out RUN_DIR   (timed by bench/train_tiny.py)")
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - start
    print(done.stdout.rstrip())
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    scores = json.loads((out / "scores.json").read_text())
    print(f"# end-to-end wall time: {wall:.0f} s ({wall / 60:.1f} min), of which training "
          f"{scores['train_wall_time_s']:.0f} s and test decoding {scores['decode_wall_time_s']:.0f} s")
    print("# run folder:", " ".join(sorted(p.name for p in out.iterdir())))
    print("# scores.json:", json.dumps({k: v for k, v in scores.items() if k != "bleu_details"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Table 3 in miniature (§6.2 of the book): the paper's model variations, re-run on Multi30k EN->DE with a small model,
two seeds each. About 90 minutes on a 2-core CPU; not part of CI.

    python bench/table3.py                 # train every run not yet finished, then record them all
    python bench/table3.py A-h1 base       # just these rows (both seeds)
    python bench/table3.py --record-only   # runs/table3/<run> already trained: only (re)write book/runs/table3/
    python bench/table3.py --list          # print each run's command and stop

Every run is the book's own command, `python -m transformer_book.train --preset tiny ... --out runs/table3/<run>`,
with a fixed number of steps (so a busy CPU changes only the wall time, never the result) and one thread, two runs
side by side. After training, the run's final weights (no checkpoint averaging, as for the paper's Table 3) translate
the whole validation split with beam search (beam 4, alpha 0.6); table3.json holds the parameter count, the
validation perplexity from the run's own last evaluation and the validation BLEU of that translation. The test set is
only sampled (its first 100 sentences, the trainer's own decoding) to keep the runs short; Table 3 is about the
validation split, as in the paper. book/runs/table3/<run>/ keeps config.json, metrics.jsonl, scores.json,
table3.json and both translation files, never the checkpoints.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = 800
SEEDS = (0, 1)
# Settings shared by every run: the tiny preset (N=2, d_model=128, d_ff=512, h=4, P_drop=0.1, eps_ls=0.1), a fixed
# step budget, two evaluations, the final weights for decoding.
COMMON = ["--preset", "tiny", "--max-steps", str(STEPS), "--eval-every", str(STEPS // 2), "--checkpoint-every", "100",
          "--average-last", "1", "--test-sentences", "100"]
# run name -> (the paper's row, what differs from the base row, the flags that make the difference)
ROWS = {
    "base": ("base", "", []),
    "A-h1": ("A", "h = 1, d_k = 128", ["--h", "1"]),
    "A-h2": ("A", "h = 2, d_k = 64", ["--h", "2"]),
    "A-h8": ("A", "h = 8, d_k = 16", ["--h", "8"]),
    "B-dk16": ("B", "d_k = 16", ["--key-size", "16"]),
    "B-dk8": ("B", "d_k = 8", ["--key-size", "8"]),
    "C-small": ("C", "d_model = 64, d_ff = 256", ["--d-model", "64", "--d-ff", "256"]),
    "C-large": ("C", "d_model = 256, d_ff = 1024", ["--d-model", "256", "--d-ff", "1024"]),
    "D-drop0": ("D", "P_drop = 0", ["--P-drop", "0"]),
    "D-ls0": ("D", "eps_ls = 0", ["--eps-ls", "0"]),
    "E-learned": ("E", "learned positions", ["--learned-positions"]),
    "LN-pre": ("LN", "pre-LN", ["--norm-first"]),
    "LN-deep-post": ("LN", "N = 6, post-LN", ["--N", "6"]),
    "LN-deep-pre": ("LN", "N = 6, pre-LN", ["--N", "6", "--norm-first"]),
}
# Longest first, so that the two workers finish together.
COST = {"LN-deep-post": 3, "LN-deep-pre": 3, "C-large": 2.5, "C-small": 0.6}


def runs(rows):
    return [f"{row}-s{seed}" for row in sorted(rows, key=lambda r: -COST.get(r, 1)) for seed in SEEDS]


def command(run):
    row, seed = run.rsplit("-s", 1)
    return ["python", "-m", "transformer_book.train", *COMMON, *ROWS[row][2], "--seed", seed,
            "--out", f"runs/table3/{run}"]


def finished(run):
    return (ROOT / "runs" / "table3" / run / "table3.json").is_file()


def train_one(run):
    """Train one run on one thread, then translate the validation split with its final weights."""
    folder = ROOT / "runs" / "table3" / run
    trained = (folder / "scores.json").is_file()
    if folder.exists() and not trained:  # a run cut short: start it again from scratch (they are short)
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(folder.parent / f"{run}.log", "a" if trained else "w", encoding="utf-8") as log:  # the run's output
        started = time.time()
        code = 0 if trained else subprocess.call([sys.executable, *command(run)[1:]], cwd=ROOT, env=env, stdout=log,
                                                 stderr=subprocess.STDOUT)
        if code:
            raise SystemExit(f"{run} failed; see runs/table3/{run}.log")
        code = subprocess.call([sys.executable, __file__, "--validate", run], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
        if code:
            raise SystemExit(f"{run}: validation decoding failed; see runs/table3/{run}.log")
    print(f"{run}: done in {(time.time() - started) / 60:.1f} min", flush=True)


def validate(run, folder=None, sentences=None):
    """table3.json and val.hyp.<tgt> in the run folder: its final weights translate the validation split (beam 4,
    alpha 0.6; its first `sentences` only when given, for tests)."""
    import torch
    from transformer_book.results import read_run, split_texts, translate_with
    from transformer_book.train import checkpoint_paths
    folder = Path(folder or ROOT / "runs" / "table3" / run)
    recorded = read_run(folder)
    cfg, scores = recorded["config"], recorded["scores"]
    last = checkpoint_paths(folder)[-1]
    step = int(last.stem.removeprefix("step_"))  # the trainer names each checkpoint after its step
    if step != scores["steps"]:
        raise SystemExit(f"{run}: the last checkpoint is step {step}, the run ended at {scores['steps']}")
    sources, references = (texts[:sentences] for texts in split_texts(cfg, "val"))
    hyps, bleu, seconds, model = translate_with(last, sources, references, cfg["beam_size"], cfg["alpha"])
    (folder / f"val.hyp.{cfg['tgt']}").write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    row = run.rsplit("-s", 1)[0]
    result = {"run": run, "row": ROWS[row][0], "change": ROWS[row][1], "seed": cfg["seed"],
              "params": sum(p.numel() for p in model.parameters()), "steps": scores["steps"],
              "val_ppl": recorded["val"][-1]["val_ppl"], "val_ppl_step": recorded["val"][-1]["step"],
              "weights": last.name, **bleu,
              "decoding": {"split": "val", "sentences": len(hyps), "method": "beam search",
                           "beam_size": cfg["beam_size"], "alpha": cfg["alpha"], "max_len": "source length + 50"},
              "val_decode_wall_time_s": round(seconds, 1), "train_wall_time_s": scores["train_wall_time_s"],
              "hardware": {**scores["hardware"], "threads": torch.get_num_threads()},
              "command": shlex.join(command(run)), "made_by": "python bench/table3.py"}
    (folder / "table3.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{run}: {result['params']:,} parameters, val ppl {result['val_ppl']:.2f}, val BLEU {result['bleu']:.2f}")
    return result


KEPT = ("config.json", "metrics.jsonl", "scores.json", "table3.json")  # and the two translation files


def record(run, src=None, dest=None):
    """Copy a finished run into book/runs/table3/<run>/ (no checkpoints)."""
    src = Path(src or ROOT / "runs" / "table3" / run)
    dest = Path(dest or ROOT / "book" / "runs" / "table3" / run)
    cfg = json.loads((src / "config.json").read_text(encoding="utf-8"))
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*KEPT, f"val.hyp.{cfg['tgt']}", f"test_2016_flickr.hyp.{cfg['tgt']}"):
        shutil.copyfile(src / name, dest / name)


def prepare():
    """Train (or find) the BPE model once, before two runs could both try to write it."""
    from transformer_book.train import TrainConfig, bpe_cache_dir, load_corpus
    load_corpus(TrainConfig.from_preset("tiny"), bpe_cache_dir())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", nargs="*", help=f"rows to run: {', '.join(ROWS)} (default: all)")
    parser.add_argument("--record-only", action="store_true", help="only copy finished runs into book/runs/table3/")
    parser.add_argument("--list", action="store_true", help="print the commands and stop")
    parser.add_argument("--workers", type=int, default=2, help="runs side by side, one thread each (default 2)")
    parser.add_argument("--validate", metavar="RUN", help=argparse.SUPPRESS)  # internal: one run's validation decoding
    args = parser.parse_args(argv)
    if args.validate:
        validate(args.validate)
        return 0
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown row {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    names = runs(args.rows or list(ROWS))
    if args.list:
        print("\n".join(shlex.join(command(r)) for r in names))
        return 0
    if not args.record_only:
        prepare()
        todo = [r for r in names if not finished(r)]
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(train_one, todo))
    for run in names:
        record(run)
    print(f"recorded {len(names)} runs in book/runs/table3/", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

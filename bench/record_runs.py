"""Re-make every training run recorded in the book (book/runs/), from scratch. Hours on a 2-core CPU; not part of CI.

    python bench/record_runs.py                   # every run, one after another
    python bench/record_runs.py laptop-en-de      # just this one
    python bench/record_runs.py --record-only     # runs/<name> already trained: only (re)write book/runs/<name>
    python bench/record_runs.py --decode-again    # trained: decode the test set again with the current decoder, then record

Each run is the book's own command, `python -m transformer_book.train ... --out runs/<name>` (runs/ is git-ignored and
keeps the checkpoints), started with an empty cache (XDG_CACHE_HOME) so that the recorded wall time includes training the BPE.
Then `transformer_book.results.record` keeps it in book/runs/<name>: config.json, metrics.jsonl, scores.json and the
test translations (no checkpoints), the test set decoded the two other ways §6 compares (variants.json), and the
trained model's attention for the sentences below (attention.npz).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# name -> (flags after --preset laptop, threads). EN->DE is the chapter's one-hour run; the other two pairs run
# 30 minutes each, side by side on one thread each (see §6.2).
RUNS = {
    "laptop-en-de": ([], 0),
    "laptop-en-fr": (["--tgt", "fr", "--max-minutes", "30"], 1),
    "laptop-de-en": (["--src", "de", "--tgt", "en", "--max-minutes", "30"], 1),
}


def command(name):
    flags, _ = RUNS[name]
    return ["python", "-m", "transformer_book.train", "--preset", "laptop", *flags, "--out", f"runs/{name}"]


def attention_sources(config):
    """§3.6's sentence (the first of the validation split) and the first three test sentences, in the source language."""
    from transformer_book.corpus import read_lines
    val, test = read_lines("val", config["src"]), read_lines("test_2016_flickr", config["src"])
    return {"val_0": val[0], "test_0": test[0], "test_1": test[1], "test_2": test[2]}


def write_summary(name, run):
    """bench/results/<name>.txt: where and how the run ran, its own log, its wall time and scores (performance appendix)."""
    s, hw = run["scores"], run["scores"]["hardware"]
    lines = [f"# machine: {hw['cpu']} | {hw['cpu_count']} cores, {hw['threads']} threads | torch {hw['torch']} | CPU"
             if hw["device"] == "cpu" else f"# machine: {hw.get('gpu', hw['device'])} | torch {hw['torch']}",
             f"# command: {run['config']['command']}   (filed by bench/record_runs.py; BPE cache empty at the start)",
             *(ROOT / "runs" / f"{name}.log").read_text(encoding="utf-8").splitlines(),
             f"# whole run {s['run_wall_time_s'] / 60:.1f} min: training {s['train_wall_time_s'] / 60:.1f} min "
             f"({s['steps']:,} steps, stopped by {s['stopped_by']}), test decoding {s['decode_wall_time_s'] / 60:.1f} min",
             *([f"# test set decoded again ({s['decoded_again']['why']}): BLEU {s['decoded_again']['before']['bleu']:.2f} "
                f"-> {s['bleu']:.2f}"] if "decoded_again" in s else []),
             *(f"# {v}: BLEU {run['variants'][v]['bleu']:.2f}, chrF {run['variants'][v]['chrf']:.2f}" for v in run["variants"])]
    (ROOT / "bench" / "results" / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def decode_again(name):
    """Decode runs/<name>'s test set again with the weights it used and today's decoder; rewrite its translations
    and scores in place, keeping the old scores (and how many translations were empty) under "decoded_again"."""
    from transformer_book.results import read_run, split_texts, translate_with, used_weights
    folder = ROOT / "runs" / name
    run = read_run(folder)
    cfg, scores = run["config"], run["scores"]
    sources, references = (texts[:scores["sentences"]] for texts in split_texts(cfg))
    hyp_path = folder / f"{scores['test_set']}.hyp.{cfg['tgt']}"
    before = {k: scores[k] for k in ("bleu", "chrf", "bleu_details")}
    before["empty_translations"] = hyp_path.read_text(encoding="utf-8").splitlines().count("")
    before = scores.get("decoded_again", {}).get("before", before)  # decoded again before: keep the first decoding
    hyps, new, seconds, _ = translate_with(used_weights(folder), sources, references, cfg["beam_size"], cfg["alpha"])
    hyp_path.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    scores.update(new)
    scores["decoded_again"] = {"command": "python bench/record_runs.py --decode-again", "before": before,
                               "why": "no translation may be empty now: EOS may not come first",
                               "decode_wall_time_s": round(seconds, 1)}
    (folder / "scores.json").write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    print(f"{name}: BLEU {before['bleu']:.2f} -> {scores['bleu']:.2f} "
          f"({before['empty_translations']} empty before, {hyps.count('')} now)", flush=True)


def train(names):
    """Run the commands: two-thread runs one after another, one-thread runs side by side (one core each)."""
    with tempfile.TemporaryDirectory() as empty_cache:
        # An empty cache folder: the BPE is trained again, so a run's recorded time includes it.
        env = {**os.environ, "XDG_CACHE_HOME": empty_cache}
        side_by_side = []
        for name in names:
            print("$", shlex.join(command(name)), flush=True)
            threads = RUNS[name][1]
            run_env = {**env, "OMP_NUM_THREADS": str(threads)} if threads else env
            (ROOT / "runs").mkdir(exist_ok=True)
            with open(ROOT / "runs" / f"{name}.log", "w", encoding="utf-8") as log:  # the run's own output, kept
                process = subprocess.Popen([sys.executable, *command(name)[1:]], cwd=ROOT, env=run_env, stdout=log,
                                           stderr=subprocess.STDOUT)
            if threads:
                side_by_side.append(process)
            elif process.wait():
                raise SystemExit(f"{name} failed")
        if any(p.wait() for p in side_by_side):
            raise SystemExit("a run failed")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"runs to make: {', '.join(RUNS)} (default: all)")
    parser.add_argument("--record-only", action="store_true", help="only copy finished runs/<name> into book/runs/")
    parser.add_argument("--decode-again", action="store_true",
                        help="finished runs/<name>: decode the test set again with today's decoder, then record")
    args = parser.parse_args(argv)
    from transformer_book.results import record
    names = args.names or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"unknown run {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    if args.decode_again:
        for name in names:
            decode_again(name)
    elif not args.record_only:
        train(names)
    for name in names:
        config = json.loads((ROOT / "runs" / name / "config.json").read_text(encoding="utf-8"))
        run = record(ROOT / "runs" / name, ROOT / "book" / "runs" / name, attention_sources(config))
        write_summary(name, run)
        print(f"recorded {name}: BLEU {run['scores']['bleu']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

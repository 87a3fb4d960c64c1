"""Tune the decoding of the recorded runs on the validation split, then translate the test set once with the choice.

    python bench/tune_decoding.py                 # every run of bench/record_runs.py whose runs/<name> is trained
    python bench/tune_decoding.py laptop-en-fr    # just this one

The training settings of the `laptop` recipe were not tuned (each try costs an hour); what can be tuned cheaply is
how a finished run decodes: how many of its last checkpoints to average (1 to 5: the run keeps 5), the length
penalty alpha and the beam size. Every setting is scored on the validation split only (sacreBLEU); the best one is
then used once on the test set. The grid, the choice and that one test score go to book/runs/<name>/val_tuning.json,
which §6.4 reads. Minutes on a 2-core CPU; not part of CI.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AVERAGE_LAST = (1, 2, 3, 4, 5)  # first pass: beam 4, alpha 0.6 (the paper's), k last checkpoints averaged
ALPHAS = (0.0, 0.6, 1.0)  # second pass, at the best k
BEAMS = (1, 4, 8)


def weights(run_dir, k):
    """The model with the mean of the run's last k checkpoints, and its tokenizer."""
    from transformer_book.train import average_checkpoints, checkpoint_paths, load_checkpoint, load_weights
    paths = checkpoint_paths(run_dir)
    if len(paths) < k:
        raise SystemExit(f"{run_dir} keeps {len(paths)} checkpoints; cannot average the last {k}")
    model, tokenizer, _ = load_checkpoint(paths[-1])
    load_weights(model, average_checkpoints(paths[-k:]))
    return model.eval(), tokenizer


def tune(name):
    from transformer_book.decoding import score_translations
    from transformer_book.results import read_run, split_texts
    from transformer_book.train import translate_lines
    run_dir = ROOT / "runs" / name
    run = read_run(run_dir)
    cfg = run["config"]
    val_src, val_ref = split_texts(cfg, "val")
    started, grid, models = time.time(), [], {}

    def score(k, beam, alpha):
        """Validation BLEU of one setting (each setting decoded once)."""
        done = [g for g in grid if (g["average_last"], g["beam_size"], g["alpha"]) == (k, beam, alpha)]
        if done:
            return done[0]["bleu"]
        if k not in models:
            models[k] = weights(run_dir, k)
        model, tokenizer = models[k]
        result = score_translations(translate_lines(model, tokenizer, val_src, beam, alpha), val_ref)
        grid.append({"average_last": k, "beam_size": beam, "alpha": alpha, "bleu": result["bleu"], "chrf": result["chrf"]})
        print(f"{name}  val  average of last {k}, beam {beam}, alpha {alpha}: BLEU {result['bleu']:.2f}", flush=True)
        return result["bleu"]

    # one axis at a time, ties to the cheaper setting: fewer checkpoints, smaller alpha, smaller beam
    best_k = max(AVERAGE_LAST, key=lambda k: (score(k, 4, 0.6), -k))
    best_alpha = max(ALPHAS, key=lambda a: (score(best_k, 4, a), -a))
    best_beam = max(BEAMS, key=lambda b: (score(best_k, b, best_alpha), -b))
    chosen = {"average_last": best_k, "beam_size": best_beam, "alpha": best_alpha}
    test_src, test_ref = (t[:run["scores"]["sentences"]] for t in split_texts(cfg))
    model, tokenizer = models[best_k]
    hyps = translate_lines(model, tokenizer, test_src, best_beam, best_alpha)
    test = score_translations(hyps, test_ref)
    file = f"{run['scores']['test_set']}.tuned.hyp.{cfg['tgt']}"
    out = ROOT / "book" / "runs" / name
    (out / file).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    record = {"command": f"python bench/tune_decoding.py {name}", "split": "val", "sentences": len(val_src),
              "grid": grid, "chosen": chosen,
              "test": {k: test[k] for k in ("bleu", "chrf", "bleu_signature", "chrf_signature")} | {"file": file},
              "wall_time_s": round(time.time() - started, 1)}
    (out / "val_tuning.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"{name}: chose {chosen} on val; test BLEU {test['bleu']:.2f} "
          f"(recorded run: {run['scores']['bleu']:.2f})", flush=True)


def main(argv=None):
    from record_runs import RUNS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"runs to tune: {', '.join(RUNS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in RUNS]
    if unknown:
        parser.error(f"unknown run {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    for name in args.names or list(RUNS):
        tune(name)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "bench"))
    sys.exit(main())

"""Tokens per second of the book's training loop on this machine, for the CPU presets (tiny, small).

Each preset trains on its real corpus (Multi30k, BPE of the preset's size) with its real batches, loss, Adam and
schedule: the step is `transformer_book.train.train_step`, exactly what `python -m transformer_book.train` runs.
A few warm-up steps are run first; then `--steps` steps are timed. Tokens are the real (non-pad) source + target
tokens of the batches, the number `metrics.jsonl` reports as tokens_per_s.

    python bench/train_speed.py                    # tiny and small, 40 timed steps each
    python bench/train_speed.py --presets tiny --steps 5
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from transformer_book.data import make_batch, token_batches
from transformer_book.hardware import pick_device
from transformer_book.model import Transformer
from transformer_book.optim import make_optimizer
from transformer_book.regularization import LabelSmoothingLoss
from transformer_book.train import TrainConfig, load_corpus, train_step

from common import machine  # bench/common.py


def measure(preset: str, steps: int, warmup: int = 3, cache_dir=None) -> dict:
    cfg = TrainConfig.from_preset(preset)
    corpus = load_corpus(cfg, cache_dir or tempfile.mkdtemp())
    vocab = corpus.tokenizer.vocab_size
    torch.manual_seed(cfg.seed)
    model = Transformer(cfg.model_config(vocab)).train()
    optimizer, scheduler = make_optimizer(model, cfg.d_model, cfg.warmup_steps, cfg.lr_scale)
    criterion = LabelSmoothingLoss(vocab, cfg.eps_ls)
    batches = token_batches(corpus.train_pairs, cfg.max_tokens, seed=cfg.seed)
    device = pick_device("cpu")
    tokens, seconds = 0, 0.0
    for i, idx in enumerate(batches[:warmup + steps]):
        batch = make_batch(corpus.train_pairs, idx)
        t0 = time.perf_counter()
        train_step(model, [batch], criterion, optimizer, scheduler, device, cfg.amp)
        if i >= warmup:
            seconds += time.perf_counter() - t0
            tokens += batch.n_src_tokens + batch.n_tgt_tokens
    result = {"preset": preset, "params": sum(p.numel() for p in model.parameters()), "vocab": vocab,
              "max_tokens": cfg.max_tokens, "steps": steps, "tokens_per_s": tokens / seconds,
              "ms_per_step": 1000 * seconds / steps}
    print(f"{preset:<6} N={cfg.N} d_model={cfg.d_model} vocab={vocab} params={result['params']:,}  "
          f"max_tokens={cfg.max_tokens}: {result['tokens_per_s']:,.0f} tokens/s, {result['ms_per_step']:.0f} ms/step "
          f"({steps} steps)", flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)
    print(f"# {machine()} | fp32, CPU")
    print(f"# command: python bench/train_speed.py {' '.join(argv) if argv else ''}".rstrip())
    return [measure(p, args.steps) for p in args.presets]


if __name__ == "__main__":
    main()

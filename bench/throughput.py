"""Training throughput of the book's Transformer vs torch.nn.Transformer, measured side by side on this machine.

Both sides use the same embeddings, positional encoding and (tied) output projection from the package, the same
vocabulary, dtype, batch shapes, loss and Adam optimiser; only the encoder-decoder differs. Each configuration is
timed in interleaved rounds (ours, torch, ours, torch, ...) and the median tokens/s of the rounds is reported.
A "token" is a target token of the batch (forward + backward + Adam step).

    python bench/throughput.py              # small and base, fp32, plus bf16 autocast and explicit attention
    python bench/throughput.py --quick      # fewer steps (a smoke test)

The last line is: throughput ratio vs torch.nn.Transformer: small X.XX, base Y.YY
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

import torch
from torch import nn

from transformer_book.attention import explicit_attention
from transformer_book.model import Config, Transformer, make_masks

from common import machine  # bench/common.py


class TorchTransformer(nn.Module):
    """torch.nn.Transformer with the book's embeddings, positional encodings and generator around it."""

    def __init__(self, config: Config):
        super().__init__()
        ours = Transformer(config)  # borrow its input paths and generator (same classes, same tying)
        self.config = config
        self.src_embed, self.tgt_embed, self.generator = ours.src_embed, ours.tgt_embed, ours.generator
        self.core = nn.Transformer(d_model=config.d_model, nhead=config.h, num_encoder_layers=config.N,
                                   num_decoder_layers=config.N, dim_feedforward=config.d_ff, dropout=config.P_drop,
                                   batch_first=True, norm_first=config.norm_first)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None):
        pad = self.config.pad_id
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.size(1), dtype=torch.bool)
        return self.core(self.src_embed(src), self.tgt_embed(tgt), tgt_mask=causal,
                         src_key_padding_mask=src == pad, tgt_key_padding_mask=tgt == pad,
                         memory_key_padding_mask=src == pad)


def make_batch(config: Config, batch: int, length: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, config.src_vocab, (batch, length), generator=g)
    tgt = torch.randint(3, config.tgt_vocab, (batch, length + 1), generator=g)
    # ragged ends, as in real batches: the last 0-3 positions of each sentence are padding
    for b in range(batch):
        cut = int(torch.randint(0, 4, (1,), generator=g))
        if cut:
            src[b, -cut:] = config.pad_id
            tgt[b, -cut:] = config.pad_id
    return src, tgt[:, :-1], tgt[:, 1:]


def train_steps(model, optimiser, batch, steps: int, autocast: bool) -> float:
    """Run `steps` training steps; return target tokens per second."""
    src, tgt_in, tgt_out = batch
    masks = make_masks(src, tgt_in, model.config.pad_id)
    loss_fn = nn.NLLLoss(ignore_index=model.config.pad_id)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    tokens = int((tgt_out != model.config.pad_id).sum()) * steps
    start = time.perf_counter()
    for _ in range(steps):
        with ctx:
            logp = model.generator(model(src, tgt_in, *masks))
            loss = loss_fn(logp.float().reshape(-1, logp.size(-1)), tgt_out.reshape(-1))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return tokens / (time.perf_counter() - start)


def compare(name, config, batch, length, steps, rounds, autocast=False, explicit=False):
    """Median tokens/s of ours and torch's over interleaved rounds; returns (ours, torch, ratio)."""
    torch.manual_seed(0)
    ours, theirs = Transformer(config).train(), TorchTransformer(config).train()
    opts = [torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9) for m in (ours, theirs)]
    data = make_batch(config, batch, length)
    ctx = explicit_attention(ours) if explicit else contextlib.nullcontext()
    results = {"ours": [], "torch": []}
    with ctx:
        for m, o in zip((ours, theirs), opts):  # warm-up, not timed
            train_steps(m, o, data, 1, autocast)
        for _ in range(rounds):
            results["ours"].append(train_steps(ours, opts[0], data, steps, autocast))
            results["torch"].append(train_steps(theirs, opts[1], data, steps, autocast))
    a, b = statistics.median(results["ours"]), statistics.median(results["torch"])
    label = name + (" bf16" if autocast else "") + (" explicit-attn" if explicit else "")
    print(f"{label:<24} ours {a:8.0f} tok/s | torch.nn.Transformer {b:8.0f} tok/s | ratio {a / b:5.2f}"
          f"   (batch {batch}x{length}, {rounds} rounds x {steps} steps)", flush=True)
    return a, b, a / b


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds (smoke test)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved repeats (median is reported; >= 5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = 3 if args.quick else max(5, args.rounds)
    print(machine(), flush=True)
    small = Config.small(P_drop=0.1)
    base = Config.base(P_drop=0.1)
    s = 2 if args.quick else 6
    ratio_small = compare("small (N=3, d=256)", small, 32, 24, s, rounds)[2]
    ratio_base = compare("base (N=6, d=512)", base, 16, 24, max(1, (2 * s) // 3), rounds)[2]
    if not args.quick:
        compare("small (N=3, d=256)", small, 32, 24, s, rounds, autocast=True)
        compare("small (N=3, d=256)", small, 32, 24, s, rounds, explicit=True)
    print(f"throughput ratio vs torch.nn.Transformer: small {ratio_small:.2f}, base {ratio_base:.2f}")


if __name__ == "__main__":
    main()

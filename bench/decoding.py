"""Greedy decoding with and without the key/value cache of §5.5, timed side by side on this machine.

The model is the base Transformer (Config.base(): N=6, d_model=512, a shared 37000-token vocabulary) with
random weights, in eval mode, float32, on the CPU with torch's default number of threads. One source sentence
of 25 tokens (batch 1) is decoded greedily for exactly --tokens steps (min_len = max_len = tokens forbids EOS,
so nothing stops early), once with the cache and once recomputing the whole prefix at each step.
Both runs include the one pass of the encoder. The two are timed in interleaved rounds and the medians compared.

    python bench/decoding.py                                      # base, 50 tokens, 5 rounds
    python bench/decoding.py --preset tiny --tokens 2 --rounds 1  # a smoke test

The last line is: decoding speed-up with key/value cache (base, batch 1, greedy, 50 tokens): X.XX×
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from transformer_book.decoding import greedy_search
from transformer_book.model import Config, Transformer

from common import machine  # bench/common.py

PRESETS = {"base": Config.base, "small": Config.small, "tiny": Config.tiny}


def time_greedy(model, src, tokens: int, use_cache: bool) -> tuple[float, list]:
    """Seconds for one greedy decoding of exactly `tokens` steps, and the tokens it produced."""
    start = time.perf_counter()
    out = greedy_search(model, src, max_len=tokens, min_len=tokens, use_cache=use_cache)
    return time.perf_counter() - start, out


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="base", help="model size (default base)")
    parser.add_argument("--tokens", type=int, default=50, help="output tokens (decoder steps) per run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--src-len", type=int, default=25, help="source tokens per sentence")
    parser.add_argument("--batch", type=int, default=1, help="sentences decoded together (default 1)")
    args = parser.parse_args(argv)
    print(machine(), flush=True)
    torch.manual_seed(0)
    config = PRESETS[args.preset]()
    model = Transformer(config).eval()
    src = torch.randint(4, config.src_vocab, (args.batch, args.src_len), generator=torch.Generator().manual_seed(0))
    for use_cache in (True, False):  # warm-up, not timed
        time_greedy(model, src, 2, use_cache)
    times, outputs = {True: [], False: []}, {}
    for _ in range(args.rounds):
        for use_cache in (True, False):
            seconds, outputs[use_cache] = time_greedy(model, src, args.tokens, use_cache)
            times[use_cache].append(seconds)
            assert all(len(hyp) == args.tokens for hyp in outputs[use_cache])
    assert outputs[True] == outputs[False], "cached and recomputed decoding disagree"
    cached, full = statistics.median(times[True]), statistics.median(times[False])
    for name, use_cache in (("with key/value cache", True), ("recomputing the prefix", False)):
        seconds, low, high = statistics.median(times[use_cache]), min(times[use_cache]), max(times[use_cache])
        print(f"{name:<24} {seconds * 1e3:9.1f} ms per batch | {args.batch * args.tokens / seconds:7.1f} tokens/s "
              f"(median of {args.rounds} rounds; range {low * 1e3:.0f}-{high * 1e3:.0f} ms)", flush=True)
    T = args.tokens
    print(f"config: {args.preset} (N={config.N}, d_model={config.d_model}, vocab={config.tgt_vocab}), fp32, "
          f"batch {args.batch}, source {args.src_len} tokens; output tokens identical with and without the cache")
    print(f"decoder positions processed per sentence: {T} with the cache, {T * (T + 1) // 2} recomputing "
          f"({(T + 1) / 2:.1f}x); time ratio below")
    ratio = full / cached
    print(f"decoding speed-up with key/value cache ({args.preset}, batch {args.batch}, greedy, {T} tokens): {ratio:.2f}×")
    return ratio


if __name__ == "__main__":
    main()

"""The book's Transformer on one GPU, measured side by side with torch.nn.Transformer in one run (plan: under 8 minutes
on one H200).

1. The bf16 dense peak of this GPU, measured here: the mean rate of a large bf16 matrix product (8192 x 8192 x 8192).
2. Training throughput, bf16 autocast, for base and big (Table 3) with the paper's batches (about 25,000 source and
   25,000 target tokens per step): the book's Transformer and torch.nn.Transformer with the same embeddings,
   positional encoding, tied generator, vocabulary (37,000), batch, loss and Adam (the pairing of bench/throughput.py),
   timed in interleaved rounds (ours, torch, ours, ...); the median of the rounds is reported. Then the same with
   torch.compile on both sides (in a child process with a hard time limit, as compiling may take minutes).
3. Model FLOPs utilisation (MFU): achieved FLOP/s over the peak measured in 1. A step's FLOPs are those of
   transformer_book.train.step_flops: every matrix multiply of the forward pass at the padded batch shape (the
   projections, the feed-forward layers, Q K^T and A V of all three attentions over the full T x T / T x S score
   matrices, and the generator), 2 FLOPs per multiply-add, times 3 for forward + backward. Embedding look-ups,
   softmax, layer norms and the optimizer are not counted.
4. Decoding a test_2016_flickr-sized test set (1,000 sentences, sorted by length, 100 per batch) with beam 4,
   alpha 0.6, with and without the key/value cache of §5.5, fp32: a base model with random weights (vocabulary 8000,
   as the base-multi30k preset) decoding exactly --decode-len tokens per sentence (min_len = max_len, so nothing
   stops early and the work is the same each time), or a trained checkpoint (--checkpoint) on the real test set.

    python bench/gpu.py --out bench/results/gpu.txt                    # one GPU (CUDA)
    python bench/gpu.py --quick --device cpu --out /tmp/gpu-quick.txt  # the same code paths, tiny sizes (seconds)

Every line also goes to --out, whose first line is "# machine: ...". Each phase has a time budget; a phase that runs
out reports the rounds it finished, and a phase that cannot start in time says it was skipped. The last line is:
gpu ratio vs torch.nn.Transformer: base X.XX, big Y.YY; MFU base Z %
(eager, bf16 autocast: the way `python -m transformer_book.train` trains; the compiled numbers are printed above it).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent, HERE):  # bench/ first, then this tree's transformer_book (nothing need be installed)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from throughput import TorchTransformer, make_batch  # noqa: E402  (bench/throughput.py: the CPU pairing)

from transformer_book.model import Config, Transformer, make_masks  # noqa: E402

# name -> (model config, tokens per step, sentence length, steps per round); --quick shrinks all of it.
SIZES = {"base": (lambda: Config.base(P_drop=0.1), 25000, 32, 20),
         "big": (lambda: Config.big(P_drop=0.3), 25000, 32, 10)}
QUICK_SIZES = {"base": (lambda: Config.tiny(P_drop=0.1), 80, 10, 2),
               "big": (lambda: Config.tiny(d_model=128, d_ff=512, h=8, P_drop=0.3), 80, 10, 2)}


# ----------------------------------------------------------------------------------------------------------- output
class Report:
    """print() and the same line into the --out file, flushed at once (a run cut short still leaves its lines)."""

    def __init__(self, path):
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "w", encoding="utf-8")

    def __call__(self, line=""):
        print(line, flush=True)
        if self.path:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self):
        if self.path:
            self.file.close()


def machine_line(device):
    from transformer_book.train import cpu_name
    parts = []
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        parts += [f"{p.name} ({p.multi_processor_count} SMs, {p.total_memory / 2**30:.0f} GiB)",
                  f"CUDA {torch.version.cuda}"]
    parts += [f"CPU {cpu_name()}", f"{os.cpu_count()} cores, threads {torch.get_num_threads()}",
              f"torch {torch.__version__}", f"python {platform.python_version()}", str(datetime.date.today())]
    return "# machine: " + " | ".join(parts)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory(device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------------------ 1. the peak
def measure_peak(device, n=8192, reps=10, warmup=3):
    """TFLOP/s of an n x n x n bf16 matrix product on `device`: the mean of `reps` products after `warmup` ones."""
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16, generator=g)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16, generator=g)
    for _ in range(warmup):
        c = a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        c = a @ b
    sync(device)
    seconds = (time.perf_counter() - start) / reps
    del a, b, c
    free_memory(device)
    return 2 * n ** 3 / seconds / 1e12


# ------------------------------------------------------------------------------------------------ 2. training steps
class TorchSide(TorchTransformer):
    """bench/throughput.py's torch.nn.Transformer pairing, with its causal mask made on the batch's device."""

    def forward(self, src, tgt, src_mask=None, tgt_mask=None):
        pad = self.config.pad_id
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.size(1), device=tgt.device, dtype=torch.bool)
        return self.core(self.src_embed(src), self.tgt_embed(tgt), tgt_mask=causal,
                         src_key_padding_mask=src == pad, tgt_key_padding_mask=tgt == pad,
                         memory_key_padding_mask=src == pad)


class LossOf(nn.Module):
    """One model's training loss for a batch: forward, generator and NLL under bf16 autocast (what gets compiled)."""

    def __init__(self, model, device_type, amp=True):
        super().__init__()
        self.model, self.device_type, self.amp = model, device_type, amp
        self.nll = nn.NLLLoss(ignore_index=model.config.pad_id)

    def forward(self, src, tgt_in, tgt_out, src_mask, tgt_mask):
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp):
            logp = self.model.generator(self.model(src, tgt_in, src_mask, tgt_mask))
        return self.nll(logp.float().reshape(-1, logp.size(-1)), tgt_out.reshape(-1))


def device_batch(config, tokens, length, device):
    """About `tokens` padded tokens per side: tokens // length sentences of `length` tokens, ragged ends."""
    src, tgt_in, tgt_out = make_batch(config, max(1, tokens // length), length)
    src_mask, tgt_mask = make_masks(src, tgt_in, config.pad_id)
    return tuple(x.to(device) for x in (src, tgt_in, tgt_out, src_mask, tgt_mask))


def batch_flops(config, batch):
    """step_flops of transformer_book.train for this batch's padded shapes (3 x the forward matmul FLOPs)."""
    from transformer_book.train import step_flops

    class Shapes:
        src, tgt_in = batch[0], batch[1]
    return step_flops(config, [Shapes()])


def run_steps(loss_fn, optimiser, batch, steps, device):
    """Seconds for `steps` training steps (forward, backward, Adam), timed between device synchronisations."""
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        loss = loss_fn(*batch)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    sync(device)
    return time.perf_counter() - start


def build_pair(config, device, compile_backend=None):
    """(ours, torch's) as (loss module, optimiser) pairs, from the same seed; compiled if a backend is named."""
    out = []
    for make in (Transformer, TorchSide):
        torch.manual_seed(0)
        model = make(config).to(device).train()
        loss = LossOf(model, device.type)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
        if compile_backend:
            loss = torch.compile(loss, backend=compile_backend, dynamic=False)
        out.append((loss, opt))
    return out


def attention_kernels(pair, batch):
    """The scaled-dot-product-attention kernel each side's training step dispatches to (aten op names, profiled)."""
    from torch.profiler import ProfilerActivity, profile
    names = []
    for loss_fn, _ in pair:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            loss_fn(*batch).backward()
        found = sorted({e.key.replace("aten::", "") for e in prof.key_averages()
                        if e.key.startswith(("aten::_scaled_dot_product", "aten::_flash", "aten::_efficient",
                                             "aten::_cudnn_attention"))
                        and "backward" not in e.key})
        names.append(", ".join(found) or "none found")
        loss_fn.zero_grad(set_to_none=True)
    return names


def interleaved(pair, batch, steps, rounds, device, deadline, on_round=None):
    """Seconds per round for each side, alternating ours / torch, until `rounds` or the deadline (>= 1 round)."""
    times = {"ours": [], "torch": []}
    for r in range(rounds):
        for name, (loss_fn, opt) in zip(times, pair):
            times[name].append(run_steps(loss_fn, opt, batch, steps, device))
        if on_round:
            on_round(times["ours"][-1], times["torch"][-1])
        if time.monotonic() > deadline and r + 1 < rounds:
            break
    return times


def batch_numbers(config, batch, steps):
    """What a comparison's report needs of its batch: target tokens, FLOPs per step, shape, steps per round."""
    return {"tokens": int((batch[2] != config.pad_id).sum()), "flops": batch_flops(config, batch),
            "shape": list(batch[0].shape), "steps": steps}


def summarise(label, numbers, times, peak, rounds_asked, say):
    """Print one comparison; return (ours tok/s, torch tok/s, ratio, ours MFU, torch MFU)."""
    steps, tokens, flops, (B, L) = numbers["steps"], numbers["tokens"], numbers["flops"], numbers["shape"]
    med = {k: statistics.median(v) for k, v in times.items()}
    tps = {k: tokens * steps / s for k, s in med.items()}
    mfu = {k: flops * steps / s / (peak * 1e12) for k, s in med.items()}
    done = len(times["ours"])
    cut = "" if done >= rounds_asked else f"; stopped after {done} of {rounds_asked} rounds: budget"
    say(f"{label:<20} ours {tps['ours']:9.0f} tok/s MFU {mfu['ours']:6.1%} | torch.nn.Transformer {tps['torch']:9.0f} "
        f"tok/s MFU {mfu['torch']:6.1%} | ratio {tps['ours'] / tps['torch']:5.2f}   (batch {B}x{L}, "
        f"{tokens:,} target tokens, {flops / 1e12:.3g} TFLOP/step; median of {done} rounds x {steps} steps{cut})")
    return tps["ours"], tps["torch"], tps["ours"] / tps["torch"], mfu["ours"], mfu["torch"]


def eager_phase(name, sizes, device, peak, rounds, deadline, say):
    make_config, tokens, length, steps = sizes[name]
    config = make_config()
    batch = device_batch(config, tokens, length, device)
    pair = build_pair(config, device)
    params = [sum(p.numel() for p in loss_fn.parameters()) for loss_fn, _ in pair]
    say(f"{name}: N={config.N} d_model={config.d_model} d_ff={config.d_ff} h={config.h} P_drop={config.P_drop} "
        f"vocab={config.tgt_vocab} (shared); parameters: ours {params[0] / 1e6:.1f} M, torch.nn.Transformer "
        f"{params[1] / 1e6:.1f} M (its encoder and decoder end in a LayerNorm each)")
    kernels = attention_kernels(pair, batch)
    say(f"  attention kernel ({name}): ours {kernels[0]} | torch.nn.Transformer {kernels[1]}")
    for loss_fn, opt in pair:  # warm-up (allocator, cuBLAS heuristics), not timed
        run_steps(loss_fn, opt, batch, 2, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = interleaved(pair, batch, steps, rounds, device, deadline)
    result = summarise(f"{name} eager bf16", batch_numbers(config, batch, steps), times, peak, rounds, say)
    if device.type == "cuda":
        gib = torch.cuda.max_memory_allocated(device) / 2**30
        say(f"  peak GPU memory, both models and their Adam states: {gib:.1f} GiB")
    del pair, batch
    free_memory(device)
    return result


# ------------------------------------------------------------------------------- 2b. compiled, in a child process
def compiled_child(args):
    """--phase compiled: compile both sides, then interleaved rounds; one JSON line per event into --result."""
    device = torch.device(args.device)
    sizes = QUICK_SIZES if args.quick else SIZES
    make_config, tokens, length, steps = sizes[args.size]
    config = make_config()
    deadline = time.monotonic() + args.budget_s

    def emit(**record):
        with open(args.result, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    batch = device_batch(config, tokens, length, device)
    pair = build_pair(config, device, args.compile_backend)
    for side, (loss_fn, opt) in zip(("ours", "torch"), pair):
        start = time.perf_counter()
        run_steps(loss_fn, opt, batch, 2, device)  # compiles forward and backward, then one more step
        emit(event="compiled", side=side, seconds=time.perf_counter() - start, graphs=dynamo_graphs())
    emit(event="batch", **batch_numbers(config, batch, steps))
    interleaved(pair, batch, steps, args.rounds, device, deadline,
                on_round=lambda a, b: emit(event="round", ours=a, torch=b))
    emit(event="done")


def dynamo_graphs():
    """Graphs dynamo has made so far, and its graph breaks (internal counters; {} where this torch lacks them)."""
    try:
        from torch._dynamo.utils import counters
        return {"unique_graphs": int(counters["stats"]["unique_graphs"]),
                "graph_breaks": int(sum(counters["graph_break"].values()))}
    except Exception:  # noqa: BLE001  (an internal API: its absence only loses a detail of the report)
        return {}


def compiled_phase(name, args, device, peak, budget_s, say):
    """Run compiled_child for `name` with a hard time limit and report the rounds it finished: summarise()'s
    numbers, or None when not one round was timed."""
    with tempfile.TemporaryDirectory() as tmp:
        result, log = Path(tmp) / "result.jsonl", Path(tmp) / "child.log"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", "compiled", "--size", name, "--device",
               str(device), "--budget-s", f"{max(1.0, budget_s - 30):.0f}", "--rounds", str(args.rounds),
               "--result", str(result), "--compile-backend", args.compile_backend] + (["--quick"] if args.quick else [])
        start = time.monotonic()
        with open(log, "w", encoding="utf-8") as out:
            child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = child.wait(timeout=budget_s)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # the child and its compile workers
                child.wait()
                code = "timeout"
        events = [json.loads(l) for l in result.read_text(encoding="utf-8").splitlines()] if result.exists() else []
        label = f"{name} compiled bf16"
        for e in (e for e in events if e["event"] == "compiled"):
            side = "ours" if e["side"] == "ours" else "torch.nn.Transformer"
            g = e.get("graphs")
            graphs = f"; dynamo so far: {g['unique_graphs']} graphs, {g['graph_breaks']} graph breaks" if g else ""
            say(f"  torch.compile ({args.compile_backend}) of {side}: compile + 2 steps took {e['seconds']:.1f} s"
                + graphs)
        rounds = [e for e in events if e["event"] == "round"]
        batch = next((e for e in events if e["event"] == "batch"), None)
        if code != 0 or not rounds:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] if log.exists() else []
            done = {e["side"] for e in events if e["event"] == "compiled"}
            stage = ("while compiling ours" if "ours" not in done else "while compiling torch.nn.Transformer"
                     if "torch" not in done else "while timing")
            why = f"cut at its {budget_s:.0f} s budget" if code == "timeout" else f"failed (exit {code})"
            why += " " + stage
            say(f"{label:<20} {why} after {time.monotonic() - start:.0f} s, {len(rounds)} timed rounds"
                + (f"; last line: {tail[0][:200]}" if tail and code != "timeout" else ""))
        if not rounds:
            return None
        times = {"ours": [r["ours"] for r in rounds], "torch": [r["torch"] for r in rounds]}
        return summarise(label, batch, times, peak, args.rounds, say)


# -------------------------------------------------------------------------------------------------------- 4. decoding
@contextlib.contextmanager
def without_cache():
    """beam_search with RecomputingDecoder in place of IncrementalDecoder: every step runs the whole prefix again.
    (beam_search has no use_cache switch; it looks the decoder class up in its module at each call.)"""
    import transformer_book.decoding as decoding
    saved = decoding.IncrementalDecoder
    decoding.IncrementalDecoder = decoding.RecomputingDecoder
    try:
        yield
    finally:
        decoding.IncrementalDecoder = saved


def random_test_set(n, low, high, vocab, seed=0):
    """n source sentences of low..high token ids (EOS included) drawn with a fixed seed: a test set's shape."""
    from transformer_book.decoding import EOS
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high + 1, (n,), generator=g).tolist()
    return [torch.randint(4, vocab, (k - 1,), generator=g).tolist() + [EOS] for k in lengths]


def decode_all(model, sentences, beam, alpha, length, per_batch, device):
    """Beam search over `sentences` (lists of ids), sorted by length, `per_batch` at a time; exactly `length` steps."""
    from transformer_book.decoding import beam_search
    from transformer_book.train import length_batches
    out = [None] * len(sentences)
    for chunk, src in length_batches(sentences, per_batch):
        hyps = beam_search(model, src.to(device), beam, alpha, max_len=length, min_len=length)
        for i, ids in zip(chunk, hyps):
            out[i] = ids
    sync(device)
    return out


def decoding_phase(args, device, deadline, say):
    """Sentences/s of beam-4 decoding with and without the key/value cache; returns the speed-up."""
    beam, alpha, per_batch = 4, 0.6, 100
    if args.checkpoint:
        from transformer_book.corpus import read_lines
        from transformer_book.train import load_checkpoint, translate_lines
        model, tok, ckpt = load_checkpoint(args.checkpoint, device)
        cfg = ckpt["train_config"]
        lines = read_lines("test_2016_flickr", cfg["src"], cfg.get("data_dir") or None)[:args.sentences]
        what = (f"trained checkpoint {args.checkpoint} ({cfg['src']}->{cfg['tgt']}), test_2016_flickr, "
                f"{len(lines)} sentences, max_len source + 50, min_len 1")
        run = lambda: translate_lines(model, tok, lines, beam, alpha, per_batch, device)  # noqa: E731
    else:
        config = Config.tiny() if args.quick else Config.base(src_vocab=8000, tgt_vocab=8000)
        torch.manual_seed(0)
        model = Transformer(config).to(device).eval()
        sentences = random_test_set(args.sentences, *args.src_len, config.src_vocab)
        mean = sum(map(len, sentences)) / len(sentences)
        what = (f"random-weight model N={config.N} d_model={config.d_model} vocab={config.tgt_vocab}, {len(sentences)} "
                f"sources of {args.src_len[0]}-{args.src_len[1]} tokens (mean {mean:.1f}), exactly {args.decode_len} "
                f"output tokens each (min_len = max_len)")
        run = lambda: decode_all(model, sentences, beam, alpha, args.decode_len, per_batch, device)  # noqa: E731
    n = args.sentences if not args.checkpoint else len(lines)
    say(f"decoding: beam {beam}, alpha {alpha}, fp32, {per_batch} sentences per batch; {what}")
    run()  # warm-up, not timed
    with without_cache():
        run()
    times, outputs = {"cache": [], "recompute": []}, {}
    for r in range(args.decode_rounds):
        for mode in times:
            with (without_cache() if mode == "recompute" else contextlib.nullcontext()):
                start = time.perf_counter()
                outputs[mode] = run()
                times[mode].append(time.perf_counter() - start)
        if time.monotonic() > deadline and r + 1 < args.decode_rounds:
            break
    same = sum(a == b for a, b in zip(outputs["cache"], outputs["recompute"]))
    med = {k: statistics.median(v) for k, v in times.items()}
    for mode, label in (("cache", "with key/value cache"), ("recompute", "recomputing the prefix")):
        say(f"  {label:<24} {n / med[mode]:8.1f} sentences/s  ({med[mode]:.2f} s for {n} sentences; median of "
            f"{len(times[mode])} rounds, range {min(times[mode]):.2f}-{max(times[mode]):.2f} s)")
    speedup = med["recompute"] / med["cache"]
    say(f"  key/value cache speed-up (beam {beam}): {speedup:.2f}x; identical output for {same} of {n} sentences")
    del model
    free_memory(device)
    return speedup


# ------------------------------------------------------------------------------------------------------------- main
def guarded(label, say, device, failed, phase, *args):
    """phase(*args), or, if it raises, one line saying so and `failed`: one broken phase does not lose the others."""
    try:
        return phase(*args)
    except Exception as e:  # noqa: BLE001  (reported in the output, and the run goes on)
        say(f"{label}: failed: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
    free_memory(device)  # after the except block, which holds the failed phase's tensors through the traceback
    return failed


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="write every line here too (the first is '# machine: ...')")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="default: cuda if present")
    p.add_argument("--quick", action="store_true", help="tiny models and batches: the same code paths in seconds")
    p.add_argument("--minutes", type=float, default=7.5, help="the whole run's plan (default 7.5); phases fit inside")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per comparison, median reported "
                   "(default 5; --quick 2)")
    p.add_argument("--compile-backend", default=None,
                   help="torch.compile backend (default inductor; aot_eager with --quick: no code generation)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile comparisons")
    p.add_argument("--checkpoint", help="decode the real test_2016_flickr with this trained checkpoint instead")
    p.add_argument("--sentences", type=int, default=None, help="test sentences decoded (default 1000; --quick 20)")
    p.add_argument("--decode-len", type=int, default=None, help="output tokens per sentence (default 18; --quick 4)")
    p.add_argument("--decode-rounds", type=int, default=None, help="interleaved decoding rounds, median reported "
                   "(default 3; --quick 2)")
    # the child process of the compiled phase
    p.add_argument("--phase", choices=["compiled"], help=argparse.SUPPRESS)
    p.add_argument("--size", choices=list(SIZES), help=argparse.SUPPRESS)
    p.add_argument("--budget-s", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.compile_backend = args.compile_backend or ("aot_eager" if args.quick else "inductor")
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.decode_rounds = args.decode_rounds or (2 if args.quick else 3)
    args.sentences = args.sentences or (20 if args.quick else 1000)
    args.decode_len = args.decode_len or (4 if args.quick else 18)
    args.src_len = (3, 8) if args.quick else (8, 24)
    if args.checkpoint and not Path(args.checkpoint).is_file():
        p.error(f"no checkpoint at {args.checkpoint}; pass a run's checkpoints/average.pt or step_*.pt")
    for name in ("minutes", "rounds", "sentences", "decode_len", "decode_rounds"):
        if not getattr(args, name) > 0:
            p.error(f"--{name.replace('_', '-')} must be > 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.phase == "compiled":
        compiled_child(args)
        return 0
    started = time.monotonic()
    end = started + 60 * args.minutes
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but CUDA is not available here; use --device cpu (with --quick)")
    sizes = QUICK_SIZES if args.quick else SIZES
    say = Report(args.out)
    # Each phase's share of the plan (fractions of --minutes); a phase also stops when the plan's end is near.
    share = {"base": 0.08, "big": 0.12, "decode": 0.15, "compiled base": 0.35}
    left = lambda: end - time.monotonic()  # noqa: E731
    try:
        say(machine_line(device))
        say("# command: " + shlex.join(["python", "bench/gpu.py", *(sys.argv[1:] if argv is None else argv)]))
        say(f"# plan: {args.minutes:g} min; bf16 autocast for training, fp32 decoding"
            + (" (--quick: tiny models, the same code paths)" if args.quick else ""))
        n, reps, warmup = (512, 3, 2) if args.quick else (8192, 20, 10)
        peak = measure_peak(device, n, reps, warmup)
        from transformer_book.train import bf16_peak_tflops
        sheet = bf16_peak_tflops(device)
        say(f"bf16 dense peak, measured: {peak:.4g} TFLOP/s ({n}x{n}x{n} bf16 matrix product, mean of {reps} after "
            f"{warmup} warm-ups)" + (f"; data sheet {sheet} TFLOP/s" if sheet else ""))
        say("MFU = (3 x forward matrix-multiply FLOPs per step, attention's QK^T and AV over the padded T x T and "
            "T x S included, 2 FLOPs per multiply-add) x steps/s / the measured peak")
        say("tok/s: target tokens (not padding) per second of training steps (forward, backward, Adam)")
        nan = (math.nan,) * 5
        results = {}
        for name in ("base", "big"):
            budget = min(share[name] * 60 * args.minutes, left())
            results[name] = guarded(f"{name} eager bf16", say, device, nan, eager_phase, name, sizes, device, peak,
                                    args.rounds, time.monotonic() + budget, say)
        speedup = None
        budget = min(share["decode"] * 60 * args.minutes, left() - 30)
        if budget > 0:
            speedup = guarded("decoding", say, device, None, decoding_phase, args, device, time.monotonic() + budget,
                              say)
        else:
            say("decoding: skipped (no time left in the plan)")
        compiled = {}
        if args.no_compile:
            say("torch.compile: skipped (--no-compile)")
        else:
            for name in ("base", "big"):
                if args.quick and name == "big":
                    say("big compiled bf16:   skipped (--quick: the code path of base compiled)")
                    continue
                budget = (min(share["compiled base"] * 60 * args.minutes, left() - 15) if name == "base"
                          else left() - 15)
                if budget < (20 if args.quick else 90):
                    say(f"{name} compiled bf16:  skipped ({max(0, left()):.0f} s left in the plan)")
                    continue
                compiled[name] = guarded(f"{name} compiled bf16", say, device, None, compiled_phase, name, args, device,
                                         peak, budget, say)
        if any(compiled.values()):
            say("# compiled: " + "; ".join(f"{k} ratio {v[2]:.2f}, MFU ours {v[3]:.1%}, torch {v[4]:.1%}"
                                           for k, v in compiled.items() if v))
        say(f"# whole run {(time.monotonic() - started) / 60:.1f} min"
            + (f"; decoding speed-up with the cache {speedup:.2f}x" if speedup else ""))
        say(f"gpu ratio vs torch.nn.Transformer: base {results['base'][2]:.2f}, big {results['big'][2]:.2f}; "
            f"MFU base {100 * results['base'][3]:.1f} %")
    finally:
        say.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# The paper's base model trained on one GPU: EN->DE on Multi30k, then EN->FR if the plan has time left; each run
# recorded the way bench/record_runs.py records the book's runs (book/runs/<name>: config.json with the exact command,
# metrics.jsonl, scores.json with hardware and versions, the test translations of the three decodings, variants.json,
# the trained model's attention for §6's sentences in attention.npz; bench/results/<name>.txt: the run's own log).
#
#   bash bench/gpu_base_run.sh --prepare          # here, once: copy the Multi30k files into .gpu_data/multi30k
#   bash bench/gpu_base_run.sh OUT_DIR            # on the GPU machine, from a copy of the repository (plan: 9 min)
#   TINY=1 bash bench/gpu_base_run.sh OUT_DIR     # the whole script on a CPU, tiny model and budgets (1-2 min)
#
# Each run is `python -m transformer_book.train --preset base-multi30k --amp bf16 --max-minutes M ...` (the time
# budget counts from the start of the run, BPE included; then the last 5 checkpoints are averaged and the test set
# is decoded with beam 4, alpha 0.6), then transformer_book.results.record (its decodings on the GPU, the attention
# maps on the CPU). OUT_DIR receives one archive per run, <name>.tar.gz, holding book/runs/<name>/ and
# bench/results/<name>.txt (unpack it at the repository's root), and this script's whole log, gpu_base_run.log.
# Checkpoints stay behind in WORK. The log shows tokens/s and achieved TFLOP/s per log window (transformer_book.train
# counts 3 x the forward matrix-multiply FLOPs at the padded batch shapes), and at the end of each run the median
# against the bf16 dense peak measured at the start of this script and against the data sheet.
#
# Settings (environment):
#   DE_MINUTES=4.5 FR_MINUTES=2.5   each run's training budget (--max-minutes); EN->FR is shortened to fit the plan
#   TOTAL_MINUTES=9                 the plan for the whole script; EN->FR is skipped below MIN_MINUTES=1 of training
#   DEVICE=cuda AMP=bf16            passed to transformer_book.train (TINY: DEVICE=cpu)
#   EXTRA="--max-tokens 12000 ..."  more flags for both runs (any flag of python -m transformer_book.train)
#   PYTHON=python3                  the interpreter (default: python3, else python, from PATH)
#   WORK=DIR                        scratch: run folders with checkpoints, BPE cache (default: a new temporary folder)
#   NAME_PREFIX=base-gpu            run names <prefix>-en-de, <prefix>-en-fr (TINY: tiny-gpu)
# The data: .gpu_data/multi30k in the repository (git-ignored; it travels with the copy), else $TRANSFORMER_BOOK_DATA.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES="train val test_2016_flickr"

if [[ "${1:-}" == "--prepare" ]]; then
    from="${TRANSFORMER_BOOK_DATA:-$ROOT/../shared/data}/multi30k"
    mkdir -p "$ROOT/.gpu_data/multi30k"
    for split in $FILES; do for lang in en de fr; do
        cp "$from/$split.$lang.gz" "$ROOT/.gpu_data/multi30k/" && chmod u+w "$ROOT/.gpu_data/multi30k/$split.$lang.gz"
    done; done
    echo "copied $(ls "$ROOT/.gpu_data/multi30k" | wc -l) files from $from into $ROOT/.gpu_data/multi30k"
    exit 0
fi
if [[ $# -ne 1 || "$1" == -* ]]; then
    echo "usage: bash bench/gpu_base_run.sh OUT_DIR   |   bash bench/gpu_base_run.sh --prepare" >&2
    exit 2
fi

OUT=$(mkdir -p "$1" && cd "$1" && pwd)
TINY=${TINY:-0}
PYTHON=${PYTHON:-$(command -v python3 || command -v python)}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_base_run.XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$ROOT"
if [[ "$TINY" == 1 ]]; then
    DE_MINUTES=${DE_MINUTES:-0.3} FR_MINUTES=${FR_MINUTES:-0.2} TOTAL_MINUTES=${TOTAL_MINUTES:-4}
    MIN_MINUTES=${MIN_MINUTES:-0.1} DEVICE=${DEVICE:-cpu} NAME_PREFIX=${NAME_PREFIX:-tiny-gpu}
    # the base-multi30k preset shrunk to seconds: a one-layer model, small vocabulary, few test sentences
    SIZE="--N 1 --d-model 32 --d-ff 64 --h 2 --vocab-size 1000 --max-tokens 1500 --warmup-steps 50 --log-every 5
          --eval-every 20 --checkpoint-every 5 --bleu-sentences 10 --test-sentences 20"
else
    DE_MINUTES=${DE_MINUTES:-4.5} FR_MINUTES=${FR_MINUTES:-2.5} TOTAL_MINUTES=${TOTAL_MINUTES:-9}
    MIN_MINUTES=${MIN_MINUTES:-1} DEVICE=${DEVICE:-cuda} NAME_PREFIX=${NAME_PREFIX:-base-gpu}
    SIZE=""
fi
AMP=${AMP:-bf16}
EXTRA=${EXTRA:-}

if [[ -d "$ROOT/.gpu_data/multi30k" ]]; then
    export TRANSFORMER_BOOK_DATA="$ROOT/.gpu_data"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export XDG_CACHE_HOME="$WORK/cache"  # empty: the BPE is trained inside each run's time, as in bench/record_runs.py
STAGE="$WORK/stage"  # what comes back: stage/book/runs/<name>/, stage/bench/results/<name>.txt
mkdir -p "$STAGE/runs" "$STAGE/bench/results" "$STAGE/book/runs" "$WORK/runs"

exec > >(tee -a "$OUT/gpu_base_run.log") 2>&1
TEE=$!
trap 'exec >&- 2>&-; wait $TEE 2>/dev/null || true' EXIT  # the log is complete before the script returns
SECONDS=0
say() { printf '[%5.1f min] %s\n' "$(awk "BEGIN{print $SECONDS/60}")" "$*"; }
left_s() { awk "BEGIN{print $TOTAL_MINUTES*60 - $SECONDS}"; }

say "bench/gpu_base_run.sh: TINY=$TINY DE_MINUTES=$DE_MINUTES FR_MINUTES=$FR_MINUTES TOTAL_MINUTES=$TOTAL_MINUTES" \
    "DEVICE=$DEVICE AMP=$AMP EXTRA='$EXTRA' WORK=$WORK OUT=$OUT"
"$PYTHON" - <<'EOF'
import importlib, os, sys
import torch, transformer_book
versions = {name: getattr(importlib.import_module(name), "__version__", "?")
            for name in ("torch", "numpy", "sentencepiece", "sacrebleu", "tqdm")}
try:
    import spacy  # noqa: F401
    spacy_here = "yes (not used)"
except ImportError:
    spacy_here = "no"
print("python", sys.version.split()[0], sys.executable, "|", " ".join(f"{k} {v}" for k, v in versions.items()),
      "| spaCy:", spacy_here)
print("transformer_book from", os.path.dirname(transformer_book.__file__),
      "| data", os.environ.get("TRANSFORMER_BOOK_DATA"))
print("cuda:", torch.cuda.is_available() and torch.cuda.get_device_name(0))
EOF
command -v nvidia-smi >/dev/null && nvidia-smi -L || true

# The bf16 dense peak of this device, measured the way bench/gpu.py measures it (large bf16 matrix products).
"$PYTHON" - "$DEVICE" "$TINY" "$WORK/peak.json" <<'EOF'
import json, sys
sys.path.insert(0, "bench")
import torch
from gpu import measure_peak
from transformer_book.train import bf16_peak_tflops
device, tiny, path = torch.device(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
n, reps, warmup = (512, 3, 2) if tiny else (8192, 20, 10)
peak = {"measured_tflops": measure_peak(device, n, reps, warmup), "n": n, "reps": reps,
        "data_sheet_tflops": bf16_peak_tflops(device)}
json.dump(peak, open(path, "w"))
print(f"bf16 dense peak, measured: {peak['measured_tflops']:.4g} TFLOP/s ({n}x{n}x{n} bf16 matrix product, mean of "
      f"{reps}); data sheet: {peak['data_sheet_tflops'] or 'unknown'}")
EOF

# record NAME: book/runs/NAME and bench/results/NAME.txt into $STAGE, then $OUT/NAME.tar.gz
record() {
    local name=$1
    "$PYTHON" - "$name" "$WORK" "$STAGE" "$DEVICE" <<'EOF'
import json, statistics, sys
from pathlib import Path
sys.path.insert(0, "bench")
import torch
import record_runs
import transformer_book.train as train
from transformer_book.results import record

name, work, stage, device = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), torch.device(sys.argv[4])
plain = train.translate_lines


def on_device(model, tokenizer, lines, *args, **kwargs):
    """record() decodes on the CPU; here its two test-set decodings run on the device, then the model goes back."""
    kwargs.pop("device", None)
    model.to(device)
    try:
        return plain(model, tokenizer, lines, *args, **{**kwargs, "device": device})
    finally:
        model.to("cpu")


train.translate_lines = on_device  # record() and decode_variants() import it from transformer_book.train when called
config = json.loads((work / "runs" / name / "config.json").read_text(encoding="utf-8"))
run = record(work / "runs" / name, stage / "book" / "runs" / name, record_runs.attention_sources(config))
record_runs.ROOT = stage  # write_summary reads ROOT/runs/<name>.log and writes ROOT/bench/results/<name>.txt
record_runs.write_summary(name, run)
summary = stage / "bench" / "results" / f"{name}.txt"
text = summary.read_text(encoding="utf-8").replace("filed by bench/record_runs.py", "filed by bench/gpu_base_run.sh")
peak = json.loads((work / "peak.json").read_text())
windows = [r for r in run["train"] if r.get("tflops")][1:] or run["train"]  # the first window holds the warm-up
tflops = statistics.median(r["tflops"] for r in windows)
tokens = statistics.median(r["tokens_per_s"] for r in windows)
sheet = peak["data_sheet_tflops"]
lines = [f"# bf16 dense peak measured at the start of the same call: {peak['measured_tflops']:.4g} TFLOP/s "
         f"({peak['n']}^3 bf16 matrix product, mean of {peak['reps']})" + (f"; data sheet {sheet}" if sheet else ""),
         f"# training, median of {len(windows)} log windows after the first: {tokens:,.0f} tokens/s (source + target), "
         f"{tflops:.4g} TFLOP/s = {tflops / peak['measured_tflops']:.1%} of the measured peak"
         + (f" ({tflops / sheet:.1%} of the data sheet's)" if sheet else "")
         + " (FLOPs: 3 x the forward matrix multiplies at the padded batch shapes, transformer_book.train.step_flops)"]
summary.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
s = run["scores"]
print(f"recorded {name}: BLEU {s['bleu']:.2f} ({s['bleu_signature']}), chrF {s['chrf']:.2f}; "
      + "; ".join(f"{v} BLEU {run['variants'][v]['bleu']:.2f}" for v in run["variants"]))
print("\n".join(lines))
where = s["hardware"].get("gpu", s["hardware"]["device"])
print(f"# whole run {s['run_wall_time_s'] / 60:.1f} min: training {s['train_wall_time_s'] / 60:.1f} min, {s['steps']} "
      f"steps (stopped by {s['stopped_by']}), test decoding {s['decode_wall_time_s'] / 60:.2f} min, on {where}")
EOF
    tar -czf "$OUT/$name.tar.gz" -C "$STAGE" "book/runs/$name" "bench/results/$name.txt"
    say "packed $OUT/$name.tar.gz: $(tar -tzf "$OUT/$name.tar.gz" | grep -c '[^/]$') files," \
        "$(du -h "$OUT/$name.tar.gz" | cut -f1)"
}

# train NAME TGT MINUTES LIMIT_S: one run, cut by `timeout` at LIMIT_S seconds if it has not ended by then
train() {
    local name=$1 tgt=$2 minutes=$3 limit=$4
    local cmd=(python -m transformer_book.train --preset base-multi30k --src en --tgt "$tgt" --device "$DEVICE"
               --amp "$AMP" --max-minutes "$minutes" $SIZE $EXTRA --out "runs/$name")
    say "\$ ${cmd[*]}   (in $WORK; cut at ${limit} s)"
    (cd "$WORK" && timeout --kill-after=10 "$limit" "$PYTHON" "${cmd[@]:1}") 2>&1 | tee "$STAGE/runs/$name.log"
}

# EN->DE: its budget as asked; the command is cut only if it would overrun the whole plan.
DE="$NAME_PREFIX-en-de"
start=$SECONDS
train "$DE" de "$DE_MINUTES" "$(awk "BEGIN{printf \"%d\", $(left_s) - 15}")" || {
    say "EN->DE failed or was cut at the end of the plan (exit $?): nothing recorded"; exit 1; }
trained=$SECONDS
record "$DE"
finish=$(( trained - start - $(awk "BEGIN{printf \"%d\", $DE_MINUTES*60}") ))  # start-up, averaging, test decoding
recording=$(( SECONDS - trained ))                                             # record + pack
say "EN->DE done: after its training budget, ${finish} s of averaging and test decoding," \
    "then ${recording} s of recording"

# EN->FR: what is left of the plan, minus what EN->DE needed besides training (with a margin).
FR="$NAME_PREFIX-en-fr"
fr_minutes=$(awk "BEGIN{m = ($(left_s) - 1.3 * ($finish + $recording) - 15) / 60; if (m > $FR_MINUTES) m = $FR_MINUTES
                   printf \"%.2f\", m}")
if awk "BEGIN{exit !($FR_MINUTES > 0)}" && awk "BEGIN{exit !($fr_minutes >= $MIN_MINUTES)}"; then
    # cut early enough that recording it still fits in the plan
    if train "$FR" fr "$fr_minutes" "$(awk "BEGIN{printf \"%d\", $(left_s) - 1.2 * $recording - 10}")"; then
        record "$FR"
    else
        say "EN->FR did not finish inside the plan: not recorded"
    fi
elif awk "BEGIN{exit !($FR_MINUTES > 0)}"; then
    say "EN->FR skipped: ${fr_minutes} min of training would be left" \
        "in the ${TOTAL_MINUTES}-minute plan (< $MIN_MINUTES)"
else
    say "EN->FR not asked for (FR_MINUTES=$FR_MINUTES)"
fi
say "done: $(ls "$OUT" | tr '\n' ' ')"

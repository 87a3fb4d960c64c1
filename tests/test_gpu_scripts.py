"""The two GPU scripts run end to end on a CPU at tiny sizes, the way the GPU machine runs them: bench/gpu.py
--quick (issue: performance on one GPU) and bench/gpu_base_run.sh with TINY=1 (issue: the base model trained on one
GPU), each in a fresh process where `import spacy` fails; the run script from a copy of what travels to that machine
(the files git tracks or does not ignore, plus the git-ignored .gpu_data/), with no TRANSFORMER_BOOK_DATA set."""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import sacrebleu
import torch

from transformer_book import decoding
from transformer_book.corpus import MULTI30K_SHA256, locate_corpus
from transformer_book.model import Config, Transformer
from transformer_book.results import load_attention, read_run, split_texts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import gpu  # noqa: E402
LAST_LINE = re.compile(r"gpu ratio vs torch\.nn\.Transformer: base \d+\.\d\d, big \d+\.\d\d; MFU base \d+\.\d %")


@pytest.fixture
def no_spacy(tmp_path):
    """A PYTHONPATH folder whose spacy.py raises ImportError: no process started with it can import spaCy."""
    folder = tmp_path / "no_spacy"
    folder.mkdir()
    (folder / "spacy.py").write_text('raise ImportError("spaCy is not installed on the GPU machine")\n')
    return folder


def test_gpu_benchmark_quick_mode_runs_every_phase_and_ends_with_the_summary_line(tmp_path, no_spacy):
    out = tmp_path / "results" / "gpu.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(no_spacy), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--quick", "--device", "cpu", "--out",
                           str(out)], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == done.stdout.splitlines(), "the file holds exactly what was printed"
    assert lines[0].startswith("# machine: ") and "torch " in lines[0]
    assert LAST_LINE.fullmatch(lines[-1]), lines[-1]
    text = "\n".join(lines)
    assert re.search(r"^bf16 dense peak, measured: [\d.e+-]+ TFLOP/s", text, re.M)
    for phase in ("base eager bf16", "big eager bf16", "base compiled bf16"):
        assert re.search(rf"^{phase} +ours +\d+ tok/s MFU .* ratio +\d+\.\d\d", text, re.M), phase
    assert "attention kernel (base): ours " in text and "torch.compile (aot_eager) of ours" in text
    assert re.search(r"with key/value cache +[\d.]+ sentences/s", text)
    assert re.search(r"recomputing the prefix +[\d.]+ sentences/s", text)
    assert re.search(r"identical output for \d+ of 20 sentences", text)


def test_without_cache_beam_search_recomputes_the_prefix_and_finds_the_same_hypotheses():
    torch.manual_seed(0)
    model = Transformer(Config.tiny(src_vocab=50, tgt_vocab=50, P_drop=0.0)).double().eval()
    sentences = gpu.random_test_set(7, 3, 9, vocab=50)
    assert [s[-1] for s in sentences] == [decoding.EOS] * 7 and {len(s) for s in sentences} <= set(range(3, 10))
    steps = []
    step = decoding.RecomputingDecoder.step
    decoding.RecomputingDecoder.step = lambda self, y: steps.append(self.t) or step(self, y)
    try:
        cached = gpu.decode_all(model, sentences, 4, 0.6, 6, 3, torch.device("cpu"))
        assert not steps, "with the cache, beam search never runs the recomputing decoder"
        with gpu.without_cache():
            assert decoding.IncrementalDecoder is decoding.RecomputingDecoder
            recomputed = gpu.decode_all(model, sentences, 4, 0.6, 6, 3, torch.device("cpu"))
    finally:
        decoding.RecomputingDecoder.step = step
    assert decoding.IncrementalDecoder is not decoding.RecomputingDecoder, "the switch is undone on leaving"
    assert steps.count(5) == 3, "each of the 3 batches ran 6 steps (min_len = max_len), the last over 6 positions"
    assert recomputed == cached and all(len(h) == 6 for h in cached)


def test_mfu_is_three_times_the_forward_matmul_flops_per_second_over_the_measured_peak():
    config = Config.tiny()
    batch = gpu.device_batch(config, 40, 5, torch.device("cpu"))
    numbers = gpu.batch_numbers(config, batch, steps=2)
    assert numbers["shape"] == [8, 5] and numbers["tokens"] == int((batch[2] != 0).sum())
    d, ff, N, V, B, S, T = 64, 256, 2, 1000, 8, 5, 5
    encoder = B * S * (4 * d * d + 2 * d * ff) + 2 * B * S * S * d
    decoder = B * T * (6 * d * d + 2 * d * ff) + B * S * 2 * d * d + 2 * B * T * (T + S) * d
    forward_macs = N * (encoder + decoder) + B * T * d * V
    assert numbers["flops"] == 3 * 2 * forward_macs
    lines = []
    times = {"ours": [1.0, 2.0, 3.0], "torch": [4.0, 4.0, 4.0]}
    ours_tps, torch_tps, ratio, ours_mfu, torch_mfu = gpu.summarise("tiny", numbers, times, peak=1e-6, rounds_asked=5,
                                                                    say=lines.append)
    assert ours_tps == numbers["tokens"] * 2 / 2.0 and ratio == pytest.approx(2.0)
    assert ours_mfu == pytest.approx(numbers["flops"] * 2 / 2.0 / 1e6) and torch_mfu == pytest.approx(ours_mfu / 2)
    assert "stopped after 3 of 5 rounds: budget" in lines[0]


def test_a_missing_checkpoint_is_one_clear_line_before_any_measurement(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--quick", "--device", "cpu",
                           "--no-compile", "--checkpoint", str(tmp_path / "none.pt")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 2 and "no checkpoint at" in done.stderr and not done.stdout


def travelling_copy(dest):
    """What the GPU tool sends: files git tracks or does not ignore (else the tree without build and run folders)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True)
    if listed.returncode == 0 and listed.stdout:
        for name in filter(None, listed.stdout.decode().split("\0")):
            if (ROOT / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, dest / name)
    else:
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "venv", "_build", "runs", ".gpu_data", "__pycache__", "*.egg-info", ".pytest_cache"))
    assert not (dest / ".gpu_data").exists() and not (dest / ".venv").exists()


def test_base_run_script_in_tiny_mode_records_runs_that_the_book_reads(tmp_path, no_spacy):
    copy, out = tmp_path / "repo", tmp_path / "out"
    copy.mkdir()
    travelling_copy(copy)
    data = locate_corpus("multi30k", files=[f for f in MULTI30K_SHA256 if not f.startswith("test_2017")]).parent
    prepared = subprocess.run(["bash", "bench/gpu_base_run.sh", "--prepare"], cwd=copy, capture_output=True, text=True,
                              env={**os.environ, "TRANSFORMER_BOOK_DATA": str(data)})
    assert prepared.returncode == 0, prepared.stderr
    assert sorted(p.name for p in (copy / ".gpu_data" / "multi30k").iterdir()) == sorted(
        f for f in MULTI30K_SHA256 if not f.startswith("test_2017"))
    env = {k: v for k, v in os.environ.items() if k != "TRANSFORMER_BOOK_DATA"}  # the data must travel with the copy
    env.update(TINY="1", PYTHON=sys.executable, PYTHONPATH=str(no_spacy), OMP_NUM_THREADS="1", HOME=str(tmp_path),
               WORK=str(tmp_path / "work"))
    done = subprocess.run(["bash", "bench/gpu_base_run.sh", str(out)], cwd=copy, capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (out / "gpu_base_run.log").read_text(encoding="utf-8")
    assert f"transformer_book from {copy / 'transformer_book'}" in log and "spaCy: no" in log
    assert f"data {copy / '.gpu_data'}" in log and "bf16 dense peak, measured:" in log
    back = sorted(p.name for p in out.iterdir())
    assert back == ["gpu_base_run.log", "tiny-gpu-en-de.tar.gz", "tiny-gpu-en-fr.tar.gz"]  # <= 8 files come back
    assert all(p.stat().st_size <= 16 * 2**20 for p in out.iterdir())
    unpacked = tmp_path / "unpacked"
    for name in ("tiny-gpu-en-de", "tiny-gpu-en-fr"):
        with tarfile.open(out / f"{name}.tar.gz") as tar:
            tar.extractall(unpacked, filter="data")
        folder = unpacked / "book" / "runs" / name
        run = read_run(folder)
        tgt = name[-2:]
        assert run["config"]["command"].startswith(
            f"python -m transformer_book.train --preset base-multi30k --src en --tgt {tgt} --device cpu --amp bf16 "
            "--max-minutes ")
        assert run["config"]["command"].endswith(f"--out runs/{name}")
        assert run["scores"]["stopped_by"] == "max_minutes" and run["scores"]["sentences"] == 20
        assert {"cpu", "threads", "torch", "sacrebleu"} <= run["scores"]["hardware"].keys()
        assert all(r["tflops"] > 0 and r["tokens_per_s"] > 0 for r in run["train"])
        assert set(run["variants"]) == {"average_beam", "average_greedy", "last_beam"}
        assert not (folder / "checkpoints").exists()
        _, references = split_texts({**run["config"], "data_dir": str(copy / ".gpu_data")})
        for variant in run["variants"].values():  # as tests/test_results.py checks the committed runs
            hyps = (folder / variant["file"]).read_text(encoding="utf-8").splitlines()
            assert sacrebleu.corpus_bleu(hyps, [references[:20]]).score == pytest.approx(variant["bleu"], abs=1e-9)
        assert set(load_attention(folder / "attention.npz")) == {"val_0", "test_0", "test_1", "test_2"}
        summary = (unpacked / "bench" / "results" / f"{name}.txt").read_text(encoding="utf-8")
        assert summary.startswith("# machine: ") and "filed by bench/gpu_base_run.sh" in summary
        assert re.search(r"TFLOP/s = [\d.]+% of the measured peak", summary)
        assert json.loads((folder / "scores.json").read_text())["bleu"] == run["variants"]["average_beam"]["bleu"]

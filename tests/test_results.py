"""Tests for transformer_book.results (§6): recorded run folders, decoding variants, the trained model's attention."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import sacrebleu

from transformer_book.results import (attention_maps, load_attention, locate_runs, read_run, record, split_texts,
                                      used_weights)
from transformer_book.train import TrainConfig, load_checkpoint, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import record_runs  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A seconds-long run of the laptop recipe, stopped by its time budget, and its recorded copy."""
    root = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig.from_preset("laptop", vocab_size=1000, N=1, d_model=32, d_ff=64, max_tokens=1000, warmup_steps=20,
                                  max_minutes=0.3, checkpoint_every=2, eval_every=10**6, bleu_sentences=5,
                                  test_sentences=12, beam_size=2)
    train(cfg, root / "run", cache_dir=root / "bpe", verbose=False)
    sources = record_runs.attention_sources(json.loads((root / "run" / "config.json").read_text()))
    return root / "run", record(root / "run", root / "book" / "run", sources)


def test_a_recorded_run_keeps_everything_but_the_checkpoints(tiny_run):
    _, kept = tiny_run
    names = {p.name for p in kept["folder"].iterdir()}
    assert names == {"config.json", "metrics.jsonl", "scores.json", "variants.json", "attention.npz",
                     "test_2016_flickr.hyp.de", "test_2016_flickr.average_greedy.hyp.de",
                     "test_2016_flickr.last_beam.hyp.de"}
    assert kept["scores"]["stopped_by"] == "max_minutes" and kept["train"] and kept["val"]
    assert sum(p.stat().st_size for p in kept["folder"].iterdir()) < 200_000


def test_every_recorded_bleu_is_recomputed_from_its_translations(tiny_run):
    _, kept = tiny_run
    _, references = split_texts(kept["config"])
    assert set(kept["variants"]) == {"average_beam", "average_greedy", "last_beam"}
    for variant in kept["variants"].values():
        hyps = (kept["folder"] / variant["file"]).read_text(encoding="utf-8").splitlines()
        assert len(hyps) == kept["scores"]["sentences"] == 12
        assert sacrebleu.corpus_bleu(hyps, [references[:12]]).score == pytest.approx(variant["bleu"], abs=1e-9)
    assert kept["variants"]["average_greedy"]["beam_size"] == 1 and kept["variants"]["last_beam"]["weights"].startswith("step_")


def test_attention_maps_have_one_row_per_query_that_sums_to_one_and_the_decoder_never_looks_ahead(tiny_run):
    run_dir, kept = tiny_run
    model, tok, _ = load_checkpoint(used_weights(run_dir))
    maps, src, tgt = attention_maps(model, tok, "A dog runs in the snow.", "Ein Hund rennt im Schnee.")
    N, h = model.config.N, model.config.h
    assert maps["encoder"].shape == (N, h, len(src), len(src)) and maps["cross"].shape == (N, h, len(tgt), len(src))
    assert maps["decoder"].shape == (N, h, len(tgt), len(tgt)) and tgt[0] == "<s>" and src[-1] == "</s>"
    for m in maps.values():
        assert m.dtype == np.float16 and np.allclose(m.astype(np.float32).sum(-1), 1, atol=2e-3)
    assert not np.triu(maps["decoder"].astype(np.float32), k=1).any(), "no weight on later target positions"
    saved = load_attention(kept["folder"] / "attention.npz")
    assert set(saved) == {"val_0", "test_0", "test_1", "test_2"}
    assert saved["val_0"]["src"][0] == "▁A" and saved["val_0"]["tgt"][0] == "<s>"


def test_reading_a_folder_without_a_finished_run_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench/record_runs.py"):
        read_run(tmp_path)


def test_locating_runs_uses_a_local_folder_and_otherwise_asks_for_the_repository(tmp_path):
    assert locate_runs(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="repository="):
        locate_runs(tmp_path / "missing")


def test_the_record_script_names_the_books_own_command_for_each_run():
    assert record_runs.command("laptop-en-de") == ["python", "-m", "transformer_book.train", "--preset", "laptop",
                                                   "--out", "runs/laptop-en-de"]
    assert "--max-minutes" in record_runs.command("laptop-en-fr") and record_runs.RUNS["laptop-de-en"][1] == 1


BOOK_RUNS = Path(__file__).resolve().parents[1] / "book" / "runs"


# book/runs/table3/ holds §6.2's Table 3 runs, a folder of run folders of another layout: tests/test_table3.py
@pytest.mark.parametrize("folder", sorted(p for p in BOOK_RUNS.glob("*") if p.is_dir() and p.name != "table3"),
                         ids=lambda p: p.name)
def test_every_committed_run_folder_is_complete_and_its_bleu_recomputes_from_its_translations(folder):
    run = read_run(folder)
    assert run["config"]["command"].startswith("python -m transformer_book.train ")
    assert {"cpu", "threads", "torch", "sacrebleu"} <= run["scores"]["hardware"].keys()
    assert not (folder / "checkpoints").exists()
    _, references = split_texts(run["config"])
    for variant in run["variants"].values():
        hyps = (folder / variant["file"]).read_text(encoding="utf-8").splitlines()
        bleu = sacrebleu.corpus_bleu(hyps, [references[:run["scores"]["sentences"]]])
        assert bleu.score == pytest.approx(variant["bleu"], abs=1e-9)
        assert variant["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert run["variants"]["average_beam"]["bleu"] == run["scores"]["bleu"]


def test_all_recorded_runs_together_stay_under_5_mb():
    assert sum(p.stat().st_size for p in BOOK_RUNS.rglob("*") if p.is_file()) <= 5_000_000

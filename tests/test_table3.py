"""Table 3 in miniature (book/06_2_model_variations.ipynb): bench/table3.py's commands, its validation decoding on a
seconds-long run, and the committed run folders it made (book/runs/table3/)."""
import json
import shlex
import sys
from pathlib import Path

import pytest
import sacrebleu

from transformer_book.results import split_texts
from transformer_book.train import TrainConfig, build_parser, train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import table3  # noqa: E402

RECORDED = ROOT / "book" / "runs" / "table3"
FOLDERS = sorted(p for p in RECORDED.iterdir() if p.is_dir()) if RECORDED.is_dir() else []


def config_of(command):
    """The TrainConfig a `python -m transformer_book.train ...` command line asks for."""
    return TrainConfig.from_args(build_parser().parse_args(shlex.split(command)[3:]))


@pytest.mark.parametrize("row", list(table3.ROWS))
def test_each_row_changes_exactly_what_it_says_and_nothing_else(row):
    base = config_of(shlex.join(table3.command("base-s0")))
    variant = config_of(shlex.join(table3.command(f"{row}-s0")))
    changed = {k for k in TrainConfig.__dataclass_fields__ if getattr(base, k) != getattr(variant, k)}
    expected = {"base": set(), "A-h1": {"h"}, "A-h2": {"h"}, "A-h8": {"h"}, "B-dk16": {"key_size"},
                "B-dk8": {"key_size"}, "C-small": {"d_model", "d_ff"}, "C-large": {"d_model", "d_ff"},
                "D-drop0": {"P_drop"}, "D-ls0": {"eps_ls"}, "E-learned": {"learned_positions"},
                "LN-pre": {"norm_first"}, "LN-deep-post": {"N"}, "LN-deep-pre": {"N", "norm_first"}}
    assert changed == expected[row]
    assert variant.max_steps == table3.STEPS and variant.max_minutes == 0, "a step budget, never a time budget"


def test_every_row_is_recorded_with_every_seed():
    assert {p.name for p in FOLDERS} == set(table3.runs(list(table3.ROWS)))


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_a_recorded_run_was_made_by_the_script_and_its_bleu_recomputes(folder):
    result = json.loads((folder / "table3.json").read_text(encoding="utf-8"))
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    scores = json.loads((folder / "scores.json").read_text(encoding="utf-8"))
    assert result["command"] == config["command"] == shlex.join(table3.command(folder.name))
    assert {k: v for k, v in config.items() if k != "command"} == json.loads(
        json.dumps(config_of(config["command"]).__dict__)), "config.json is what the command asks for"
    assert result["steps"] == scores["steps"] == table3.STEPS and scores["stopped_by"] == "max_steps"
    assert result["val_ppl_step"] == table3.STEPS and result["hardware"]["threads"] == 1
    references = split_texts(config, "val")[1]
    hyps = (folder / "val.hyp.de").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == len(references) == 1014
    assert abs(sacrebleu.corpus_bleu(hyps, [references]).score - result["bleu"]) < 1e-9
    assert {p.name for p in folder.iterdir()} == {*table3.KEPT, "val.hyp.de", "test_2016_flickr.hyp.de"}


def test_validation_decoding_and_recording_on_a_seconds_long_run(tmp_path, monkeypatch):
    cfg = TrainConfig(vocab_size=1000, N=1, d_model=32, d_ff=64, h=2, max_tokens=600, warmup_steps=5, max_steps=6,
                      eval_every=3, checkpoint_every=3, average_last=1, bleu_sentences=4, test_sentences=5, beam_size=2)
    run = tmp_path / "runs" / "A-h2-s0"
    train(cfg, run, cache_dir=tmp_path / "bpe", verbose=False)
    result = table3.validate("A-h2-s0", run, sentences=7)
    assert result["row"] == "A" and result["steps"] == 6 and result["weights"] == "step_00000006.pt"
    assert result["decoding"]["sentences"] == 7 and result["params"] > 0
    hyps = (run / "val.hyp.de").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == 7 and all(hyps), "seven translations, none empty"
    table3.record("A-h2-s0", run, tmp_path / "book" / "A-h2-s0")
    kept = {p.name for p in (tmp_path / "book" / "A-h2-s0").iterdir()}
    assert kept == {*table3.KEPT, "val.hyp.de", "test_2016_flickr.hyp.de"}, "no checkpoints"
    # A run whose last checkpoint is not its last step is refused, not scored with the wrong weights.
    (run / "checkpoints" / "step_00000006.pt").unlink()
    with pytest.raises(SystemExit, match="last checkpoint is step 3"):
        table3.validate("A-h2-s0", run, sentences=7)


def test_unknown_rows_are_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        table3.main(["A-h3"])
    assert "unknown row A-h3; choose from base, A-h1" in capsys.readouterr().err

"""Tests for transformer_book.translate (§5): the command-line translator and its per-line errors."""
import os
import subprocess
import sys

import pytest
import torch

from transformer_book.train import TrainConfig, checkpoint_paths, train

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def translate(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "transformer_book.translate", *map(str, args)], input=stdin,
                          capture_output=True, text=True, env=ENV, timeout=120)


@pytest.fixture(scope="module")
def copy_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "copy"
    train(TrainConfig.from_preset("copy", max_steps=200, copy_train=4000, eval_every=1000, test_sentences=5,
                                  beam_size=1), out, verbose=False)
    return checkpoint_paths(out)[-1]


def test_one_output_line_per_input_line(copy_checkpoint):
    done = translate("--checkpoint", copy_checkpoint, "--beam-size", "2", stdin="1 2 3 4 5\n4 5 6 7 8 9\n20 19 18 17 16\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert len(out) == 3 and all(line.split() and all(w.isdigit() for w in line.split()) for line in out)


def test_empty_and_over_long_lines_are_reported_and_the_rest_translated(copy_checkpoint):
    lines = "1 2 3\n\n" + " ".join(["5"] * 40) + "\n4 5\n"
    done = translate("--checkpoint", copy_checkpoint, "--max-input-tokens", "30", stdin=lines)
    assert done.returncode == 1
    out = done.stdout.split("\n")[:-1]
    assert len(out) == 4 and out[1] == "" and out[2] == "" and out[0] and out[3]
    assert "line 2: skipped: the line is empty" in done.stderr
    assert "line 3: skipped: 40 tokens, more than --max-input-tokens=30" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_symbols_become_unk_with_a_warning_not_a_crash(copy_checkpoint):
    done = translate("--checkpoint", copy_checkpoint, stdin="7 7 99 7\n")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1
    assert "warning:" in done.stderr and "99" in done.stderr


def test_input_and_output_files(copy_checkpoint, tmp_path):
    (tmp_path / "in.txt").write_text("1 2\n3 4\n", encoding="utf-8")
    done = translate("--checkpoint", copy_checkpoint, "--input", tmp_path / "in.txt", "--output", tmp_path / "out.txt")
    assert done.returncode == 0 and done.stdout == ""
    assert len((tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()) == 2
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.pt", "no checkpoint at"),
    (lambda p: (p / "junk.pt").write_bytes(b"not a checkpoint") and p / "junk.pt", "is not a readable checkpoint"),
])
def test_a_missing_or_broken_checkpoint_is_one_clear_error(tmp_path, make, message):
    done = translate("--checkpoint", make(tmp_path), stdin="1 2\n")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_bad_options_are_clear_errors(copy_checkpoint, tmp_path):
    done = translate("--checkpoint", copy_checkpoint, "--beam-size", "0", stdin="1\n")
    assert done.returncode == 2 and "--beam-size must be >= 1" in done.stderr
    done = translate("--checkpoint", copy_checkpoint, "--input", tmp_path / "nope.txt")
    assert done.returncode == 2 and "nope.txt" in done.stderr


@pytest.mark.parametrize("flag, value", [("--alpha", "nan"), ("--alpha", "inf"), ("--alpha", "-0.5"),
                                         ("--beam-size", "-1"), ("--max-input-tokens", "0"), ("--batch-sentences", "0"),
                                         ("--beam-size", "nan"), ("--max-input-tokens", "inf")])
def test_every_numeric_option_rejects_nan_inf_negative_and_zero_with_one_clear_line(copy_checkpoint, flag, value):
    done = translate("--checkpoint", copy_checkpoint, flag, value, stdin="1 2\n")
    assert done.returncode == 2 and flag in done.stderr and done.stdout == ""
    assert "Traceback" not in done.stderr


def test_a_bpe_checkpoint_carries_its_tokenizer_and_maps_unseen_characters_to_unk(tmp_path):
    out = tmp_path / "tiny"
    train(TrainConfig.from_preset("tiny", max_steps=2, eval_every=2, bleu_sentences=5, test_sentences=5, beam_size=1,
                                  vocab_size=1000), out, cache_dir=tmp_path / "bpe", verbose=False)
    done = translate("--checkpoint", checkpoint_paths(out)[-1], "--beam-size", "1", "--max-input-tokens", "20",
                     stdin="A dog runs in the snow ☃.\n")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1
    assert "warning:" in done.stderr and "☃" in done.stderr


@pytest.mark.parametrize("beam_size", [1, 4])
def test_no_translation_is_empty_even_where_the_model_would_end_at_once(copy_checkpoint, beam_size):
    from transformer_book.data import EOS
    from transformer_book.train import load_checkpoint, translate_lines
    model, tokenizer, _ = load_checkpoint(copy_checkpoint)
    lines = ["1 2 3", "4 5 6 7"]

    def eos_first(module, inputs, logits):  # EOS the most probable token at every step
        return logits.index_fill(-1, torch.tensor([EOS]), 100.0)

    hook = model.generator.proj.register_forward_hook(eos_first)
    try:
        assert translate_lines(model, tokenizer, lines, beam_size, min_len=0) == ["", ""]  # what the model wants
        out = translate_lines(model, tokenizer, lines, beam_size)
    finally:
        hook.remove()
    assert all(len(line.split()) == 1 for line in out), out  # one token, then EOS at the first step it may come

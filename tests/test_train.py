"""Tests for transformer_book.train (§5): presets, run folder, checkpoints, exact resume, DDP, command line."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from transformer_book.model import Config, Transformer
from transformer_book.train import (PRESETS, TrainConfig, average_checkpoints, build_parser, checkpoint_paths,
                                    load_checkpoint, load_weights, save_atomically, train, weights_digest)

ENV = {**os.environ, "COLUMNS": "100", "OMP_NUM_THREADS": "1"}
SMALL_COPY = ["--max-steps", "40", "--checkpoint-every", "5", "--eval-every", "1000", "--log-every", "5",
              "--copy-train", "2000", "--test-sentences", "20", "--beam-size", "1", "--average-last", "1"]


def cli(*args, module="transformer_book.train", timeout=300, **kw):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    """The real `--preset copy` run, once for the whole file."""
    out = tmp_path_factory.mktemp("runs") / "copy"
    done = cli("--preset", "copy", "--out", out)
    assert done.returncode == 0, done.stderr
    return out


def test_copy_preset_learns_to_copy(copy_run):
    scores = json.loads((copy_run / "scores.json").read_text())
    assert scores["token_accuracy"] >= 0.99
    assert scores["bleu"] > 95


def test_run_folder_holds_config_metrics_checkpoints_hypotheses_and_scores(copy_run):
    config = json.loads((copy_run / "config.json").read_text())
    assert config == {**config, **PRESETS["copy"], "preset": "copy"}
    records = [json.loads(l) for l in (copy_run / "metrics.jsonl").read_text().splitlines()]
    train_keys = {"step", "epoch", "loss", "ppl", "lr", "tokens_per_s", "elapsed_s"}
    assert any(train_keys <= r.keys() for r in records)
    assert any({"val_loss", "val_ppl", "val_bleu"} <= r.keys() for r in records)
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == sorted(steps) and steps[-1] == PRESETS["copy"]["max_steps"]
    assert [p.name for p in checkpoint_paths(copy_run)] == [f"step_{s:08d}.pt" for s in (100, 200, 300, 400)]
    hyps = (copy_run / "test.hyp.copy").read_text().splitlines()
    scores = json.loads((copy_run / "scores.json").read_text())
    assert len(hyps) == scores["sentences"] == 500
    for key in ("bleu", "chrf", "bleu_signature", "chrf_signature", "decoding", "train_wall_time_s", "hardware"):
        assert key in scores
    assert scores["decoding"]["beam_size"] == 4 and scores["decoding"]["alpha"] == 0.6
    assert "nrefs:1" in scores["bleu_signature"]


def test_checkpoints_load_with_weights_only_and_rebuild_the_model(copy_run):
    model, tok, ckpt = load_checkpoint(checkpoint_paths(copy_run)[-1])
    assert not model.training and ckpt["step"] == PRESETS["copy"]["max_steps"]
    assert tok.decode(tok.encode("3 1 4")) == "3 1 4"
    with open(checkpoint_paths(copy_run)[-1], "rb") as f:
        torch.load(f, weights_only=True)  # no pickled code inside


def test_a_checkpoint_for_another_configuration_is_a_clear_error(copy_run):
    _, _, ckpt = load_checkpoint(checkpoint_paths(copy_run)[-1])
    other = Transformer(Config(**{**ckpt["model_config"], "d_model": 32, "d_ff": 64}))
    with pytest.raises(ValueError, match="d_model: checkpoint 64 vs model 32"):
        load_weights(other, ckpt)


def test_average_of_checkpoints_is_the_elementwise_mean(tmp_path):
    torch.manual_seed(0)
    cfg = Config.tiny(src_vocab=50, tgt_vocab=50)
    models = [Transformer(cfg) for _ in range(3)]
    for i, m in enumerate(models):
        save_atomically({"model_config": cfg.to_dict(), "model": m.state_dict(), "step": i}, tmp_path / f"step_{i}.pt")
    avg = average_checkpoints(sorted(tmp_path.glob("step_*.pt")))
    name = "encoder.layers.0.feed_forward.W_1.weight"
    expect = sum(m.state_dict()[name].double() for m in models) / 3
    assert torch.allclose(avg["model"][name].double(), expect, atol=1e-7)
    save_atomically({"model_config": Config.tiny(src_vocab=60, tgt_vocab=60).to_dict(), "model": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="configuration differs"):
        average_checkpoints([tmp_path / "step_0.pt", tmp_path / "x.pt"])


def test_an_interrupted_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "step_00000010.pt"
    save_atomically({"step": 10}, path)

    def dies_half_way(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_atomically({"step": 20}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 10}
    assert checkpoint_paths(tmp_path.parent) == [] or all(p.suffix == ".pt" for p in checkpoint_paths(tmp_path))


def test_a_run_killed_mid_way_and_resumed_ends_with_bitwise_the_same_weights_and_loss(tmp_path):
    whole = tmp_path / "whole"
    assert cli("--preset", "copy", "--out", whole, *SMALL_COPY).returncode == 0

    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "transformer_book.train", "--preset", "copy", "--out", str(killed), *SMALL_COPY]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (killed / "checkpoints" / "step_00000015.pt").exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "scores.json").exists(), "the run finished before it could be killed"
    last = checkpoint_paths(killed)[-1]
    assert last.name < "step_00000040.pt"

    done = cli("--preset", "copy", "--out", killed, "--resume", *SMALL_COPY)
    assert done.returncode == 0, done.stderr
    final = {run: torch.load(checkpoint_paths(run)[-1], weights_only=True) for run in (whole, killed)}
    assert final[whole]["step"] == final[killed]["step"] == 40
    for name, tensor in final[whole]["model"].items():
        assert torch.equal(tensor, final[killed]["model"][name]), name
    loss = {run: [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()] for run in (whole, killed)}
    assert [r["step"] for r in loss[killed] if "loss" in r] == [r["step"] for r in loss[whole] if "loss" in r]
    assert loss[whole][-2]["loss"] == loss[killed][-2]["loss"]


def test_two_ddp_processes_on_cpu_end_with_identical_weights(tmp_path):
    out = tmp_path / "ddp"
    done = cli("--nproc_per_node", "2", "-m", "transformer_book.train", "--preset", "copy", "--out", out,
               "--max-steps", "12", "--checkpoint-every", "6", "--eval-every", "1000", "--copy-train", "2000",
               "--test-sentences", "10", "--beam-size", "1", module="torch.distributed.run")
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = json.loads((out / "scores.json").read_text())["ddp"]
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    assert len(ddp["rank_weight_digests"]) == 2 and ddp["identical_weights"]
    model, _, _ = load_checkpoint(checkpoint_paths(out)[-1])
    assert weights_digest(model) == ddp["rank_weight_digests"][0]


def test_resume_refuses_different_settings_and_a_new_run_refuses_an_existing_folder(tmp_path):
    out = tmp_path / "run"
    assert cli("--preset", "copy", "--out", out, *SMALL_COPY, "--max-steps", "6").returncode == 0
    again = cli("--preset", "copy", "--out", out)
    assert again.returncode == 2 and "already holds a run; pass --resume" in again.stderr
    other = cli("--preset", "copy", "--out", out, "--resume", "--d-model", "32")
    assert other.returncode == 2 and "d_model: run 64, now 32" in other.stderr
    assert "Traceback" not in again.stderr + other.stderr


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "invalid choice: 'huge'"),
    (["--d-model", "100", "--h", "8"], "d_model = 100 is not divisible by h = 8"),
    (["--max-steps", "0"], "max_steps must be >= 1"),
    (["--resume"], "nothing to resume"),
    (["--corpus", "multi30k", "--data-dir", "/nowhere/at/all"], "/nowhere/at/all"),
])
def test_bad_arguments_give_one_clear_line_and_a_nonzero_exit(tmp_path, args, message):
    done = cli("--out", tmp_path / "run", *args)
    assert done.returncode != 0 and message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("field, value", [
    ("P_drop", float("nan")), ("P_drop", 1.0), ("P_drop", -0.1), ("eps_ls", float("nan")), ("eps_ls", 1.0),
    ("lr_scale", float("nan")), ("lr_scale", float("inf")), ("lr_scale", 0.0), ("lr_scale", -1.0),
    ("alpha", float("nan")), ("alpha", float("inf")), ("alpha", -0.6), ("max_minutes", float("nan")),
    ("max_minutes", float("inf")), ("max_minutes", -1.0), ("checkpoint_minutes", 0.0), ("checkpoint_minutes", float("nan")),
    ("N", 0), ("d_model", -8), ("h", 0), ("vocab_size", 0), ("bleu_sentences", 0), ("test_sentences", -1), ("seed", -1),
    ("copy_len", 0),
])
def test_every_number_in_the_config_is_checked_nan_and_inf_included(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig.from_preset("copy", **{field: value})


@pytest.mark.parametrize("flag, value", [("--P-drop", "nan"), ("--lr-scale", "inf"), ("--alpha", "nan"),
                                         ("--max-minutes", "-5"), ("--eps-ls", "1.5"), ("--max-tokens", "nan")])
def test_numeric_flags_with_nan_inf_or_out_of_range_values_give_one_clear_line(tmp_path, flag, value):
    done = cli("--preset", "copy", "--out", tmp_path / "run", flag, value)
    assert done.returncode == 2 and flag.lstrip("-").replace("-", "_").lower() in done.stderr.lower().replace("-", "_")
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists(), "nothing is written for a bad command"


def test_max_minutes_ends_training_at_a_checkpoint_then_averages_and_decodes(tmp_path):
    out = tmp_path / "run"
    done = cli("--preset", "copy", "--out", out, *SMALL_COPY, "--max-steps", "100000", "--max-minutes", "0.25",
               "--average-last", "3", "--checkpoint-every", "1")
    assert done.returncode == 0, done.stderr
    scores = json.loads((out / "scores.json").read_text())
    assert scores["stopped_by"] == "max_minutes" and 0 < scores["steps"] < 100000
    assert checkpoint_paths(out)[-1].name == f"step_{scores['steps']:08d}.pt", "the last step is saved"
    assert scores["weights"].startswith("average of ") and scores["weights"].count("step_") == 3
    assert 0 < scores["train_wall_time_s"] < scores["run_wall_time_s"] and 15 <= scores["run_wall_time_s"] < 90
    steps = [json.loads(l)["step"] for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == scores["steps"], "the last step is logged"
    config = json.loads((out / "config.json").read_text())
    assert config["command"].startswith("python -m transformer_book.train --preset copy --out ")
    assert "--max-minutes 0.25" in config["command"] and config["max_minutes"] == 0.25


def test_a_run_stopped_by_max_steps_says_so(copy_run):
    scores = json.loads((copy_run / "scores.json").read_text())
    assert scores["stopped_by"] == "max_steps" and scores["steps"] == PRESETS["copy"]["max_steps"]
    assert {"cpu", "cpu_count", "threads", "torch", "python", "sentencepiece", "sacrebleu"} <= scores["hardware"].keys()


def test_the_laptop_preset_is_the_one_hour_recipe_of_chapter_6():
    cfg = TrainConfig.from_preset("laptop")
    assert cfg.corpus == "multi30k" and cfg.max_minutes == 60 and cfg.max_steps > 10 * cfg.warmup_steps
    assert (cfg.N, cfg.d_model, cfg.h, cfg.d_ff) == (3, 256, 4, 1024) and cfg.average_last == 5


def test_tiny_preset_runs_end_to_end_on_multi30k(tmp_path):
    scores = train(TrainConfig.from_preset("tiny", max_steps=6, eval_every=6, bleu_sentences=10, test_sentences=30,
                                           beam_size=2, checkpoint_every=2, average_last=2, vocab_size=1000),
                   tmp_path / "tiny", cache_dir=tmp_path / "bpe", verbose=False)
    assert scores["weights"] == "average of step_00000004.pt, step_00000006.pt"
    assert (tmp_path / "tiny" / "checkpoints" / "average.pt").exists()
    hyps = (tmp_path / "tiny" / "test_2016_flickr.hyp.de").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == scores["sentences"] == 30
    assert scores["test_set"] == "test_2016_flickr" and 0 <= scores["bleu"] <= 100


def test_table_3_switches_reach_the_model_from_the_command_line():
    args = build_parser().parse_args(["--out", "x", "--key-size", "16", "--learned-positions", "--norm-first"])
    cfg = TrainConfig.from_args(args)
    model = Transformer(cfg.model_config(4000))
    assert model.config.d_k == 16 and model.config.norm_first and model.config.learned_positions
    # learned positions: a 256-position table (training pairs <= 128 tokens, decoding adds <= 50), not 5000
    assert model.src_embed[1].embedding.weight.shape == (256, cfg.d_model)
    with pytest.raises(ValueError, match="key_size must be >= 0"):
        TrainConfig(key_size=-1)


def test_presets_and_config_validation():
    assert TrainConfig() == TrainConfig.from_preset("tiny"), "the defaults are the tiny preset"
    assert TrainConfig.from_preset("base").d_model == 512 and TrainConfig.from_preset("big").h == 16
    assert TrainConfig.from_preset("base").warmup_steps == 4000 and TrainConfig.from_preset("base").max_tokens == 25000
    with pytest.raises(ValueError, match="unknown preset"):
        TrainConfig.from_preset("huge")
    with pytest.raises(ValueError, match="corpus must be"):
        TrainConfig(corpus="wiki")


def test_step_flops_counts_every_matrix_multiply_of_a_hand_sized_batch():
    from transformer_book.data import Batch  # noqa: F401  (the batches only need src and tgt_in shapes)
    from transformer_book.train import step_flops

    class Shapes:
        src, tgt_in = torch.zeros(2, 3), torch.zeros(2, 4)
    d, d_ff, N, V, B, S, T = 8, 16, 2, 10, 2, 3, 4
    config = Config(src_vocab=V, tgt_vocab=V, N=N, d_model=d, d_ff=d_ff, h=2)
    encoder = B * S * (4 * d * d + 2 * d * d_ff) + 2 * B * S * S * d
    decoder = B * T * (4 * d * d + 2 * d * d_ff) + (B * T + B * S) * 2 * d * d + 2 * B * T * T * d + 2 * B * T * S * d
    assert step_flops(config, [Shapes()]) == 6 * (N * (encoder + decoder) + B * T * d * V)
    assert step_flops(config, [Shapes(), Shapes()]) == 2 * step_flops(config, [Shapes()])


def test_the_gpu_base_command_runs_tiny_on_a_cpu_without_spacy_and_reports_tflops(tmp_path):
    """The base-multi30k preset, shrunk: the whole command, with `import spacy` made to fail."""
    out = tmp_path / "base"
    code = ("import sys, runpy; sys.modules['spacy'] = None; "
            "sys.argv = ['train'] + sys.argv[1:]; runpy.run_module('transformer_book.train', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code, "--preset", "base-multi30k", "--out", str(out), "--N", "1",
                           "--d-model", "32", "--d-ff", "64", "--h", "2", "--vocab-size", "1000", "--max-minutes", "0.3",
                           "--log-every", "5", "--checkpoint-every", "5", "--test-sentences", "10",
                           "--bleu-sentences", "5", "--cache-dir", str(tmp_path / "bpe")],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "TFLOP/s" in done.stdout
    records = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["tflops"] > 0 for r in records if "loss" in r)
    scores = json.loads((out / "scores.json").read_text())
    assert scores["stopped_by"] == "max_minutes" and scores["sentences"] == 10
    assert TrainConfig.from_preset("base-multi30k").max_minutes <= 8 and PRESETS["base-multi30k"]["d_model"] == 512


def test_from_args_is_the_preset_changed_by_exactly_the_flags_given():
    args = build_parser().parse_args(["--preset", "small", "--out", "x", "--h", "2", "--no-norm-first", "--seed", "3"])
    assert TrainConfig.from_args(args) == TrainConfig.from_preset("small", h=2, norm_first=False, seed=3)
    assert TrainConfig.from_args(build_parser().parse_args(["--out", "x"])) == TrainConfig.from_preset("tiny")


def test_the_four_groups_of_settings_make_up_train_config_and_each_field_is_in_one_group():
    from transformer_book.train import DataSettings, ModelSettings, RecordSettings, ScheduleSettings
    groups = [DataSettings, ModelSettings, ScheduleSettings, RecordSettings]
    names = [f.name for g in groups for f in dataclasses.fields(g)]
    assert len(names) == len(set(names)), "a setting is in two groups"
    assert set(names) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(issubclass(TrainConfig, g) for g in groups)

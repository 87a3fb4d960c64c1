"""The throughput benchmark still runs (a smoke test; speed is measured by running the script, not here)."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import throughput  # noqa: E402

from transformer_book.model import Config  # noqa: E402


def test_both_sides_share_the_books_embeddings_and_generator_and_differ_only_in_the_stacks():
    config = Config.tiny()
    theirs = throughput.TorchTransformer(config)
    assert isinstance(theirs.core, torch.nn.Transformer)
    assert theirs.src_embed[0].lut.weight is theirs.generator.proj.weight
    src, tgt_in, _ = throughput.make_batch(config, 2, 5)
    assert theirs(src, tgt_in).shape == (2, 5, config.d_model)


def test_compare_reports_tokens_per_second_for_both_models(capsys):
    ours, theirs, ratio = throughput.compare("tiny", Config.tiny(), batch=2, length=5, steps=1, rounds=1)
    assert ours > 0 and theirs > 0 and abs(ratio - ours / theirs) < 1e-9
    assert "ratio" in capsys.readouterr().out


def test_training_speed_benchmark_times_real_training_steps(capsys, tmp_path):
    import train_speed  # noqa: E402 (bench/ is on sys.path above)

    result = train_speed.measure("tiny", steps=1, warmup=0, cache_dir=tmp_path)
    assert result["tokens_per_s"] > 0 and result["steps"] == 1
    assert "tokens/s" in capsys.readouterr().out

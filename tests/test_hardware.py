"""Tests for transformer_book.hardware (§5.2): device choice, autocast, sharding across processes."""
import pytest
import torch

from transformer_book.hardware import autocast, pick_device, shard


def test_auto_device_is_cpu_without_cuda():
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")


def test_asking_for_cuda_without_it_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")


def test_autocast_is_off_on_cpu_by_default_and_bf16_when_asked():
    x = torch.randn(3, 3)
    with autocast(torch.device("cpu")):
        assert (x @ x).dtype == torch.float32
    with autocast(torch.device("cpu"), amp="bf16"):
        assert (x @ x).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="amp must be"):
        autocast(torch.device("cpu"), amp="fp8")


def test_shard_gives_each_rank_the_same_number_of_distinct_batches():
    batches = list(range(11))
    shares = [shard(batches, r, 3) for r in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]
    flat = [b for s in shares for b in s]
    assert len(set(flat)) == len(flat)
    with pytest.raises(ValueError, match="rank"):
        shard(batches, 3, 3)

"""Tests for transformer_book.positional (§3.5): sinusoidal and learned positional encodings."""
import math

import pytest
import torch

from transformer_book.positional import PositionalEncoding, sinusoidal_encoding


def shift_matrix(k, d_model):
    """Block-diagonal rotation M_k with PE[pos + k] = PE[pos] @ M_k (one 2x2 block per frequency)."""
    omega = 10000 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    c, s = torch.cos(omega * k), torch.sin(omega * k)
    return torch.block_diag(*[torch.tensor([[ci, -si], [si, ci]]) for ci, si in zip(c, s)])


def test_position_zero_is_sin_0_and_cos_0_interleaved():
    pe = sinusoidal_encoding(3, 8)
    assert pe[0].tolist() == [0.0, 1.0] * 4


def test_values_at_a_few_positions_match_hand_computation():
    pe = sinusoidal_encoding(3, 4)  # frequencies 1 and 10000**(-2/4) = 0.01
    expected = torch.tensor([[0.0, 1.0, 0.0, 1.0],
                             [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
                             [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]])
    torch.testing.assert_close(pe, expected)
    # one entry of the paper's size: pos 10, dims 2i and 2i+1 with i = 3, d_model = 512
    pe = sinusoidal_encoding(11, 512)
    angle = 10 / 10000 ** (6 / 512)
    assert pe[10, 6].item() == pytest.approx(math.sin(angle), abs=1e-7)
    assert pe[10, 7].item() == pytest.approx(math.cos(angle), abs=1e-7)


def test_table_has_shape_max_len_by_d_model_in_float32():
    pe = sinusoidal_encoding(50, 512)
    assert pe.shape == (50, 512)
    assert pe.dtype == torch.float32


def test_values_lie_in_minus_one_to_one_and_each_pair_is_on_the_unit_circle():
    pe = sinusoidal_encoding(5000, 512).double()
    assert pe.abs().max() <= 1.0
    radius = pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2
    torch.testing.assert_close(radius, torch.ones_like(radius), atol=1e-6, rtol=0)


def test_positional_encoding_shift_is_a_rotation():
    d_model, max_len = 512, 5000
    pe = sinusoidal_encoding(max_len, d_model).double()
    for k in [1, 2, 13, 100, 2500]:
        M_k = shift_matrix(k, d_model)
        # one matrix for every position
        assert (pe[k:] - pe[:-k] @ M_k).abs().max() < 1e-6
        torch.testing.assert_close(M_k @ M_k.T, torch.eye(d_model, dtype=torch.float64))


def test_dot_product_depends_only_on_the_offset():
    pe = sinusoidal_encoding(120, 64).double()
    gram = pe @ pe.T
    for offset in range(-119, 120):
        diagonal = torch.diagonal(gram, offset=offset)
        assert (diagonal - diagonal[0]).abs().max() < 1e-5
        assert torch.diagonal(gram, offset=-offset)[0].item() == pytest.approx(diagonal[0].item(), abs=1e-5)
    torch.testing.assert_close(torch.diagonal(gram), torch.full((120,), 32.0, dtype=torch.float64))


def test_odd_d_model_is_rejected():
    with pytest.raises(ValueError, match="even"):
        sinusoidal_encoding(10, 511)
    with pytest.raises(ValueError, match="even"):
        PositionalEncoding(511)


def test_module_adds_the_table_in_eval_mode():
    torch.manual_seed(0)
    module = PositionalEncoding(32, P_drop=0.1, max_len=100).eval()
    x = torch.randn(3, 20, 32)
    torch.testing.assert_close(module(x), x + sinusoidal_encoding(20, 32), rtol=0, atol=0)


def test_dropout_acts_on_the_sum_in_training_mode():
    torch.manual_seed(0)
    module = PositionalEncoding(64, P_drop=0.5, max_len=100).train()
    x = torch.zeros(4, 50, 64)
    y = module(x)
    kept = y != 0
    assert 0.4 < 1 - kept.float().mean().item() < 0.6
    expected = (sinusoidal_encoding(50, 64) / 0.5).expand_as(y)
    torch.testing.assert_close(y[kept], expected[kept])


def test_sinusoid_table_is_a_buffer_without_parameters():
    module = PositionalEncoding(16, max_len=10)
    assert list(module.parameters()) == []
    assert "pe" in dict(module.named_buffers())
    assert module.state_dict() == {}


def test_learned_positions_are_trainable_parameters():
    torch.manual_seed(0)
    module = PositionalEncoding(16, P_drop=0.0, max_len=10, learned=True)
    params = list(module.parameters())
    assert len(params) == 1 and params[0].shape == (10, 16) and params[0].requires_grad
    x = torch.randn(2, 7, 16)
    torch.testing.assert_close(module(x), x + module.embedding.weight[:7])
    module(x).sum().backward()
    grad = module.embedding.weight.grad
    assert grad[:7].abs().sum() > 0 and grad[7:].abs().sum() == 0  # only the positions used


def test_learned_positions_accept_odd_d_model():
    assert PositionalEncoding(15, learned=True)(torch.zeros(1, 4, 15)).shape == (1, 4, 15)


@pytest.mark.parametrize("learned", [False, True])
def test_sequences_longer_than_max_len_are_rejected(learned):
    module = PositionalEncoding(16, max_len=10, learned=learned)
    module(torch.zeros(1, 10, 16))  # exactly max_len is fine
    with pytest.raises(ValueError, match="max_len=10"):
        module(torch.zeros(1, 11, 16))


def test_wrong_shape_is_rejected():
    module = PositionalEncoding(16, max_len=10)
    with pytest.raises(ValueError, match=r"d_model=16"):
        module(torch.zeros(1, 5, 8))
    with pytest.raises(ValueError, match=r"\(B, T, d_model"):
        module(torch.zeros(5, 16))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_output_dtype_follows_input_dtype(dtype):
    for learned in (False, True):
        module = PositionalEncoding(16, max_len=10, learned=learned).eval()
        assert module(torch.zeros(2, 5, 16, dtype=dtype)).dtype == dtype

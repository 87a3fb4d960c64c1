"""Tests for transformer_book.feed_forward (§3.3): the position-wise feed-forward network."""
import pytest
import torch
from torch import nn

from transformer_book.feed_forward import PositionwiseFeedForward


def test_tiny_example_matches_the_hand_computation():
    ffn = PositionwiseFeedForward(d_model=2, d_ff=3)
    with torch.no_grad():
        ffn.W_1.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, 2.0]]).T)
        ffn.W_1.bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
        ffn.W_2.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).T)
        ffn.W_2.bias.copy_(torch.tensor([0.5, 0.0]))
    # x W1 + b1 = [2, -1, 1] -> ReLU [2, 0, 1] -> W2 + b2 = [3.5, 1]
    assert ffn(torch.tensor([2.0, 1.0])).tolist() == [3.5, 1.0]


def test_output_has_the_input_shape():
    ffn = PositionwiseFeedForward(32, 128)
    for shape in [(32,), (5, 32), (2, 7, 32)]:
        assert ffn(torch.randn(*shape)).shape == shape
    assert ffn.W_1.weight.shape == (128, 32) and ffn.W_2.weight.shape == (32, 128)


def test_whole_tensor_equals_each_position_alone():
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(64, 256)
    x = torch.randn(3, 9, 64)
    one_by_one = torch.stack([ffn(x[:, t]) for t in range(9)], dim=1)
    torch.testing.assert_close(ffn(x), one_by_one)


def test_changing_one_position_leaves_the_other_positions_unchanged():
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(64, 256)
    x = torch.randn(2, 8, 64)
    edited = x.clone()
    edited[:, 5] += torch.randn(2, 64)
    before, after = ffn(x), ffn(edited)
    others = [t for t in range(8) if t != 5]
    torch.testing.assert_close(after[:, others], before[:, others], rtol=0, atol=1e-6)
    assert (after[:, 5] - before[:, 5]).abs().max() > 1e-2


def test_equals_two_convolutions_with_kernel_size_one():
    torch.manual_seed(0)
    d_model, d_ff = 48, 192
    ffn = PositionwiseFeedForward(d_model, d_ff)
    conv_1, conv_2 = nn.Conv1d(d_model, d_ff, kernel_size=1), nn.Conv1d(d_ff, d_model, kernel_size=1)
    with torch.no_grad():
        conv_1.weight.copy_(ffn.W_1.weight.unsqueeze(-1))
        conv_1.bias.copy_(ffn.W_1.bias)
        conv_2.weight.copy_(ffn.W_2.weight.unsqueeze(-1))
        conv_2.bias.copy_(ffn.W_2.bias)
    x = torch.randn(4, 11, d_model)
    by_conv = conv_2(torch.relu(conv_1(x.transpose(1, 2)))).transpose(1, 2)
    torch.testing.assert_close(ffn(x), by_conv)


def test_parameter_count_is_2_d_model_d_ff_plus_d_ff_plus_d_model():
    for d_model, d_ff in [(512, 2048), (1024, 4096), (8, 32)]:
        ffn = PositionwiseFeedForward(d_model, d_ff)
        assert sum(p.numel() for p in ffn.parameters()) == 2 * d_model * d_ff + d_ff + d_model
    assert sum(p.numel() for p in PositionwiseFeedForward(512, 2048).parameters()) == 2_099_712


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(16, 64)
    ffn(torch.randn(2, 5, 16)).pow(2).sum().backward()
    for name, p in ffn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_no_inner_dropout_by_default_so_training_mode_is_deterministic():
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(16, 64).train()
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(ffn(x), ffn(x), rtol=0, atol=0)
    ffn_drop = PositionwiseFeedForward(16, 64, P_drop=0.5).train()
    assert not torch.equal(ffn_drop(x), ffn_drop(x))
    torch.testing.assert_close(ffn_drop.eval()(x), ffn_drop.eval()(x))


def test_wrong_last_dimension_is_rejected():
    ffn = PositionwiseFeedForward(16, 64)
    with pytest.raises(ValueError, match=r"d_model=16.*\(2, 5, 8\)"):
        ffn(torch.randn(2, 5, 8))

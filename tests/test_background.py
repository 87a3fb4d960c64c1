"""Tests for transformer_book.background (§2): path lengths between two positions."""
import math

import pytest
import torch
from torch import nn

from transformer_book.background import KINDS, layers_to_connect, receptive_field

KERNEL_SIZES = range(2, 6)


def test_worked_example_of_the_chapter_matches_hand_counts():
    # d=10, k=3: RNN 10 steps; conv ceil(10/2)=5; dilated 3**2-1=8 < 10 <= 26=3**3-1 -> 3; attention 1
    assert layers_to_connect(10, "recurrent", 3) == 10
    assert layers_to_connect(10, "convolution", 3) == 5
    assert layers_to_connect(10, "dilated_convolution", 3) == 3
    assert layers_to_connect(10, "self_attention", 3) == 1


def test_small_receptive_fields_match_hand_counts():
    # conv k=5: each layer adds 4 positions, 6 layers -> 24 back (25 inputs including itself)
    assert receptive_field(6, "convolution", 5) == 24
    # dilated k=2: dilations 1, 2, 4 -> 1 + 2 + 4 = 7
    assert receptive_field(3, "dilated_convolution", 2) == 7
    # dilated k=3: dilations 1, 3 with taps 0..2 each -> 2*1 + 2*3 = 8
    assert receptive_field(2, "dilated_convolution", 3) == 8
    # recurrent: one position per sequential step
    assert receptive_field(7, "recurrent") == 7


def test_dilated_convolution_with_width_two_needs_ceil_log2_of_d_plus_one_layers():
    # k=2: L layers reach 2**L - 1, so d=1 -> 1, d=2,3 -> 2, d=4..7 -> 3, d=8 -> 4
    assert [layers_to_connect(d, "dilated_convolution", 2) for d in range(1, 9)] == [1, 2, 2, 3, 3, 3, 3, 4]
    for d in range(1, 300):
        assert layers_to_connect(d, "dilated_convolution", 2) == math.ceil(math.log2(d + 1))


def test_distance_zero_needs_no_layer_for_every_kind():
    for kind in KINDS:
        assert layers_to_connect(0, kind) == 0
        assert receptive_field(0, kind) == 0


@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_layers_to_connect_is_the_fewest_layers_whose_receptive_field_covers_the_distance(kind, kernel_size):
    for d in range(201):
        L = layers_to_connect(d, kind, kernel_size)
        assert receptive_field(L, kind, kernel_size) >= d
        if L > 0:
            assert receptive_field(L - 1, kind, kernel_size) < d


@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
def test_self_attention_connects_any_two_positions_in_one_layer(kernel_size):
    for d in range(1, 1001):
        assert layers_to_connect(d, "self_attention", kernel_size) == 1
    assert receptive_field(1, "self_attention", kernel_size) == math.inf


def test_recurrent_network_needs_as_many_steps_as_the_distance():
    for d in range(0, 201):
        assert layers_to_connect(d, "recurrent") == d


@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
def test_plain_convolution_layers_grow_linearly_with_distance(kernel_size):
    for L in range(1, 50):
        # L*(k-1) positions back need exactly L layers; one more position needs L+1
        assert layers_to_connect(L * (kernel_size - 1), "convolution", kernel_size) == L
        assert layers_to_connect(L * (kernel_size - 1) + 1, "convolution", kernel_size) == L + 1


@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
def test_dilated_convolution_layers_grow_logarithmically(kernel_size):
    for d in range(1, 2000):
        doubled = layers_to_connect(2 * d, "dilated_convolution", kernel_size)
        assert doubled - layers_to_connect(d, "dilated_convolution", kernel_size) <= 1
        # multiplying the distance by k adds at most one layer too
        times_k = layers_to_connect(kernel_size * d, "dilated_convolution", kernel_size)
        assert times_k - layers_to_connect(d, "dilated_convolution", kernel_size) <= 1


def test_path_lengths_order_self_attention_dilated_convolution_recurrent():
    for d in range(1, 500):
        sa, dil, conv, rnn = (layers_to_connect(d, kind, 3) for kind in
                              ("self_attention", "dilated_convolution", "convolution", "recurrent"))
        assert sa <= dil <= conv <= rnn


@pytest.mark.parametrize("call", [
    lambda: layers_to_connect(-1, "convolution"),
    lambda: receptive_field(-2, "convolution"),
    lambda: layers_to_connect(3, "lstm"),
    lambda: receptive_field(3, "attention"),
    lambda: layers_to_connect(3, "convolution", kernel_size=1),
    lambda: receptive_field(3, "dilated_convolution", kernel_size=0),
])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_value_error_messages_say_what_is_allowed():
    with pytest.raises(ValueError, match=">= 0"):
        layers_to_connect(-1, "recurrent")
    with pytest.raises(ValueError, match="recurrent, convolution, dilated_convolution, self_attention"):
        layers_to_connect(1, "transformer")
    with pytest.raises(ValueError, match="kernel_size must be an integer >= 2"):
        receptive_field(1, "convolution", kernel_size=1)


def test_non_integer_distance_is_rejected():
    with pytest.raises(TypeError):
        layers_to_connect(2.5, "convolution")


def _causal_conv_stack(L, k, dilated):
    layers = []
    for l in range(L):
        r = k**l if dilated else 1
        layers += [nn.ConstantPad1d(((k - 1) * r, 0), 0.0), nn.Conv1d(1, 1, k, dilation=r)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("kind", ["convolution", "dilated_convolution"])
@pytest.mark.parametrize("k", [2, 3])
def test_real_conv1d_stack_reaches_exactly_the_receptive_field(kind, k):
    torch.manual_seed(0)
    n = 40
    for L in range(1, 5):
        stack = _causal_conv_stack(L, k, dilated=(kind == "dilated_convolution"))
        x = torch.randn(1, 1, n, requires_grad=True)
        stack(x)[0, 0, -1].backward()
        reached = (x.grad[0, 0] != 0).nonzero().flatten()
        want = min(receptive_field(L, kind, k), n - 1)
        # the reached inputs are one unbroken block ending at the output position
        assert reached.tolist() == list(range(n - 1 - want, n))

"""Tests for transformer_book.why_self_attention (§4): the counts of Table 1."""
import math

import pytest
import torch
from torch import nn

from transformer_book.background import layers_to_connect
from transformer_book.why_self_attention import (KINDS, flops_per_layer, maximum_path_length,
                                                 sequential_operations)


def test_flops_match_hand_counts_for_a_tiny_layer():
    # n=4, d=8, k=3, r=2: 2*16*8, 2*4*64, 3*4*64, 2*2*4*8
    assert flops_per_layer("self_attention", 4, 8) == 256
    assert flops_per_layer("recurrent", 4, 8) == 512
    assert flops_per_layer("convolution", 4, 8, k=3) == 768
    assert flops_per_layer("dilated_convolution", 4, 8, k=3) == 768
    assert flops_per_layer("restricted_self_attention", 4, 8, r=2) == 128


def test_flops_of_the_chapter_example_with_fifty_tokens_and_d_512():
    assert flops_per_layer("self_attention", 50, 512) == 2_560_000
    assert flops_per_layer("recurrent", 50, 512) == 26_214_400
    assert flops_per_layer("convolution", 50, 512, k=3) == 39_321_600
    assert flops_per_layer("restricted_self_attention", 50, 512, r=8) == 409_600


def test_self_attention_is_cheaper_than_recurrence_exactly_when_n_is_below_d():
    for n in range(1, 80):
        for d in range(1, 80):
            attention, recurrent = flops_per_layer("self_attention", n, d), flops_per_layer("recurrent", n, d)
            assert (attention < recurrent) == (n < d)
            assert (attention == recurrent) == (n == d)


def test_restricted_self_attention_over_the_whole_sequence_costs_as_much_as_self_attention():
    for n in range(2, 40):
        assert flops_per_layer("restricted_self_attention", n, 16, r=n) == flops_per_layer("self_attention", n, 16)


def test_convolution_cost_grows_linearly_with_the_kernel_width():
    assert [flops_per_layer("convolution", 10, 4, k=k) for k in (2, 3, 4)] == [320, 480, 640]


def test_only_recurrence_needs_a_number_of_sequential_operations_that_grows_with_n():
    for n in (1, 7, 50, 1000):
        assert sequential_operations("recurrent", n) == n
        for kind in KINDS:
            if kind != "recurrent":
                assert sequential_operations(kind, n) == 1


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_maximum_path_lengths_follow_the_closed_forms(k):
    for n in range(1, 300):
        assert maximum_path_length("recurrent", n) == n - 1
        assert maximum_path_length("self_attention", n) == (1 if n > 1 else 0)
        assert maximum_path_length("convolution", n, k=k) == math.ceil((n - 1) / (k - 1))
        # ceil(log_k(n)) in integers: the fewest L with k**L >= n
        assert maximum_path_length("dilated_convolution", n, k=k) == next(L for L in range(n + 1) if k**L >= n)
        for r in range(2, min(n, 9) + 1):
            assert maximum_path_length("restricted_self_attention", n, r=r) == math.ceil((n - 1) / (r - 1))


def test_maximum_path_length_is_layers_to_connect_across_the_whole_sequence():
    for kind in ("recurrent", "convolution", "dilated_convolution", "self_attention"):
        for n in range(1, 200):
            assert maximum_path_length(kind, n, k=3) == layers_to_connect(n - 1, kind, kernel_size=3)


def test_dilated_path_length_at_the_chapter_example():
    # 3**3 = 27 < 50 <= 81 = 3**4
    assert maximum_path_length("dilated_convolution", 50, k=3) == 4
    assert maximum_path_length("convolution", 50, k=3) == 25
    assert maximum_path_length("restricted_self_attention", 50, r=8) == 7


@pytest.mark.parametrize("call, words", [
    (lambda: flops_per_layer("lstm", 10, 8), "kind must be one of"),
    (lambda: flops_per_layer("self_attention", 0, 8), "sequence length n"),
    (lambda: flops_per_layer("recurrent", 10, 0), "dimension d"),
    (lambda: flops_per_layer("convolution", 10, 8, k=1), "kernel width k"),
    (lambda: flops_per_layer("self_attention", 10.5, 8), "must be an integer"),
    (lambda: flops_per_layer("restricted_self_attention", 10, 8), "needs the neighbourhood size r"),
    (lambda: maximum_path_length("restricted_self_attention", 10, r=1), "neighbourhood size r"),
    (lambda: maximum_path_length("restricted_self_attention", 10, r=11), "r must be <= n"),
    (lambda: sequential_operations("transformer", 10), "kind must be one of"),
    (lambda: sequential_operations("recurrent", -3), "sequence length n"),
])
def test_bad_arguments_raise_value_errors_that_name_the_problem(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_one_self_attention_layer_reaches_every_position_but_one_convolution_reaches_three():
    torch.manual_seed(0)
    n, d_model, t = 16, 8, 7
    attention = nn.MultiheadAttention(d_model, 2, batch_first=True)
    conv = nn.Conv1d(d_model, d_model, kernel_size=3, padding=1)
    x = torch.randn(1, n, d_model, requires_grad=True)
    attention(x, x, x, need_weights=False)[0][0, t].sum().backward()
    assert (x.grad[0].norm(dim=-1) != 0).all()
    x.grad = None
    conv(x.transpose(1, 2))[0, :, t].sum().backward()
    reached = (x.grad[0].norm(dim=-1) != 0).nonzero().flatten().tolist()
    assert reached == [t - 1, t, t + 1]

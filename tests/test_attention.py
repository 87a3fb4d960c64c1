"""Tests for transformer_book.attention (§3.2): scaled dot-product and multi-head attention."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from transformer_book.attention import (
    MultiHeadAttention,
    explicit_attention,
    padding_mask,
    scaled_dot_product_attention,
    subsequent_mask,
)

D_MODEL, H, PAD = 32, 4, 0


def make_mha(fused=True, P_drop=0.0, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return MultiHeadAttention(D_MODEL, H, P_drop=P_drop, fused=fused).to(dtype).eval()


def torch_twin(ours):
    """torch.nn.MultiheadAttention holding exactly the weights of `ours`."""
    dtype = ours.W_Q.weight.dtype
    theirs = nn.MultiheadAttention(ours.d_model, ours.h, dropout=0.0, batch_first=True).to(dtype).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.W_Q.weight, ours.W_K.weight, ours.W_V.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.W_Q.bias, ours.W_K.bias, ours.W_V.bias]))
        theirs.out_proj.weight.copy_(ours.W_O.weight)
        theirs.out_proj.bias.copy_(ours.W_O.bias)
    return theirs


def padded_tokens():
    """Three sentences of lengths 7, 5 and 2, padded with PAD to T = 7."""
    return torch.tensor([[5, 8, 3, 9, 4, 6, 2],
                         [7, 3, 3, 5, 2, PAD, PAD],
                         [4, 2, PAD, PAD, PAD, PAD, PAD]])


def inputs(B=3, T=7, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, D_MODEL, generator=g, dtype=dtype)


# ---------------------------------------------------------------- masks

def test_subsequent_mask_hides_future_positions():
    m = subsequent_mask(6)
    assert m.shape == (1, 6, 6) and m.dtype == torch.bool
    for i in range(6):
        for j in range(6):
            assert bool(m[0, i, j]) == (j <= i)


def test_padding_mask_has_shape_b_1_t_and_is_true_exactly_at_real_tokens():
    tokens = padded_tokens()
    m = padding_mask(tokens, PAD)
    assert m.shape == (3, 1, 7) and m.dtype == torch.bool
    assert m[:, 0].sum(-1).tolist() == [7, 5, 2]
    assert torch.equal(m[:, 0], tokens != PAD)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        padding_mask(tokens[0], PAD)


def test_decoder_mask_combines_padding_and_subsequent_masks_into_b_t_t():
    tokens = padded_tokens()
    m = padding_mask(tokens, PAD) & subsequent_mask(7)
    assert m.shape == (3, 7, 7)
    assert not m[1, 6, 5] and m[1, 6, 4] and not m[0, 2, 3] and m[0, 3, 3]


# ---------------------------------------------------------------- scaled dot-product attention

def test_the_hand_example_of_the_chapter():
    Q = torch.tensor([[1., 0., 1., 0.], [0., 1., 0., 1.], [1., 1., 1., 1.]])
    K = torch.tensor([[1., 0., 1., 0.], [0., 1., 0., 1.], [1., 1., 0., 0.]])
    V = torch.tensor([[1., 0.], [0., 1.], [1., 1.]])
    out, w = scaled_dot_product_attention(Q, K, V)
    # scores of row 0: (2, 0, 1) / sqrt(4) = (1, 0, 0.5)
    e = torch.tensor([math.e, 1.0, math.exp(0.5)])
    assert torch.allclose(w[0], e / e.sum())
    assert torch.allclose(out[0], torch.tensor([0.814, 0.494]), atol=1e-3)
    assert torch.allclose(out[2], torch.tensor([2 / 3, 2 / 3]))


def test_scaled_dot_products_of_unit_variance_vectors_have_unit_variance():
    g = torch.Generator().manual_seed(0)
    for d_k in (16, 256):
        q, k = torch.randn(20_000, d_k, generator=g), torch.randn(20_000, d_k, generator=g)
        dots = (q * k).sum(-1)
        assert abs(dots.var().item() / d_k - 1) < 0.05
        assert abs((dots / math.sqrt(d_k)).var().item() - 1) < 0.05


def random_qkv(dtype, seed=0, shape=(2, 4, 7, 8)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=dtype) for _ in range(3)]


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "padding-and-causal"])
def test_explicit_attention_equals_the_fused_kernel(dtype, tol, masked):
    Q, K, V = random_qkv(dtype)
    mask = (padding_mask(padded_tokens()[:2], PAD) & subsequent_mask(7)).unsqueeze(1) if masked else None
    explicit, _ = scaled_dot_product_attention(Q, K, V, mask)
    fused = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask)
    assert (explicit - fused).abs().max().item() <= tol


def test_attention_weights_rows_sum_to_one_and_masked_entries_are_exactly_zero():
    Q, K, V = random_qkv(torch.float32)
    mask = (padding_mask(padded_tokens()[:2], PAD) & subsequent_mask(7)).unsqueeze(1)
    _, w = scaled_dot_product_attention(Q, K, V, mask)
    assert torch.allclose(w.sum(-1), torch.ones(w.shape[:-1]))
    assert (w.masked_select(~mask.expand_as(w)) == 0).all()
    assert (w.masked_select(mask.expand_as(w)) > 0).all()


def test_a_fully_masked_row_gives_no_nan():
    Q, K, V = random_qkv(torch.float32)
    mask = torch.ones(7, 7, dtype=torch.bool)
    mask[3] = False  # query 3 may attend to nothing
    out, w = scaled_dot_product_attention(Q, K, V, mask)
    assert not torch.isnan(out).any() and not torch.isnan(w).any()
    x = inputs(B=2)
    outputs = [make_mha(fused=fused)(x, x, x, mask.unsqueeze(0)) for fused in (True, False)]
    assert not any(torch.isnan(y).any() for y in outputs)
    assert (outputs[0] - outputs[1]).abs().max().item() <= 1e-5  # both paths: uniform weights in that row


# ---------------------------------------------------------------- multi-head attention

def test_multi_head_attention_has_four_d_model_squared_weights_plus_biases():
    mha = MultiHeadAttention(512, 8)
    assert mha.d_k == 64
    assert sum(p.numel() for p in mha.parameters()) == 4 * 512**2 + 4 * 512


def test_a_smaller_key_size_shrinks_only_w_q_and_w_k_table_3_row_b():
    d_model, h, d_k = 64, 4, 4
    mha = MultiHeadAttention(d_model, h, P_drop=0.0, d_k=d_k)
    assert (mha.d_k, mha.d_v) == (d_k, d_model // h)
    assert mha.W_Q.weight.shape == mha.W_K.weight.shape == (h * d_k, d_model)
    assert mha.W_V.weight.shape == mha.W_O.weight.shape == (d_model, d_model)
    assert sum(p.numel() for p in mha.parameters()) == 2 * (h * d_k) * (d_model + 1) + 2 * d_model * (d_model + 1)
    x = torch.randn(2, 5, d_model)
    mask = subsequent_mask(5).expand(2, 5, 5)
    fused = mha(x, x, x, mask)
    with explicit_attention(mha):
        explicit = mha(x, x, x, mask)
    assert fused.shape == (2, 5, d_model) and mha.attn.shape == (2, h, 5, 5)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_key_size_equal_to_d_model_over_h_is_the_paper_s_layer():
    torch.manual_seed(0)
    paper = MultiHeadAttention(D_MODEL, H, P_drop=0.0)
    torch.manual_seed(0)
    same = MultiHeadAttention(D_MODEL, H, P_drop=0.0, d_k=D_MODEL // H)
    x = torch.randn(2, 3, D_MODEL)
    assert torch.equal(paper(x, x, x), same(x, x, x))
    with pytest.raises(ValueError, match="d_k must be >= 1"):
        MultiHeadAttention(D_MODEL, H, d_k=0)


def test_per_head_projections_equal_one_fused_projection():
    mha = make_mha(dtype=torch.float64)
    x = inputs(B=2, dtype=torch.float64)
    d_k = D_MODEL // H
    heads = []
    for i in range(H):
        cols = slice(i * d_k, (i + 1) * d_k)
        proj = [x @ layer.weight.T[:, cols] + layer.bias[cols] for layer in (mha.W_Q, mha.W_K, mha.W_V)]
        heads.append(scaled_dot_product_attention(*proj)[0])
    per_head = mha.W_O(torch.cat(heads, dim=-1))
    for fused in (True, False):
        mha.fused = fused
        assert (mha(x, x, x) - per_head).abs().max().item() <= 1e-10


def torch_masks(case, tokens, T):
    """Our mask and the matching keyword arguments for nn.MultiheadAttention (True = NOT allowed there)."""
    pad = padding_mask(tokens, PAD)
    if case == "none":
        return None, {}
    if case == "key_padding":
        return pad, {"key_padding_mask": ~pad[:, 0]}
    if case == "causal":
        return subsequent_mask(T), {"attn_mask": ~subsequent_mask(T)[0]}
    return pad & subsequent_mask(T), {"key_padding_mask": ~pad[:, 0], "attn_mask": ~subsequent_mask(T)[0]}


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("case", ["none", "key_padding", "causal", "key_padding_and_causal"])
def test_multi_head_matches_torch_multihead_attention(fused, case):
    ours = make_mha(fused=fused)
    theirs = torch_twin(ours)
    x = inputs()
    mask, kwargs = torch_masks(case, padded_tokens(), 7)
    with torch.no_grad():
        ref, ref_w = theirs(x, x, x, need_weights=True, **kwargs)
        out = ours(x, x, x, mask)
    assert (out - ref).abs().max().item() <= 1e-5
    if not fused:
        assert (ours.attn.mean(1) - ref_w).abs().max().item() <= 1e-6


def test_encoder_decoder_attention_matches_torch_with_different_query_and_key_lengths():
    ours = make_mha(fused=False)
    theirs = torch_twin(ours)
    query, memory = inputs(T=5, seed=2), inputs(T=7, seed=3)
    src = padding_mask(padded_tokens(), PAD)
    with torch.no_grad():
        ref, ref_w = theirs(query, memory, memory, key_padding_mask=~src[:, 0])
        out = ours(query, memory, memory, src)
    assert out.shape == (3, 5, D_MODEL) and ours.attn.shape == (3, H, 5, 7)
    assert (out - ref).abs().max().item() <= 1e-5
    assert (ours.attn.mean(1) - ref_w).abs().max().item() <= 1e-6


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_changing_future_tokens_does_not_change_earlier_outputs(fused):
    mha = make_mha(fused=fused)
    x = inputs()
    x_future = x.clone()
    x_future[:, 4:] = inputs(seed=9)[:, 4:]
    with torch.no_grad():
        a = mha(x, x, x, subsequent_mask(7))
        b = mha(x_future, x_future, x_future, subsequent_mask(7))
    assert torch.equal(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_changing_padded_keys_does_not_change_outputs(fused):
    mha = make_mha(fused=fused)
    tokens = padded_tokens()
    mask = padding_mask(tokens, PAD)
    query, memory = inputs(T=5, seed=2), inputs()
    memory_changed = torch.where((tokens == PAD)[..., None], inputs(seed=7), memory)  # new vectors at padding
    assert not torch.equal(memory, memory_changed)
    with torch.no_grad():
        a = mha(query, memory, memory, mask)
        b = mha(query, memory_changed, memory_changed, mask)
    assert torch.equal(a, b)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_gradients_reach_w_q_w_k_w_v_and_w_o(fused):
    mha = make_mha(fused=fused)
    x = inputs()
    mha(x, x, x, padding_mask(padded_tokens(), PAD) & subsequent_mask(7)).pow(2).sum().backward()
    for layer in (mha.W_Q, mha.W_K, mha.W_V, mha.W_O):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
        assert layer.bias.grad is not None


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_the_same_seed_gives_identical_outputs_with_dropout_in_training(fused):
    mha = make_mha(fused=fused, P_drop=0.5).train()
    x = inputs()
    runs = []
    for seed in (123, 123, 124):
        torch.manual_seed(seed)
        runs.append(mha(x, x, x, subsequent_mask(7)))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])  # dropout is really on
    mha.eval()
    assert torch.equal(mha(x, x, x), mha(x, x, x))  # and off in eval mode


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_float32_and_bfloat16_agree_on_cpu(fused):
    mha32 = make_mha(fused=fused)
    mha16 = copy.deepcopy(mha32).to(torch.bfloat16)
    x = inputs()
    mask = padding_mask(padded_tokens(), PAD) & subsequent_mask(7)
    with torch.no_grad():
        y32 = mha32(x, x, x, mask)
        y16 = mha16(x.bfloat16(), x.bfloat16(), x.bfloat16(), mask)
    assert y16.dtype == torch.bfloat16
    assert (y16.float() - y32).abs().max().item() <= 5e-2


def test_explicit_attention_switches_every_layer_and_restores_them():
    model = nn.ModuleList([make_mha(fused=True), make_mha(fused=True, seed=1)])
    x = inputs()
    with explicit_attention(model):
        assert all(not m.fused for m in model)
        for m in model:
            m(x, x, x)
            assert m.attn.shape == (3, H, 7, 7)
    assert all(m.fused for m in model)
    with pytest.raises(RuntimeError):
        with explicit_attention(model):
            raise RuntimeError("boom")
    assert all(m.fused for m in model)


# ---------------------------------------------------------------- errors name the problem

def test_d_model_not_divisible_by_h_is_a_clear_error():
    with pytest.raises(ValueError, match="d_model = 30 is not divisible by h = 4"):
        MultiHeadAttention(30, 4)


@pytest.mark.parametrize("which", ["query", "key", "value"])
def test_a_wrong_last_dim_of_query_key_or_value_is_a_clear_error(which):
    mha = make_mha()
    args = {"query": inputs(), "key": inputs(), "value": inputs()}
    args[which] = torch.randn(3, 7, D_MODEL + 1)
    with pytest.raises(ValueError, match=rf"{which} must be \(B, T, d_model=32\), got shape \(3, 7, 33\)"):
        mha(**args)


def test_key_and_value_of_different_lengths_is_a_clear_error():
    with pytest.raises(ValueError, match=r"key and value need the same \(B, T_k\)"):
        make_mha()(inputs(), inputs(), inputs(T=6))
    Q, K, V = random_qkv(torch.float32)
    with pytest.raises(ValueError, match="K and V need the same length T_k"):
        scaled_dot_product_attention(Q, K, V[..., :6, :])
    with pytest.raises(ValueError, match="Q and K need the same last dim d_k"):
        scaled_dot_product_attention(Q[..., :5], K, V)


@pytest.mark.parametrize("shape", [(3, 7), (3, 7, 6), (2, 1, 7), (3, 6, 7), (3, 1, 1, 7)])
def test_a_mask_of_the_wrong_shape_is_a_clear_error(shape):
    x = inputs()
    with pytest.raises(ValueError, match="mask must be"):
        make_mha()(x, x, x, torch.ones(shape, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        make_mha()(x, x, x, torch.ones(3, 1, 7))
    Q, K, V = random_qkv(torch.float32)
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(Q, K, V, torch.ones(7, 6, dtype=torch.bool))

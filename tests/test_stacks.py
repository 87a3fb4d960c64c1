"""Tests for transformer_book.stacks (§3.1): residual wrapper, encoder and decoder layers and stacks."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from transformer_book.stacks import (Decoder, DecoderLayer, Encoder, EncoderLayer, SublayerConnection, clones)

B, T_SRC, T_TGT, D_MODEL, D_FF, N = 2, 5, 4, 16, 32, 2


class MeanAttention(nn.Module):
    """Stand-in attention: equal weight on every allowed key (mask: True = may attend), plus a
    term in the query, so that a pre-LN norm in front of the decoder's src_attn gets a gradient too."""

    def __init__(self, d_model):
        super().__init__()
        self.W_Q, self.W_V, self.W_O = (nn.Linear(d_model, d_model) for _ in range(3))

    def forward(self, query, key, value, mask=None):
        b, t_q, t_k = query.shape[0], query.shape[1], key.shape[1]
        allowed = torch.ones(b, t_q, t_k, dtype=torch.bool) if mask is None else mask.expand(b, t_q, t_k)
        weights = allowed.float() / allowed.sum(-1, keepdim=True).clamp(min=1)
        return self.W_O(weights @ self.W_V(value)) + self.W_Q(query)


class TinyFFN(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.W_1, self.W_2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.W_2(torch.relu(self.W_1(x)))


def causal_mask(size):
    return torch.ones(size, size, dtype=torch.bool).tril().unsqueeze(0)


def make_model(norm_first=False, P_drop=0.1, n_layers=N, seed=0):
    torch.manual_seed(seed)
    enc = Encoder(EncoderLayer(D_MODEL, MeanAttention(D_MODEL), TinyFFN(D_MODEL, D_FF), P_drop, norm_first), n_layers)
    dec = Decoder(DecoderLayer(D_MODEL, MeanAttention(D_MODEL), MeanAttention(D_MODEL), TinyFFN(D_MODEL, D_FF),
                               P_drop, norm_first), n_layers)
    return enc, dec


def inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(B, T_SRC, D_MODEL, generator=g)
    tgt = torch.randn(B, T_TGT, D_MODEL, generator=g)
    src_mask = torch.ones(B, 1, T_SRC, dtype=torch.bool)
    return src, tgt, src_mask, causal_mask(T_TGT)


def run(enc, dec, src, tgt, src_mask, tgt_mask):
    memory = enc(src, src_mask)
    return memory, dec(tgt, memory, src_mask, tgt_mask)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_and_decoder_keep_the_shape_batch_time_d_model(norm_first):
    enc, dec = make_model(norm_first)
    src, tgt, src_mask, tgt_mask = inputs()
    memory, out = run(enc, dec, src, tgt, src_mask, tgt_mask)
    assert memory.shape == (B, T_SRC, D_MODEL)
    assert out.shape == (B, T_TGT, D_MODEL)
    assert len(enc.layers) == N and len(dec.layers) == N


def test_the_default_is_the_papers_post_ln():
    layer = EncoderLayer(D_MODEL, MeanAttention(D_MODEL), TinyFFN(D_MODEL, D_FF))
    assert layer.norm_first is False
    assert all(not s.norm_first for s in layer.sublayer)
    assert SublayerConnection(D_MODEL).dropout.p == 0.1


def test_post_ln_output_is_normalised_at_every_position():
    enc, dec = make_model(norm_first=False)
    enc.eval(), dec.eval()
    memory, out = run(enc, dec, *inputs())
    for y in (memory, out):
        assert torch.allclose(y.mean(-1), torch.zeros(y.shape[:-1]), atol=1e-5)
        assert torch.allclose(y.std(-1, unbiased=False), torch.ones(y.shape[:-1]), atol=1e-3)


def test_pre_ln_stacks_add_a_final_norm_and_post_ln_stacks_do_not():
    post_enc, post_dec = make_model(norm_first=False)
    pre_enc, pre_dec = make_model(norm_first=True)
    assert isinstance(post_enc.norm, nn.Identity) and isinstance(post_dec.norm, nn.Identity)
    assert isinstance(pre_enc.norm, nn.LayerNorm) and isinstance(pre_dec.norm, nn.LayerNorm)
    assert pre_enc.norm.normalized_shape == (D_MODEL,)
    # the final norm is what makes a pre-LN stack end normalised
    pre_enc.eval()
    memory = pre_enc(inputs()[0], None)
    assert torch.allclose(memory.std(-1, unbiased=False), torch.ones(B, T_SRC), atol=1e-3)


def test_dropout_is_off_in_eval_mode_so_outputs_are_deterministic():
    enc, dec = make_model(P_drop=0.5)
    args = inputs()
    enc.eval(), dec.eval()
    first, second = run(enc, dec, *args)[1], run(enc, dec, *args)[1]
    assert torch.equal(first, second)
    enc.train(), dec.train()
    torch.manual_seed(3)
    noisy = run(enc, dec, *args)[1]
    assert not torch.allclose(noisy, first)


def test_sublayer_connection_computes_layernorm_of_x_plus_sublayer_x_in_eval():
    torch.manual_seed(0)
    wrap = SublayerConnection(D_MODEL, P_drop=0.3).eval()
    with torch.no_grad():  # a non-trivial gain and bias
        wrap.norm.weight.uniform_(0.5, 1.5)
        wrap.norm.bias.uniform_(-0.5, 0.5)
    sublayer = nn.Linear(D_MODEL, D_MODEL)
    x = torch.randn(B, T_SRC, D_MODEL)
    s = x + sublayer(x)
    manual = (s - s.mean(-1, keepdim=True)) / torch.sqrt(s.var(-1, unbiased=False, keepdim=True) + wrap.norm.eps)
    manual = manual * wrap.norm.weight + wrap.norm.bias
    assert torch.allclose(wrap(x, sublayer), manual, atol=1e-5)


def test_pre_ln_sublayer_connection_computes_x_plus_sublayer_of_layernorm_x():
    torch.manual_seed(0)
    wrap = SublayerConnection(D_MODEL, P_drop=0.3, norm_first=True).eval()
    sublayer = nn.Linear(D_MODEL, D_MODEL)
    x = 3.0 * torch.randn(B, T_SRC, D_MODEL) + 1.0
    x_hat = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)
    assert torch.allclose(wrap(x, sublayer), x + sublayer(x_hat), atol=1e-5)


def test_dropout_acts_on_the_sublayer_output_not_on_the_residual():
    x = torch.randn(B, T_SRC, D_MODEL)
    sublayer = nn.Linear(D_MODEL, D_MODEL)
    post = SublayerConnection(D_MODEL, P_drop=1.0).train()  # drops every sub-layer output
    pre = SublayerConnection(D_MODEL, P_drop=1.0, norm_first=True).train()
    assert torch.allclose(post(x, sublayer), F.layer_norm(x, (D_MODEL,)), atol=1e-6)
    assert torch.equal(pre(x, sublayer), x)
    # with p = 0.5, the same random draw as F.dropout on the sub-layer output
    half = SublayerConnection(D_MODEL, P_drop=0.5).train()
    torch.manual_seed(7)
    got = half(x, sublayer)
    torch.manual_seed(7)
    manual = F.layer_norm(x + F.dropout(sublayer(x), 0.5, training=True), (D_MODEL,))
    assert torch.allclose(got, manual, atol=1e-6)


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradients_reach_every_parameter_of_an_encoder_decoder(norm_first):
    enc, dec = make_model(norm_first)
    memory, out = run(enc, dec, *inputs())
    (out @ torch.randn(D_MODEL, 3)).pow(2).sum().backward()
    params = list(enc.named_parameters()) + list(dec.named_parameters())
    assert len(params) > 0
    for name, p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_clones_are_independent_copies():
    template = nn.Linear(3, 3)
    copies = clones(template, 3)
    assert isinstance(copies, nn.ModuleList) and len(copies) == 3
    assert all(torch.equal(c.weight, template.weight) for c in copies)
    with torch.no_grad():
        copies[0].weight.zero_()
    assert not torch.equal(copies[1].weight, copies[0].weight)
    assert torch.equal(copies[1].weight, copies[2].weight)
    assert torch.equal(copies[1].weight, template.weight)


def test_clones_needs_a_positive_number_of_copies():
    with pytest.raises(ValueError, match="N must be a positive integer"):
        clones(nn.Linear(2, 2), 0)


def test_layers_deep_copied_into_a_stack_do_not_share_parameters():
    enc, dec = make_model(n_layers=3)
    for stack in (enc, dec):
        pointers = [p.data_ptr() for layer in stack.layers for p in layer.parameters()]
        assert len(pointers) == len(set(pointers))
        with torch.no_grad():
            stack.layers[0].feed_forward.W_1.weight.add_(1.0)
        assert not torch.equal(stack.layers[0].feed_forward.W_1.weight, stack.layers[1].feed_forward.W_1.weight)
    # N layers hold N times the parameters of one
    one = sum(p.numel() for p in enc.layers[0].parameters())
    assert sum(p.numel() for p in enc.parameters()) == 3 * one


def test_masked_decoder_keeps_earlier_outputs_independent_of_future_targets():
    enc, dec = make_model()
    enc.eval(), dec.eval()
    src, tgt, src_mask, tgt_mask = inputs()
    memory, out = run(enc, dec, src, tgt, src_mask, tgt_mask)
    for t in range(T_TGT):
        changed = tgt.clone()
        changed[:, t:] = torch.randn(B, T_TGT - t, D_MODEL)
        out2 = dec(changed, memory, src_mask, tgt_mask)
        assert torch.allclose(out2[:, :t], out[:, :t], atol=1e-6), f"a change at {t} leaked backwards"
        assert not torch.allclose(out2[:, t], out[:, t])
    # without the mask the future does leak
    unmasked = dec(tgt, memory, src_mask, None)
    changed = tgt.clone()
    changed[:, -1] += 1.0
    assert not torch.allclose(dec(changed, memory, src_mask, None)[:, 0], unmasked[:, 0])


class Recorder(nn.Module):
    """Stand-in attention that records how it was called and returns the query."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, query, key, value, mask=None):
        self.calls.append((query, key, value, mask))
        return query


def test_sub_layers_are_called_with_the_right_queries_keys_values_and_masks():
    src, tgt, src_mask, tgt_mask = inputs()
    enc_layer = EncoderLayer(D_MODEL, Recorder(), nn.Identity(), P_drop=0.0)
    enc_layer(src, src_mask)
    q, k, v, m = enc_layer.self_attn.calls[0]
    assert torch.equal(q, src) and k is q and v is q and m is src_mask

    dec_layer = DecoderLayer(D_MODEL, Recorder(), Recorder(), nn.Identity(), P_drop=0.0)
    memory = torch.randn(B, T_SRC, D_MODEL)
    dec_layer(tgt, memory, src_mask, tgt_mask)
    q, k, v, m = dec_layer.self_attn.calls[0]
    assert torch.equal(q, tgt) and k is q and v is q and m is tgt_mask
    q, k, v, m = dec_layer.src_attn.calls[0]
    assert q.shape == tgt.shape and k is memory and v is memory and m is src_mask


def test_a_wrong_last_dimension_raises_a_value_error_naming_expected_and_got():
    wrap = SublayerConnection(D_MODEL)
    with pytest.raises(ValueError, match=r"d_model=16, got shape \(2, 5, 8\)"):
        wrap(torch.randn(2, 5, 8), nn.Identity())
    enc, dec = make_model()
    with pytest.raises(ValueError, match=r"d_model=16, got shape \(2, 5, 12\)"):
        enc(torch.randn(2, 5, 12), None)
    with pytest.raises(ValueError, match=r"memory must have last dimension d_model=16, got shape \(2, 5, 12\)"):
        dec(torch.randn(2, 4, D_MODEL), torch.randn(2, 5, 12), None, causal_mask(4))


def test_a_sublayer_that_changes_the_shape_raises_a_value_error():
    wrap = SublayerConnection(D_MODEL)
    with pytest.raises(ValueError, match=r"sublayer output has shape \(2, 5, 32\)"):
        wrap(torch.randn(2, 5, D_MODEL), nn.Linear(D_MODEL, 32))

"""Tests for transformer_book.embeddings (§3.4): scaled embeddings, the generator, and weight sharing."""
import math

import pytest
import torch
from torch import nn

from transformer_book.embeddings import Embeddings, Generator

VOCAB, D_MODEL = 50, 16


def tied_trio():
    src = Embeddings(VOCAB, D_MODEL)
    tgt = Embeddings(VOCAB, D_MODEL, weight=src.weight)
    gen = Generator(D_MODEL, VOCAB, weight=src.weight)
    return src, tgt, gen


def test_embeddings_scale_the_lookup_by_sqrt_d_model_exactly():
    torch.manual_seed(0)
    embed = Embeddings(VOCAB, D_MODEL)
    tokens = torch.tensor([[0, 3, 49], [7, 7, 1]])
    out = embed(tokens)
    assert out.shape == (2, 3, D_MODEL)
    torch.testing.assert_close(out, embed.weight[tokens] * math.sqrt(D_MODEL), rtol=0, atol=0)


def test_fresh_matrices_are_drawn_from_normal_with_std_one_over_sqrt_d_model():
    torch.manual_seed(0)
    d_model = 256
    for weight in (Embeddings(2000, d_model).weight, Generator(d_model, 2000).proj.weight):
        assert weight.mean().abs() < 0.002
        assert weight.std().item() == pytest.approx(d_model ** -0.5, rel=0.02)


def test_generator_returns_log_probabilities():
    torch.manual_seed(0)
    gen = Generator(D_MODEL, VOCAB)
    log_p = gen(torch.randn(3, 5, D_MODEL))
    assert log_p.shape == (3, 5, VOCAB)
    assert (log_p <= 0).all()
    torch.testing.assert_close(log_p.exp().sum(dim=-1), torch.ones(3, 5))


def test_generator_projection_has_no_bias_so_logits_are_dot_products():
    torch.manual_seed(0)
    src, _, gen = tied_trio()
    assert isinstance(gen.proj, nn.Linear) and gen.proj.bias is None
    x = torch.randn(4, D_MODEL)
    torch.testing.assert_close(gen.proj(x), x @ src.weight.T)
    torch.testing.assert_close(gen(x), torch.log_softmax(x @ src.weight.T, dim=-1))


def test_tied_weights_are_one_parameter_object():
    src, tgt, gen = tied_trio()
    assert src.weight is tgt.weight is gen.proj.weight
    unique = {id(p) for m in (src, tgt, gen) for p in m.parameters()}
    assert len(unique) == 1


def test_a_gradient_step_through_the_generator_changes_the_embeddings():
    torch.manual_seed(0)
    src, tgt, gen = tied_trio()
    tokens = torch.tensor([[1, 2, 3]])
    before_src, before_tgt = src(tokens).detach().clone(), tgt(tokens).detach().clone()
    optimizer = torch.optim.SGD(gen.parameters(), lr=0.5)
    loss = -gen(torch.randn(1, 3, D_MODEL))[0, torch.arange(3), torch.tensor([4, 5, 6])].mean()
    loss.backward()
    assert (src.weight.grad.abs().sum(dim=1) > 0).all()  # the softmax reaches every row
    optimizer.step()
    assert not torch.allclose(src(tokens), before_src)
    assert not torch.allclose(tgt(tokens), before_tgt)


def test_untied_layers_have_separate_parameters():
    src, tgt, gen = Embeddings(VOCAB, D_MODEL), Embeddings(VOCAB, D_MODEL), Generator(D_MODEL, VOCAB)
    ids = {id(src.weight), id(tgt.weight), id(gen.proj.weight)}
    assert len(ids) == 3
    gen(torch.randn(2, D_MODEL)).sum().backward()
    assert src.weight.grad is None and tgt.weight.grad is None


def test_token_ids_out_of_range_are_rejected_with_a_clear_message():
    embed = Embeddings(VOCAB, D_MODEL)
    with pytest.raises(ValueError, match=r"\[0, 50\).*max 50"):
        embed(torch.tensor([[0, 50]]))
    with pytest.raises(ValueError, match=r"min -1"):
        embed(torch.tensor([[-1, 3]]))
    embed(torch.tensor([[0, 49]]))  # both ends of the range are fine


def test_float_token_ids_are_rejected():
    with pytest.raises(TypeError, match="integer"):
        Embeddings(VOCAB, D_MODEL)(torch.tensor([[1.0, 2.0]]))


def test_shared_weight_of_the_wrong_shape_is_rejected():
    wrong = nn.Parameter(torch.zeros(D_MODEL, VOCAB))
    with pytest.raises(ValueError, match=r"\(50, 16\)"):
        Embeddings(VOCAB, D_MODEL, weight=wrong)
    with pytest.raises(ValueError, match=r"\(50, 16\)"):
        Generator(D_MODEL, VOCAB, weight=wrong)
    with pytest.raises(TypeError, match="nn.Parameter"):
        Embeddings(VOCAB, D_MODEL, weight=torch.zeros(VOCAB, D_MODEL))


def test_generator_rejects_the_wrong_last_dimension():
    with pytest.raises(ValueError, match=r"d_model=16"):
        Generator(D_MODEL, VOCAB)(torch.randn(2, 3, 8))


def test_tying_saves_two_vocabulary_matrices():
    def count(*modules):
        return sum(p.numel() for p in {id(p): p for m in modules for p in m.parameters()}.values())
    assert count(*tied_trio()) == VOCAB * D_MODEL
    assert count(Embeddings(VOCAB, D_MODEL), Embeddings(VOCAB, D_MODEL), Generator(D_MODEL, VOCAB)) == 3 * VOCAB * D_MODEL

"""Tests for transformer_book.regularization (§5.4): the label-smoothed loss."""
import math

import pytest
import torch
import torch.nn.functional as F

from transformer_book.regularization import LabelSmoothingLoss


def test_smoothed_targets_put_one_minus_eps_on_the_answer_nothing_on_padding():
    q = LabelSmoothingLoss(vocab=6, eps_ls=0.2, pad_id=0).smoothed_targets(torch.tensor([3, 0]))
    assert q[0].tolist() == pytest.approx([0.0, 0.05, 0.05, 0.8, 0.05, 0.05])
    assert q[1].tolist() == [0.0] * 6
    assert q[0].sum().item() == pytest.approx(1.0)


def test_hand_example_uniform_prediction_costs_log_vocab():
    crit = LabelSmoothingLoss(vocab=5, eps_ls=0.3, pad_id=0)
    loss = crit(torch.full((2, 5), 1 / 5).log(), torch.tensor([2, 0]))
    assert loss.item() == pytest.approx(math.log(5))


def test_without_smoothing_it_equals_torch_cross_entropy_ignoring_padding():
    torch.manual_seed(0)
    logits = torch.randn(4, 7, 13, dtype=torch.float64)
    target = torch.randint(0, 13, (4, 7))
    target[:, -2:] = 0
    ours = LabelSmoothingLoss(13, eps_ls=0.0, pad_id=0)(logits.log_softmax(-1), target)
    ref = F.cross_entropy(logits.reshape(-1, 13), target.reshape(-1), ignore_index=0, reduction="sum")
    assert torch.allclose(ours, ref, atol=1e-10, rtol=0)


def test_smoothed_loss_equals_kl_divergence_plus_the_targets_entropy():
    torch.manual_seed(1)
    V, eps = 9, 0.1
    log_p = torch.randn(5, V, dtype=torch.float64).log_softmax(-1)
    target = torch.tensor([1, 4, 0, 8, 2])
    crit = LabelSmoothingLoss(V, eps, pad_id=0)
    q = crit.smoothed_targets(target, torch.float64)
    kl = F.kl_div(log_p, q, reduction="sum")
    entropy = -torch.xlogy(q, q).sum()
    assert torch.allclose(crit(log_p, target), kl + entropy, atol=1e-12)


def test_loss_is_finite_even_when_the_model_gives_a_token_zero_probability():
    crit = LabelSmoothingLoss(vocab=4, eps_ls=0.1, pad_id=0)
    log_p = torch.tensor([[-math.inf, -1e-3, -8.0, -9.0]])  # zero probability on <pad>, where q = 0
    assert torch.isfinite(crit(log_p, torch.tensor([1])))


def test_smoothed_loss_is_lowest_at_one_minus_eps_confidence():
    V, eps = 50, 0.1
    crit = LabelSmoothingLoss(V, eps, pad_id=0)
    margins = torch.linspace(0, 20, 2001, dtype=torch.float64)
    logits = torch.zeros(len(margins), V, dtype=torch.float64)
    logits[:, 1] = margins
    log_p = logits.log_softmax(-1)
    losses = torch.stack([crit(log_p[i:i + 1], torch.tensor([1])) for i in range(len(margins))])
    assert log_p[losses.argmin(), 1].exp().item() == pytest.approx(1 - eps, abs=2e-3)


def test_gradient_flows_to_the_logits_and_not_through_padding():
    logits = torch.randn(3, 6, requires_grad=True)
    LabelSmoothingLoss(6, 0.1, pad_id=0)(logits.log_softmax(-1), torch.tensor([2, 0, 5])).backward()
    assert logits.grad[1].abs().sum() == 0 and logits.grad[0].abs().sum() > 0


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="eps_ls"):
        LabelSmoothingLoss(10, eps_ls=1.0)
    with pytest.raises(ValueError, match="at least 3"):
        LabelSmoothingLoss(2)
    with pytest.raises(ValueError, match="last dimension vocab=10"):
        LabelSmoothingLoss(10)(torch.zeros(2, 9), torch.tensor([1, 2]))

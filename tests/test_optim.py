"""Tests for transformer_book.optim (§5.3): Adam settings and the warm-up / inverse-square-root schedule."""
import math

import pytest
import torch
from torch import nn

from transformer_book.optim import make_optimizer, rate


def test_rate_rises_linearly_during_warmup_then_decays_as_inverse_square_root():
    d_model, warmup = 512, 4000
    assert rate(2000, d_model, warmup) == pytest.approx(rate(1000, d_model, warmup) * 2)
    assert rate(16000, d_model, warmup) == pytest.approx(rate(8000, d_model, warmup) / math.sqrt(2))


def test_peak_is_at_warmup_steps_and_equals_the_hand_value():
    rates = [rate(s, 512, 4000) for s in range(1, 10001)]
    assert max(range(len(rates)), key=rates.__getitem__) + 1 == 4000
    assert rate(4000, 512, 4000) == pytest.approx(1 / math.sqrt(512 * 4000))


def test_scale_multiplies_the_whole_schedule():
    for s in (1, 100, 5000):
        assert rate(s, 256, 800, scale=0.5) == pytest.approx(0.5 * rate(s, 256, 800))


def test_optimizer_has_the_papers_adam_settings():
    opt, _ = make_optimizer(nn.Linear(3, 3), d_model=512)
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["betas"] == (0.9, 0.98) and opt.defaults["eps"] == 1e-9


def test_scheduler_sets_the_formulas_rate_at_every_step():
    opt, sched = make_optimizer(nn.Linear(3, 3), d_model=64, warmup_steps=50, scale=2.0)
    for step in range(1, 301):
        assert opt.param_groups[0]["lr"] == pytest.approx(rate(step, 64, 50, 2.0))
        opt.step()
        sched.step()


def test_bad_steps_raise_clear_errors():
    with pytest.raises(ValueError, match="step counts from 1"):
        rate(0, 512)
    with pytest.raises(ValueError, match="warmup_steps"):
        rate(10, 512, warmup_steps=0)

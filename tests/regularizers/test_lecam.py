"""LeCam (Tseng et al. 2021): the penalty and its moving averages against a computation written out here."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_r1.regularizers import DiscriminatorPass, LeCam


def test_penalty_and_averages_match_a_hand_computation() -> None:
    torch.manual_seed(0)
    d = nn.Linear(3, 1)
    reg = LeCam(weight=0.5, decay=0.9)
    ema_r = ema_f = None
    for _ in range(3):
        real, fake = torch.randn(6, 3), torch.randn(6, 3)
        d_pass = DiscriminatorPass.forward(d, real, fake, real_grad=False, fake_grad=False)
        got = reg.penalty(d_pass)
        lr, lf = d(real).flatten().tolist(), d(fake).flatten().tolist()
        mr, mf = sum(lr) / 6, sum(lf) / 6
        ema_r = mr if ema_r is None else 0.9 * ema_r + 0.1 * mr
        ema_f = mf if ema_f is None else 0.9 * ema_f + 0.1 * mf
        terms = [max(v - ema_f, 0.0) ** 2 for v in lr] + [max(ema_r - v, 0.0) ** 2 for v in lf]
        assert float(got.detach()) == pytest.approx(0.5 * sum(terms) / 6, rel=1e-5)
        assert (reg.ema_real, reg.ema_fake) == pytest.approx((ema_r, ema_f))
    # the penalty reaches D's weights
    got.backward()
    assert d.weight.grad is not None and d.weight.grad.abs().sum() > 0


def test_averages_round_trip_through_the_state_dict() -> None:
    reg = LeCam()
    reg.update_averages(torch.tensor([1.0, 3.0]), torch.tensor([-2.0]))
    copy = LeCam()
    copy.load_state_dict(reg.state_dict())
    assert (copy.ema_real, copy.ema_fake) == (2.0, -2.0)


@pytest.mark.parametrize("kwargs", [{"weight": -1.0}, {"decay": 1.0}, {"decay": -0.1}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="weight|decay"):
        LeCam(**kwargs)

"""The one schedule vocabulary (lightning_r1/schedules.py) against independent computations: torch's own LR
schedulers for the cosine and the linear ramp, and R3GAN's ``cosine_decay_with_warmup`` written out in images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lightning_r1 import R1
from lightning_r1.schedules import Schedule


def torch_scheduler_values(make_scheduler, start: float, steps: int) -> list[float]:
    """The lr a torch LRScheduler gives at steps 0..steps-1, starting from ``start``."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=start)
    scheduler = make_scheduler(opt)
    values = []
    for _ in range(steps):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return values


def test_cosine_matches_torch_cosine_annealing() -> None:
    start, end, length = 2e-4, 5e-5, 40
    reference = torch_scheduler_values(
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=length, eta_min=end),
        start,
        length + 1,
    )
    schedule = Schedule("cosine", start, end, length)
    np.testing.assert_allclose([schedule.value_at(i) for i in range(length + 1)], reference, rtol=1e-9)
    assert schedule.value_at(10 * length) == end  # then it stays at the end value


def test_linear_matches_torch_linear_lr() -> None:
    start, end, length = 0.99, 0.9, 25  # LinearLR only ramps down (end_factor <= 1)
    reference = torch_scheduler_values(
        lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 1.0, end / start, total_iters=length),
        start,
        length + 5,
    )
    schedule = Schedule("linear", start, end, length)
    np.testing.assert_allclose([schedule.value_at(i) for i in range(length + 5)], reference, rtol=1e-9)


def r3gan_cosine_decay_with_warmup(nimg, base, total, final, warmup_value, warmup_nimg, hold_nimg) -> float:
    """R3GAN's training_loop.py formula (in images), restated here from its description: linear warm-up, hold,
    cosine to ``final`` at ``total``, ``final`` after."""
    if nimg > total:
        return final
    if warmup_nimg and nimg < warmup_nimg:
        return warmup_value + (base - warmup_value) * nimg / warmup_nimg
    if nimg <= warmup_nimg + hold_nimg:
        return base
    decayed = 0.5 * (
        1 + math.cos(math.pi * (nimg - warmup_nimg - hold_nimg) / (total - warmup_nimg - hold_nimg))
    )
    return final + decayed * (base - final)


@pytest.mark.parametrize("warmup, hold", [(0, 0), (10, 0), (0, 15), (10, 15)])
def test_cosine_warmup_matches_r3gans_formula_in_images(warmup: int, hold: int) -> None:
    batch, length = 512, 100  # one generator iteration = one global batch of images
    schedule = Schedule("cosine_warmup", 0.05, 0.005, length, warmup=warmup, hold=hold, warmup_start=0.001)
    for iteration in [0, 1, 5, warmup, warmup + 1, warmup + hold, warmup + hold + 1, 50, 77, 99, 100, 150]:
        expected = r3gan_cosine_decay_with_warmup(
            iteration * batch, 0.05, length * batch, 0.005, 0.001, warmup * batch, hold * batch
        )
        assert schedule.value_at(iteration) == pytest.approx(expected, rel=1e-12), iteration


def test_chosen_values_by_hand() -> None:
    # warm-up 0 → 1 over 10, hold 1 until 30, cosine 1 → 0 over iterations 30..130 (its middle at 80)
    schedule = Schedule("cosine_warmup", 1.0, 0.0, 130, warmup=10, hold=20)
    assert [schedule.value_at(i) for i in (0, 5, 10, 29, 80, 130)] == pytest.approx([0, 0.5, 1, 1, 0.5, 0])
    assert Schedule("constant", 3.0).value_at(10**9) == 3.0
    assert Schedule.from_config(7, "x").value_at(5) == 7.0


def test_regularizer_cosine_warmup_follows_the_same_vocabulary() -> None:
    r1 = R1(gamma={"kind": "cosine_warmup", "start": 2.0, "end": 0.2, "length": 20, "warmup": 4})
    assert [r1.strength_at(i) for i in (0, 2, 4, 20)] == pytest.approx([0.0, 1.0, 2.0, 0.2])
    assert r1.strength_at(12) == pytest.approx(1.1)  # the cosine's middle: (2 + 0.2) / 2


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Schedule("step", 1.0, 0.0, 10, name="lr_g"), r"`lr_g\.kind` to be one of"),
        (
            lambda: Schedule("cosine", 1.0, None, 10, name="lr_g"),
            r"`lr_g\.end` to be a finite float, got None",
        ),
        (
            lambda: Schedule("linear", 1.0, 0.0, 0, name="beta2"),
            r"`beta2\.length` to be an integer >= 1, got 0",
        ),
        (lambda: Schedule("cosine", 1.0, 0.0, 10, warmup=2, name="b"), r"`b\.warmup` and `b\.hold` to be 0"),
        (lambda: Schedule("cosine_warmup", 1.0, 0.0, 10, warmup=5, hold=5), r"warmup` \+ .* < "),
        (
            lambda: Schedule.from_config({"kind": "cosine", "stop": 1}, "lr_d"),
            r"`lr_d`: unknown field `stop`",
        ),
        (lambda: Schedule.from_config("fast", "lr_d"), r"Expected `lr_d` to be a number or a mapping"),
    ],
)
def test_bad_schedules_name_the_field(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()

"""ADA's controller (Karras et al. 2020, §3): r_t = E[sign(D(real))] per interval, p stepped toward the target."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_r1.augment import ADA, ada_update
from lightning_r1.progress import Progress


def test_one_adjustment_moves_p_by_the_interval_images_over_the_speed() -> None:
    # 4 steps of batch 64 over a speed of 500k images: ± 256 / 500000 per adjustment, clipped to [0, max_p]
    assert ada_update(0.5, 0.9, 0.6, 256, 500_000, 1.0) == pytest.approx(0.5 + 0.000512)
    assert ada_update(0.5, 0.1, 0.6, 256, 500_000, 1.0) == pytest.approx(0.5 - 0.000512)
    assert ada_update(0.0, 0.1, 0.6, 256, 500_000, 1.0) == 0.0
    assert ada_update(0.79, 1.0, 0.6, 256, 1_000, 0.8) == 0.8


def test_the_controller_adapts_every_interval_from_the_sign_of_real_logits() -> None:
    ada = ADA(target=0.6, interval=2, speed_images=80)
    # interval 1: 3 of 4 positive per step → r_t = 0.5 < 0.6 → p stays at 0 (clipped)
    # intervals 2-3: all positive → r_t = 1 → p += 8/80 each; interval 4: all negative → p -= 8/80
    batches = [[1.0, 2.0, 3.0, -1.0]] * 2 + [[1.0, 1.0, 1.0, 1.0]] * 4 + [[-1.0] * 4] * 2
    expected_p, expected_rt = [], []
    p = 0.0
    for k in range(4):
        signs = [1 if v > 0 else -1 for step in batches[2 * k : 2 * k + 2] for v in step]
        r_t = sum(signs) / len(signs)
        if r_t > 0.6:
            p = min(p + 8 / 80, 1.0)
        elif r_t < 0.6:
            p = max(p - 8 / 80, 0.0)
        expected_p.append(p)
        expected_rt.append(r_t)
    seen_p, seen_rt = [], []
    for i, logits in enumerate(batches):
        ada.observe(torch.tensor(logits))
        if i % 2 == 1:
            seen_p.append(ada.p)
            seen_rt.append(ada.r_t)
    assert seen_p == pytest.approx(expected_p) and seen_rt == pytest.approx(expected_rt)
    assert ada.values() == {"train/aug_p": pytest.approx(0.1), "train/ada_rt": -1.0}


def test_the_state_round_trips_mid_interval() -> None:
    ada = ADA(interval=4, speed_images=10)
    for v in (1.0, 1.0, 1.0, 1.0, -1.0):
        ada.observe(torch.full((3,), v))
    copy = ADA(interval=4, speed_images=10)
    copy.load_state_dict(ada.state_dict())
    for v in (1.0, 1.0, 1.0):
        ada.observe(torch.full((3,), v))
        copy.observe(torch.full((3,), v))
    assert copy.p == ada.p and copy.r_t == ada.r_t == pytest.approx(0.5)


def test_a_fixed_target_free_probability_follows_its_linear_ramp() -> None:
    ada = ADA(target=None, p={"kind": "linear", "start": 0.1, "end": 0.5, "length": 8})
    ada.progress = Progress()
    ramp = []
    for it in (0, 2, 8, 20):
        ada.progress.iteration = it
        ramp.append(ada.p)
    assert ramp == pytest.approx([0.1, 0.2, 0.5, 0.5])
    ada.observe(torch.ones(4))  # r_t is still measured, p is not adapted
    assert ada.p == pytest.approx(0.5)
    capped = ADA(target=None, p={"kind": "linear", "start": 0.1, "end": 0.9, "length": 8}, max_p=0.3)
    capped.progress = Progress()
    capped.progress.iteration = 8
    assert capped.p == pytest.approx(0.3)


def test_a_cosine_probability_schedule_is_half_a_cosine_from_p_to_p_final() -> None:
    # R3GAN-style fixed p on a cosine: p(t) = p_final + (p - p_final)·(1 + cos(π t / T)) / 2, then p_final
    ada = ADA(target=None, p={"kind": "cosine", "start": 0.0, "end": 0.55, "length": 10})
    ada.progress = Progress()
    for it in (0, 3, 5, 9, 10, 25):
        ada.progress.iteration = it
        t = min(it, 10) / 10
        assert ada.p == pytest.approx(0.55 + (0.0 - 0.55) * (1 + math.cos(math.pi * t)) / 2, abs=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"target": None, "p": {"kind": "step", "start": 0.0, "end": 0.5}}, "`p.kind`"),
        ({"target": None, "p": {"kind": "linear", "start": 0.0, "end": 1.5}}, "`p.end` to be a probability"),
        ({"p": {"kind": "linear", "start": 0.0, "end": 0.5}}, "`p` to be a number with an adaptive `target`"),
        ({"ops": ["xflip", "rotate"]}, "unknown op 'rotate'"),
        ({"p": 1.5}, "`p` to be a probability in \\[0, 1\\], got 1.5"),
        ({"max_p": -0.1}, "`max_p`"),
        ({"target": 1.0}, "`target` to be in \\(0, 1\\)"),
        ({"target": 0.0}, "`target` to be in \\(0, 1\\)"),
        ({"interval": 0}, "`interval`"),
    ],
)
def test_bad_arguments_are_one_line(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ADA(**kwargs)

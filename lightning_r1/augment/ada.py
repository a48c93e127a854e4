"""Adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial Networks with Limited
Data", §3, StyleGAN2-ADA).

The overfitting heuristic is the share of real images D calls real, from its logits on the (augmented) real batch:

    r_t = E[sign(D(x_real))]            over the images of the last ``interval`` D steps

Every ``interval`` D steps (4 in the paper) ``p`` moves toward keeping r_t at ``target`` (0.6):

    p ← clip(p + sign(r_t − target) · images / speed_images, 0, max_p)

where ``images`` is the global number of real images in those steps, so ``p`` can cross 0 → 1 in ``speed_images``
images (500k in the paper). ``max_p`` caps it (users cap it near 0.8: above it, augmentations can leak into G;
StyleGAN2-ADA issue #27). With ``target=None`` ``p`` is not adapted: fixed, or ramped as :class:`Augment` does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from lightning_r1.augment.base import Augment, check_probability
from lightning_r1.schedules import Schedule

ADA_OPS = ("xflip", "translation", "brightness", "contrast", "saturation", "cutout")


def ada_update(p: float, r_t: float, target: float, images: int, speed_images: float, max_p: float) -> float:
    """One ADA adjustment: ``clip(p + sign(r_t − target) · images / speed_images, 0, max_p)``.

    Args:
        p: the current probability.
        r_t: E[sign(D(real))] over the interval.
        target: the r_t to hold (0.6 in the paper).
        images: real images (global) observed in the interval.
        speed_images: images over which p may move from 0 to 1.
        max_p: the cap.

    Returns:
        The new probability.
    """
    step = math.copysign(images / speed_images, r_t - target) if r_t != target else 0.0
    return min(max(p + step, 0.0), max_p)


class ADA(Augment):
    """Each op per sample with probability ``p``, ``p`` adapted from r_t = E[sign(D(real))] toward ``target``.

    Args:
        ops: op names, in order (a subset of StyleGAN2-ADA's pipeline by default: xflip, integer translation,
            colour, cutout).
        target: the r_t to hold, in (0, 1); None: no adaptation (``p`` fixed, or following its schedule).
        p: the initial probability; with ``target`` None, a number or a schedule (R3GAN: ``{kind: cosine,
            start: 0.0, end: 0.55}``), as :class:`Augment`'s.
        max_p: the cap on p, in [0, 1].
        interval: D steps between adjustments (4 in the paper).
        speed_images: global real images over which p can move from 0 to 1 (500k in the paper).

    Raises:
        ValueError: unknown op, probability outside [0, 1], target outside (0, 1), non-positive interval or speed.
    """

    name = "ada"

    def __init__(
        self,
        ops: Sequence[str] = ADA_OPS,
        target: float | None = 0.6,
        p: float | Schedule | Mapping[str, Any] = 0.0,
        max_p: float = 1.0,
        interval: int = 4,
        speed_images: float = 500_000,
    ) -> None:
        super().__init__(ops, p)
        if target is not None and not (
            isinstance(target, int | float) and not isinstance(target, bool) and 0.0 < target < 1.0
        ):
            raise ValueError(f"Expected `target` to be in (0, 1) or null, got {target!r}")
        if target is not None and not self.p_schedule.is_constant:
            raise ValueError(
                "Expected `p` to be a number with an adaptive `target` (set target=null to schedule p)"
            )
        self.max_p = check_probability("max_p", max_p)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"Expected `interval` to be a positive integer, got {interval!r}")
        if (
            isinstance(speed_images, bool)
            or not isinstance(speed_images, int | float)
            or not speed_images > 0
        ):
            raise ValueError(f"Expected `speed_images` to be a positive number, got {speed_images!r}")
        self.target = None if target is None else float(target)
        self.interval = interval
        self.speed_images = float(speed_images)
        self.adaptive_p = min(self.p_schedule.start, self.max_p)

    @property
    def p(self) -> float:
        """The adapted probability, or (``target`` None) the fixed or ramped one; never above ``max_p``."""
        return min(super().p, self.max_p) if self.target is None else self.adaptive_p

    def adapt(self, r_t: float, images: int) -> None:
        """One ADA adjustment of ``p`` from the interval's r_t (none when ``target`` is None)."""
        if self.target is not None:
            self.adaptive_p = ada_update(
                self.adaptive_p, r_t, self.target, images, self.speed_images, self.max_p
            )

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "p": self.adaptive_p}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.adaptive_p = state_dict["p"]

    def __repr__(self) -> str:
        return f"ADA(ops={list(self.ops)}, target={self.target}, p={self.p}, max_p={self.max_p})"

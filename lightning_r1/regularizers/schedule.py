"""Penalty-strength schedules over generator iterations."""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")


def scheduled_strength(
    start: float, schedule: str, final: float | None, iteration: int, total_iterations: int | None
) -> float:
    """Strength at ``iteration``.

    ``constant`` returns ``start``. ``cosine`` decays from ``start`` to ``final`` over ``total_iterations`` along
    half a cosine and then stays at ``final`` (R3GAN, Huang et al. 2024, §4 decays gamma this way).
    """
    if schedule == "constant" or final is None or not total_iterations:
        return start
    progress = min(max(iteration, 0) / total_iterations, 1.0)
    return final + (start - final) * 0.5 * (1.0 + math.cos(math.pi * progress))

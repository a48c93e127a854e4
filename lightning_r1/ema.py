"""Exponential moving average of the generator's weights, with the decay given as a half-life in images.

Karras et al. 2020 (StyleGAN2-ADA, training_loop.py) express the EMA as the number of images over which an old
weight's contribution halves: beta = 0.5 ** (batch_size / half_life_images), with a ramp-up early in training
(half-life at most ``rampup`` × images seen) so the average does not drag in the random initialisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema_copy(generator: nn.Module) -> nn.Module:
    """A frozen deep copy of ``generator`` to hold the averaged weights.

    It keeps the generator's train/eval mode (Lightning warns about modules left in eval mode at the start of
    training); every use of it goes through ``GAN.generate``, which switches it to eval mode for that call.
    """
    ema = copy.deepcopy(generator)
    return ema.requires_grad_(False)


def ema_beta(batch_size: int, images_seen: int, half_life_images: float, rampup: float | None) -> float:
    """Per-update decay beta for the current step; 0 (plain copy) when the half-life is 0."""
    half_life = half_life_images
    if rampup is not None:
        half_life = min(half_life, images_seen * rampup)
    if half_life <= 0:
        return 0.0
    return 0.5 ** (batch_size / half_life)


@torch.no_grad()
def update_ema(ema: nn.Module, generator: nn.Module, beta: float) -> None:
    """ema ← beta·ema + (1 − beta)·generator for parameters; buffers (e.g. BatchNorm statistics) are copied."""
    for p_ema, p in zip(ema.parameters(), generator.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), generator.buffers(), strict=True):
        b_ema.copy_(b)

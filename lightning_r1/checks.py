"""Checks before the first training step: the argument check shared by the GAN module, the app, the data modules and
the model builders, and the pre-flight check that G, D and the data agree on shapes."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import torch
from torch import nn


def check_positive_int(field: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer (bools excluded).

    Raises:
        ValueError: ``Expected `field` to be a positive integer, got value``.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise ValueError(f"Expected `{field}` to be a positive integer, got {value!r}")
    return int(value)


@torch.no_grad()
def check_sample_shapes(
    generator: nn.Module,
    discriminator: nn.Module,
    latent_dim: int,
    sample_shape: torch.Size,
    source: str,
    device: torch.device,
    num_classes: int | None = None,
) -> None:
    """Fail before the first step when G's samples or D's input do not match the data.

    ``num_classes``: a conditional pair is called as ``G(z, y)`` and ``D(x, y)`` (labels 0 here).

    Raises:
        ValueError: naming both shapes, e.g. data (1, 32, 32) against generator output (3, 64, 64).
    """
    extra = () if num_classes is None else (torch.zeros(2, dtype=torch.long, device=device),)
    was_training = generator.training
    generator.eval()
    try:
        fake = generator(torch.zeros(2, latent_dim, device=device, dtype=parameter_dtype(generator)), *extra)
    finally:
        generator.train(was_training)
    if tuple(fake.shape[1:]) != tuple(sample_shape):
        raise ValueError(
            f"{source} gives samples of shape {tuple(sample_shape)} but the generator produces "
            f"{tuple(fake.shape[1:])}; set model.resolution / model.channels (or the dataset's) to match"
        )
    was_training = discriminator.training
    discriminator.eval()  # no state update: spectral norm's power iteration runs in training mode only
    try:
        out = discriminator(
            torch.zeros(2, *sample_shape, device=device, dtype=parameter_dtype(discriminator)), *extra
        )
    finally:
        discriminator.train(was_training)
    if out.numel() != 2:
        raise ValueError(
            f"Expected the discriminator to return one logit per sample ([N] or [N, 1]), got {tuple(out.shape)}"
        )


def parameter_dtype(module: nn.Module) -> torch.dtype:
    """The floating dtype of ``module``'s weights (float64 under ``precision="64-true"``); the default otherwise."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.get_default_dtype())

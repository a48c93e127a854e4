"""Small helpers of the training loop: pre-flight shape check, freezing D, RNG state capture for exact resume."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into ``module``'s weights (the G step needs ∂D/∂x only, not ∂D/∂psi)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


@torch.no_grad()
def check_sample_shapes(
    generator: nn.Module,
    discriminator: nn.Module,
    latent_dim: int,
    sample_shape: torch.Size,
    source: str,
    device: torch.device,
) -> None:
    """Fail before the first step when G's samples or D's input do not match the data.

    Raises:
        ValueError: naming both shapes, e.g. data (1, 32, 32) against generator output (3, 64, 64).
    """
    was_training = generator.training
    generator.eval()
    try:
        fake = generator(torch.zeros(2, latent_dim, device=device))
    finally:
        generator.train(was_training)
    if tuple(fake.shape[1:]) != tuple(sample_shape):
        raise ValueError(
            f"{source} gives samples of shape {tuple(sample_shape)} but the generator produces "
            f"{tuple(fake.shape[1:])}; set model.resolution / model.channels (or the dataset's) to match"
        )
    out = discriminator(torch.zeros(2, *sample_shape, device=device))
    if out.numel() != 2:
        raise ValueError(
            f"Expected the discriminator to return one logit per sample ([N] or [N, 1]), got {tuple(out.shape)}"
        )


def rng_states() -> dict[str, Any]:
    """Python, NumPy, torch CPU (and CUDA) RNG states, so a resumed run draws the same numbers."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])

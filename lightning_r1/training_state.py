"""Small helpers of the training loop: pre-flight shape check, freezing D, the non-finite error, resumable progress."""

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


class NonFiniteLossError(RuntimeError):
    """A loss or penalty became NaN/Inf; the message names the iteration and the term."""

    @classmethod
    def from_terms(
        cls, iteration: int, loss: torch.Tensor, terms: dict[str, torch.Tensor]
    ) -> NonFiniteLossError:
        bad = next((name for name, value in terms.items() if not torch.isfinite(value).all()), None)
        if bad is None and bool(torch.isfinite(loss)):  # under DDP: another process saw the NaN
            return cls(
                f"iteration {iteration}: a loss is not finite on another process; training stopped on every "
                "process and the last good checkpoint is kept (set gan.skip_nonfinite=true to skip such steps)"
            )
        bad = bad or "the loss"
        value = float(terms[bad]) if bad in terms else float(loss)
        return cls(
            f"iteration {iteration}: {bad} is {value}; training stopped and the last good checkpoint is kept "
            "(set gan.skip_nonfinite=true to skip such steps instead)"
        )


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
        fake = generator(torch.zeros(2, latent_dim, device=device, dtype=parameter_dtype(generator)))
    finally:
        generator.train(was_training)
    if tuple(fake.shape[1:]) != tuple(sample_shape):
        raise ValueError(
            f"{source} gives samples of shape {tuple(sample_shape)} but the generator produces "
            f"{tuple(fake.shape[1:])}; set model.resolution / model.channels (or the dataset's) to match"
        )
    out = discriminator(torch.zeros(2, *sample_shape, device=device, dtype=parameter_dtype(discriminator)))
    if out.numel() != 2:
        raise ValueError(
            f"Expected the discriminator to return one logit per sample ([N] or [N, 1]), got {tuple(out.shape)}"
        )


def parameter_dtype(module: nn.Module) -> torch.dtype:
    """The floating dtype of ``module``'s weights (float64 under ``precision="64-true"``); the default otherwise."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.get_default_dtype())


def rng_states() -> dict[str, Any]:
    """Python, NumPy, torch CPU (and this process's CUDA device) RNG states, so a resumed run draws the same numbers.

    Under DDP the checkpoint comes from rank 0 and every rank restores these states. That is exact because every
    rank's generators are in the same state by construction: all are seeded alike and every random draw is made
    for the global batch (``lightning_r1.distributed``), which tests/test_scale_equivalence.py checks. The CUDA
    state is the *current* device's only: ``get_rng_state_all`` would hand rank 1 the state rank 0 saw of
    device 1, which rank 0 never used (README, "Scaling up").
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # plain Python/torch types only, so Lightning can reload the checkpoint with torch.load(weights_only=True)
    numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))
    states = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda_device"] = torch.cuda.get_rng_state()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda_device" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda_device"])  # onto this process's current device


class ResumableProgressMixin:
    """Saves the counters named in ``PROGRESS`` and the RNG states in every checkpoint, and restores them, so a
    resumed run continues bit for bit (on CPU)."""

    PROGRESS: tuple[str, ...] = ()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        progress = {key: getattr(self, key) for key in self.PROGRESS}
        checkpoint["lightning_r1"] = progress | {"rng_states": rng_states()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["lightning_r1"]
        for key in self.PROGRESS:
            setattr(self, key, state[key])
        restore_rng_states(state["rng_states"])

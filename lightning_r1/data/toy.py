"""2-D Gaussian mixtures used to measure mode coverage (PacGAN, Lin et al. 2018).

- ``ring8``: 8 modes evenly spaced on the unit circle, std 0.01.
- ``grid25``: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.

Both are infinite streams drawn fresh every batch (seeded per batch, see resumable.py); ``modes`` and ``std`` are
exposed for the toy metrics (high-quality sample: within 3 std of its nearest mode).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lightning_r1.data.base import StreamDataModule
from lightning_r1.data.streams import GaussianMixtureStream


def ring_modes(num_modes: int = 8, radius: float = 1.0) -> Tensor:
    """Centres ``[num_modes, 2]`` evenly spaced on a circle, the first at ``(radius, 0)``."""
    angles = torch.arange(num_modes, dtype=torch.float64) * (2 * math.pi / num_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).to(torch.float32)


def grid_modes(values: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)) -> Tensor:
    """Centres ``[len(values)**2, 2]`` on the square grid ``values x values``."""
    axis = torch.tensor(values, dtype=torch.float32)
    return torch.cartesian_prod(axis, axis)


def _check_std(std: float) -> float:
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not std > 0:
        raise ValueError(f"Expected `std` to be a positive float, got {std!r}")
    return float(std)


class GaussianMixtureDataModule(StreamDataModule):
    """Infinite stream from an equal-weight mixture of 2-D Gaussians.

    Attributes:
        modes: mode centres ``[K, 2]``.
        std: per-component standard deviation.

    Args:
        modes: mode centres ``[K, 2]``.
        std: per-component standard deviation.
        batch_size: samples per batch.
        num_workers: dataloader worker processes (each draws from its own seeded RNG).
        labels: batches ``(x, y)`` with ``y`` the mode each sample was drawn from (one class per mode).

    Raises:
        ValueError: if ``batch_size`` is not positive, ``num_workers`` negative or ``std`` not positive.
    """

    default_metric = "modes"  # mode coverage, quality and reverse KL (PacGAN): 2-D points have no FID

    def __init__(
        self, modes: Tensor, std: float, batch_size: int = 64, num_workers: int = 0, labels: bool = False
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.std = _check_std(std)
        self.stream = GaussianMixtureStream(modes, self.std, self.batch_size, labels=labels)
        self.modes = self.stream.modes
        if labels:
            self.num_classes = len(self.modes)
            self.class_names = [f"mode {i} ({x:g}, {y:g})" for i, (x, y) in enumerate(self.modes.tolist())]
        self.sample_shape = (int(self.modes.shape[1]),)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` real samples ``[n, 2]``; ``generator=None`` uses the global RNG."""
        return self.stream.sample(n, generator=generator)


class Ring8DataModule(GaussianMixtureDataModule):
    """8 Gaussians evenly spaced on the unit circle (PacGAN's ring).

    Args:
        batch_size: samples per batch.
        num_workers: dataloader worker processes.
        std: per-component standard deviation (PacGAN: 0.01).
        labels: batches ``(x, y)`` with the mode index as label (8 classes).

    Raises:
        ValueError: on a non-positive ``batch_size`` or ``std``, or a negative ``num_workers``.
    """

    name = "ring8"

    def __init__(
        self, batch_size: int = 64, num_workers: int = 0, std: float = 0.01, labels: bool = False
    ) -> None:
        super().__init__(
            ring_modes(8, 1.0), std, batch_size=batch_size, num_workers=num_workers, labels=labels
        )


class Grid25DataModule(GaussianMixtureDataModule):
    """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2 (PacGAN's grid).

    Args:
        batch_size: samples per batch.
        num_workers: dataloader worker processes.
        std: per-component standard deviation (PacGAN: 0.05).
        labels: batches ``(x, y)`` with the mode index as label (25 classes).

    Raises:
        ValueError: on a non-positive ``batch_size`` or ``std``, or a negative ``num_workers``.
    """

    name = "grid25"

    def __init__(
        self, batch_size: int = 64, num_workers: int = 0, std: float = 0.05, labels: bool = False
    ) -> None:
        super().__init__(grid_modes(), std, batch_size=batch_size, num_workers=num_workers, labels=labels)

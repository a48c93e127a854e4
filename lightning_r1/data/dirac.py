"""The Dirac-GAN data distribution: a point mass at 0 in 1-D (Mescheder et al. 2018)."""

from __future__ import annotations

from lightning_r1.data.base import StreamDataModule
from lightning_r1.data.streams import PointMassStream


class DiracDataModule(StreamDataModule):
    """Infinite stream of zeros ``[batch_size, 1]``: the data distribution delta_0 of the Dirac-GAN.

    Args:
        batch_size: samples per batch (every sample is 0, so it only sets the batch shape).
        num_workers: dataloader worker processes.

    Raises:
        ValueError: if ``batch_size`` is not positive or ``num_workers`` is negative.
    """

    name = "dirac"

    def __init__(self, batch_size: int = 64, num_workers: int = 0) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.sample_shape = (1,)
        self.stream = PointMassStream(self.batch_size, dim=1, value=0.0)

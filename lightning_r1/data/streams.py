"""Infinite iterable datasets that yield whole batches, for ``DataLoader(batch_size=None)``.

Batch ``k`` of a stream is drawn from a private generator seeded by ``(seed, k)`` (see ``resumable.py``): the
DataModule sets ``seed`` from the run's seed and ``start`` from the batches already consumed, so runs are
reproducible, a resumed run continues the same sequence, and DDP ranks share one global batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info

from lightning_r1.data.resumable import batch_generator
from lightning_r1.distributed import rank_and_world, rank_slice


class GaussianMixtureStream(IterableDataset):
    """Endless batches from an equal-weight mixture of isotropic Gaussians.

    Args:
        modes: mode centres ``[K, D]``.
        std: standard deviation of every component.
        batch_size: samples per yielded batch.
        labels: yield ``(x, y)`` with ``y`` the index of the mode each sample was drawn from.
    """

    def __init__(self, modes: Tensor, std: float, batch_size: int, labels: bool = False) -> None:
        self.modes = modes.to(torch.float32)
        self.labels = labels
        self.std = float(std)
        self.batch_size = batch_size
        self.seed, self.start = 0, 0

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples ``[n, D]`` (float32); ``generator=None`` uses the global RNG."""
        return self.sample_labelled(n, generator)[0]

    def sample_labelled(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` samples ``[n, D]`` and the index of the mode each was drawn from (int64 ``[n]``)."""
        index = torch.randint(len(self.modes), (n,), generator=generator)
        noise = torch.randn(n, self.modes.shape[1], generator=generator)
        return self.modes[index] + self.std * noise, index

    def __iter__(self) -> Iterator[Tensor | tuple[Tensor, Tensor]]:
        world = rank_and_world()[1]
        # with k loader workers, worker w yields batches w, w + k, w + 2k, ...: the DataLoader takes one batch from
        # each worker in turn, so the sequence is the same as with no workers (and never repeats a batch)
        worker = get_worker_info()
        offset, stride = (0, 1) if worker is None else (worker.id, worker.num_workers)
        index = self.start + offset
        while True:
            global_batch, labels = self.sample_labelled(
                self.batch_size * world, generator=batch_generator(self.seed, index)
            )
            x = rank_slice(global_batch, self.batch_size)
            yield (x, rank_slice(labels, self.batch_size)) if self.labels else x
            index += stride


class PointMassStream(IterableDataset):
    """Endless batches of one point: a Dirac distribution at ``value`` (default 0).

    Args:
        batch_size: samples per yielded batch.
        dim: dimension of a sample.
        value: location of the point mass.
    """

    def __init__(self, batch_size: int, dim: int = 1, value: float = 0.0) -> None:
        self.batch_size = batch_size
        self.dim = dim
        self.value = float(value)
        self.seed, self.start = 0, 0  # unused: every batch is the same

    def __iter__(self) -> Iterator[Tensor]:
        while True:
            yield torch.full((self.batch_size, self.dim), self.value, dtype=torch.float32)

"""Batch order that a resumed run can reproduce exactly, and that splits one global batch across DDP ranks.

Lightning prefetches the next batch before the current one is trained on, so a loader that drew its randomness
from the global RNG would be one batch ahead of any checkpoint. Here batch ``k`` depends only on ``(seed, k)``:
the DataModule counts the batches training consumed, checkpoints that count, and restarts the order there.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from lightning_r1.distributed import rank_and_world, rank_slice


def batch_generator(seed: int, index: int) -> torch.Generator:
    """A private generator for item ``index`` of a sequence seeded by ``seed`` (the global RNG is untouched)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + index) % 2**63)


class ResumableBatchSampler(Sampler[list[int]]):
    """Endless full batches of indices: one seeded permutation per pass over the data, starting at batch ``start``.

    Under DDP each pass's global batch of ``batch_size × world`` indices is shared out by rank, so the world
    together sees exactly what one process with the global batch would see.

    Args:
        num_samples: dataset size.
        batch_size: per-process batch size.
        seed: permutation seed.
        start: number of (global) batches already consumed.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, start: int = 0) -> None:
        self.num_samples, self.batch_size, self.seed, self.start = num_samples, batch_size, seed, start

    def __iter__(self) -> Iterator[list[int]]:
        global_size = self.batch_size * rank_and_world()[1]
        per_pass = max(self.num_samples // global_size, 1)  # drop_last: only full batches
        index = self.start
        while True:
            permutation = torch.randperm(
                self.num_samples, generator=batch_generator(self.seed, index // per_pass)
            )
            position = (index % per_pass) * global_size
            yield rank_slice(permutation[position : position + global_size].tolist(), self.batch_size)
            index += 1

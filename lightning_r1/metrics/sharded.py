"""Evaluation sharded over processes: each rank featurizes a contiguous share, the features are gathered in order.

Under DDP, :class:`~lightning_r1.metrics.FidelityMetrics` no longer computes on rank 0 while the others wait. Each
rank generates the batches of its share (from the same latents one process draws: every rank draws every batch's
latents and runs G on its own only), runs torch-fidelity's feature extractor on them
(``torch_fidelity.utils.get_featuresdict_from_dataset``), and the per-sample features are all-gathered in rank
order, so the gathered features are those of one process, row for row. The metrics are then torch-fidelity's own
functions of those features (``*_featuresdict_to_*``, ``fid_statistics_to_metric``); nothing of FID/KID/IS/PR is
re-implemented here. On a cold cache the real-data pass is sharded the same way, and rank 0 writes the features and
FID statistics under the file names torch-fidelity's cache uses (``real_stats_cache.real_cache_files``), so a later
one-process run reads them.

Shares are whole generation batches (rows for real data), contiguous, rank ``r`` of ``W`` taking items
``[r·n // W, (r+1)·n // W)``: unequal by at most one batch. The all-gather needs equal shapes, so each share is
padded to the largest and the padding dropped after the gather (the sizes follow from ``n`` and ``W``; nothing
is exchanged to learn them).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_fidelity.utils import get_featuresdict_from_dataset


def share(n: int, rank: int, world: int) -> range:
    """The contiguous share ``[rank·n // world, (rank+1)·n // world)`` of ``n`` items."""
    return range(rank * n // world, (rank + 1) * n // world)


def gather_rows(strategy: Any, rows: Tensor, n: int, world: int, device: torch.device) -> Tensor:
    """All ranks' ``rows`` (rank ``r`` holding ``len(share(n, r, world))`` of them) concatenated in rank order.

    Args:
        strategy: the Trainer's strategy (its ``all_gather``: gloo or NCCL).
        rows: this rank's rows ``[m, ...]``.
        n, world: the total number of rows and of processes.
        device: where the collective runs (the module's device: NCCL needs CUDA tensors).

    Returns:
        ``[n, ...]`` on the CPU.
    """
    sizes = [len(share(n, r, world)) for r in range(world)]
    padded = rows.new_zeros((max(sizes), *rows.shape[1:]))
    padded[: rows.shape[0]] = rows
    gathered = strategy.all_gather(padded.to(device)).cpu()  # [world, max(sizes), ...]
    return torch.cat([gathered[r, :size] for r, size in enumerate(sizes)])


def featurize_share(
    strategy: Any, part: Dataset, n: int, world: int, extractor: Any, batch_size: int, device: torch.device
) -> dict[str, Tensor]:
    """Features of this rank's ``part`` (its ``share`` of ``n`` items), gathered from every rank in rank order.

    Returns:
        torch-fidelity's features dict ``{layer: [n, d]}`` (CPU), laid out as a one-process pass over all ``n``.
    """
    cuda = device.type == "cuda"
    features = get_featuresdict_from_dataset(
        part, extractor, batch_size, cuda, save_cpu_ram=True, verbose=False
    )
    return {layer: gather_rows(strategy, f, n, world, device) for layer, f in sorted(features.items())}

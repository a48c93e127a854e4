"""Intra-class FID: the mean over classes of the FID between the generated and the real images of one class.

Miyato & Koyama 2018, "cGANs with Projection Discriminator", §5.1 ("intra-FID"): a conditional generator that draws
good images of the *wrong* class has a good FID on class-balanced samples but a bad intra-FID, so it measures the
conditioning as well as the quality. Meant for datasets with few classes (each class needs its own real statistics
and a few hundred samples): ``metrics.intra_fid=true`` on MNIST or CIFAR-10.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import Dataset

from lightning_r1.metrics.inputs import RealImages, UInt8Images


def dataset_labels(dataset: Dataset) -> Tensor:
    """The class label of every item of a labelled dataset (``labels`` or ``targets``, else each item's 2nd part).

    Raises:
        ValueError: when the items carry no label.
    """
    for attr in ("labels", "targets"):
        values = getattr(dataset, attr, None)
        if values is not None:
            return torch.as_tensor(values, dtype=torch.long)
    first = dataset[0]
    if not isinstance(first, tuple | list) or len(first) < 2:
        raise ValueError(
            "metrics.intra_fid=true needs a labelled dataset (dataset.labels=true), got images only"
        )
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])  # type: ignore[arg-type]


def class_indices(labels: Tensor, indices: Sequence[int], num_classes: int) -> list[list[int]]:
    """``indices`` split by class: entry c lists the indices whose label is c, in their order."""
    chosen = labels[torch.as_tensor(list(indices), dtype=torch.long)].tolist()
    return [[i for i, y in zip(indices, chosen, strict=True) if y == c] for c in range(num_classes)]


@torch.no_grad()
def class_samples(
    pl_module: L.LightningModule, label: int, n: int, seed: int, batch_size: int
) -> UInt8Images:
    """``n`` EMA samples of class ``label`` with fixed latents (``seed``), the global RNG state restored."""
    device = pl_module.device
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        labels = torch.full((n,), label, dtype=torch.long, device=device)
        samples = pl_module.sample(n, ema=True, batch_size=batch_size, labels=labels)
    return UInt8Images.from_float(samples)


def intra_fid(
    pl_module: L.LightningModule,
    real: Dataset,
    per_class: Sequence[Sequence[int]],
    samples_per_class: int,
    fid_of: Callable[[UInt8Images, RealImages, int], float],
    seed: int = 0,
    batch_size: int = 128,
) -> tuple[float, list[float]]:
    """Mean over classes of FID(generated class c, real class c).

    Args:
        pl_module: the conditional GAN (``sample(n, ema, batch_size, labels)``).
        real: the real dataset; ``per_class[c]`` are the indices of its class-c images.
        per_class: real indices of each class (:func:`class_indices`).
        samples_per_class: generated images per class.
        fid_of: ``(generated, real, class) -> FID`` (torch-fidelity with the run's extractor and a per-class cache).
        seed: seed of the latents (class c uses ``seed + c``).
        batch_size: generation batch size.

    Returns:
        ``(intra-FID, [FID of each class])``.

    Raises:
        ValueError: a class with fewer than 2 real images (no covariance).
    """
    values = []
    for c, indices in enumerate(per_class):
        if len(indices) < 2:
            raise ValueError(
                f"intra-FID needs at least 2 real images per class, class {c} has {len(indices)}"
            )
        generated = class_samples(pl_module, c, samples_per_class, seed + c, batch_size)
        values.append(fid_of(generated, RealImages(real, indices), c))
    return sum(values) / len(values), values

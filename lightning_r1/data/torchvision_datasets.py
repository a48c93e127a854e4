"""MNIST and CIFAR-10 through ``torchvision.datasets`` (downloaded in ``prepare_data()``)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import ClassVar

from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10, MNIST, VisionDataset

from lightning_r1.data.base import ImageDataModule
from lightning_r1.data.transforms import ImagesOnly, PILToTensor

DEFAULT_ROOT = "~/.cache/lightning_r1/data"
DOWNLOAD_TIMEOUT_S = 60  # a stalled connection fails the download instead of hanging the run


class TorchvisionDataModule(ImageDataModule):
    """The training split of a torchvision dataset, images only, resized and scaled to [-1, 1].

    Args:
        batch_size: samples per batch; at most the dataset size (checked in ``setup()``).
        num_workers: dataloader worker processes.
        root: directory holding the data (``~`` expanded).
        download: download the data in ``prepare_data()`` if missing.
        resolution: output height and width.
        channels: 1 or 3 (converted with PIL ``"L"``/``"RGB"``); default: the dataset's own (``default_channels``).
        labels: batches ``(x, y)`` with the dataset's class labels (``classes``, for class-conditional GANs).
        mirror, limit: x-flips and the first ``limit`` images only, as for :class:`ImageDataModule`.

    Raises:
        ValueError: on invalid ``batch_size``, ``num_workers``, ``resolution`` or ``channels``.
        FileNotFoundError: in ``setup()``, when the data is not under ``root``.
    """

    dataset_cls: ClassVar[type[VisionDataset]]
    default_channels: ClassVar[int] = 3
    classes: ClassVar[tuple[str, ...]] = ()  # the class names, index order

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        root: str | Path = DEFAULT_ROOT,
        download: bool = True,
        resolution: int = 32,
        channels: int | None = None,
        labels: bool = False,
        mirror: bool = False,
        limit: int | None = None,
    ) -> None:
        channels = self.default_channels if channels is None else channels
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            resolution=resolution,
            channels=channels,
            mirror=mirror,
            limit=limit,
        )
        self.root = Path(root).expanduser()
        self.download = bool(download)
        if labels:
            self.num_classes, self.class_names = len(self.classes), list(self.classes)

    def prepare_data(self) -> None:
        """Download the training split into ``root`` when ``download`` is true and it is not there (on rank 0).

        Raises:
            FileNotFoundError: the data is not under ``root`` and the download failed (no network): one line
                saying where the data is expected and how to point at a copy.
        """
        if not self.download:
            return
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # torchvision's urlopen takes no timeout of its own
        try:
            self.dataset_cls(str(self.root), train=True, download=True)
        except (OSError, RuntimeError) as err:  # URLError, a timeout, a refused connection; a bad archive
            reason = " ".join(str(getattr(err, "reason", None) or err).split())  # MNIST's lists every mirror
            raise FileNotFoundError(
                f"{self.not_found()}, and downloading it failed ({reason}); point `dataset.root=` at a copy "
                "(`dataset.download=true` needs a network)"
            ) from None
        finally:
            socket.setdefaulttimeout(previous)

    def not_found(self) -> str:
        return f"{self.dataset_cls.__name__}: expected its files under `dataset.root`={self.root}, found none"

    def _build_dataset(self) -> Dataset:
        try:
            dataset = self.dataset_cls(
                str(self.root),
                train=True,
                download=False,
                transform=PILToTensor(self.resolution, self.channels),
            )
        except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
            raise FileNotFoundError(
                f"{self.not_found()}; point `dataset.root=` at a copy, or set `dataset.download=true` to "
                "download it (needs a network)"
            ) from err
        return dataset if self.num_classes else ImagesOnly(dataset)


class MNISTDataModule(TorchvisionDataModule):
    """The 60,000 MNIST training digits; default 32x32 grayscale (bilinear resize from 28x28).

    Arguments as :class:`TorchvisionDataModule` (channels default 1).
    """

    name = "mnist"
    default_feature_extractor = "mnist-classifier"
    dataset_cls = MNIST
    default_channels = 1
    classes = tuple(str(d) for d in range(10))


class CIFAR10DataModule(TorchvisionDataModule):
    """The 50,000 CIFAR-10 training images; default 32x32 RGB. Arguments as :class:`TorchvisionDataModule`."""

    name = "cifar10"
    default_feature_extractor = "inception-v3-compat"
    dataset_cls = CIFAR10
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

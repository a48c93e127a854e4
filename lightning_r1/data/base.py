"""Shared pieces of every DataModule: argument checks and dataloader construction.

Three small classes, no deeper:

- :class:`BaseDataModule` checks ``batch_size``/``num_workers`` and builds dataloaders.
- :class:`StreamDataModule` serves an infinite stream that yields whole batches (toy 2-D mixtures, Dirac).
- :class:`ImageDataModule` serves a finite image dataset with ``shuffle=True, drop_last=True``.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from lightning_r1.checks import check_positive_int
from lightning_r1.data.limited import LimitedMirrored, check_limit
from lightning_r1.data.resumable import ResumableBatchSampler
from lightning_r1.distributed import world_size


def check_non_negative_int(field: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 0.

    Args:
        field: config field named in the error message.
        value: the value to check.

    Raises:
        ValueError: if ``value`` is not an integer >= 0.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"Expected `{field}` to be a non-negative integer, got {value!r}")
    return int(value)


def check_channels(channels: Any) -> int:
    """Return ``channels`` if it is 1 (grayscale) or 3 (RGB).

    Raises:
        ValueError: for any other value.
    """
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"Expected `channels` to be 1 or 3, got {channels!r}")
    return int(channels)


class BaseDataModule(L.LightningDataModule):
    """Common state of all lightning_r1 DataModules.

    Attributes:
        name: the config file name under ``conf/dataset`` (class attribute).
        default_feature_extractor: feature extractor the FID code should use, or None (class attribute).
        default_metric: the ``metrics`` config the default ``metrics=fid`` (``feature_extractor: auto``) stands for
            on this data: ``fid``, or ``modes`` for 2-D mixtures, which have no FID (class attribute).
        sample_shape: shape of one sample, set by subclasses in ``__init__``.
        num_samples: dataset size after ``setup()``; None for infinite streams.
        num_classes: number of classes when batches carry labels ``(x, y)`` (``labels=true``), else None.
        class_names: the classes' names, index order, when labelled.

    Args:
        batch_size: samples per training batch.
        num_workers: dataloader worker processes (0 = load in the main process).

    Raises:
        ValueError: if ``batch_size`` is not positive or ``num_workers`` is negative.
    """

    name: ClassVar[str] = ""
    default_feature_extractor: ClassVar[str | None] = None
    default_metric: ClassVar[str] = "fid"

    def __init__(self, batch_size: int = 64, num_workers: int = 0) -> None:
        super().__init__()
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.num_workers = check_non_negative_int("num_workers", num_workers)
        self.sample_shape: tuple[int, ...] = ()
        self.num_samples: int | None = None
        self.num_classes: int | None = None  # labelled data modules set it (docs/conditional.md)
        self.class_names: list[str] | None = None
        self.batches_consumed = 0  # counted when training takes a batch (not when Lightning prefetches it)
        self.seed: int | None = None  # fixes the batch order; from the seed of the run, saved in checkpoints

    def data_seed(self) -> int:
        """The seed of the batch order: ``torch.initial_seed()`` (set by ``seed_everything``) unless restored."""
        if self.seed is None:
            self.seed = torch.initial_seed()
        return self.seed

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        self.batches_consumed += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"batches_consumed": self.batches_consumed, "seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.batches_consumed = state_dict["batches_consumed"]
        self.seed = state_dict["seed"]

    def _loader(self, dataset: Dataset, **kwargs: Any) -> DataLoader:
        """A DataLoader over ``dataset`` with this module's worker settings."""
        return DataLoader(
            dataset,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # a private generator: creating the loader's iterator then draws no number from the global RNG
            generator=torch.Generator().manual_seed(self.data_seed()),
            **kwargs,
        )


class StreamDataModule(BaseDataModule):
    """An infinite stream whose iterable dataset yields whole batches (``DataLoader(batch_size=None)``).

    Subclasses set ``self.stream`` in ``__init__``. ``num_samples`` stays None.
    """

    stream: IterableDataset

    def train_dataloader(self) -> DataLoader:
        """Endless loader of float32 batches ``[batch_size, *sample_shape]``, resuming at the consumed count."""
        self.stream.seed, self.stream.start = self.data_seed(), self.batches_consumed
        return self._loader(self.stream, batch_size=None)


class ImageDataModule(BaseDataModule):
    """A finite image dataset, built in ``setup()`` by :meth:`_build_dataset`.

    Items of ``train_dataset`` are single float32 images ``[channels, resolution, resolution]`` in [-1, 1];
    batches are plain tensors ``[batch_size, channels, resolution, resolution]``.

    Args:
        batch_size: samples per training batch; must not exceed the dataset size (checked in ``setup()``).
        num_workers: dataloader worker processes; persistent when > 0.
        resolution: output height and width in pixels.
        channels: 1 (grayscale) or 3 (RGB).
        mirror: append every image flipped left-right (doubles the data; StyleGAN2-ADA's ``--mirror``).
        limit: train on the first ``limit`` images only (limited-data studies); FID still uses all of them
            (``reference_dataset``).

    Raises:
        ValueError: on a non-positive ``batch_size``/``resolution``, negative ``num_workers``, ``channels``
            other than 1 or 3; in ``setup()``, when ``batch_size`` exceeds the dataset size.
    """

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        resolution: int = 32,
        channels: int = 3,
        mirror: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.mirror, self.limit = bool(mirror), check_limit(limit)
        self.reference_dataset: Dataset | None = None  # every image, before `limit` and `mirror` (for FID)
        self.resolution = check_positive_int("resolution", resolution)
        self.channels = check_channels(channels)
        self.sample_shape = (self.channels, self.resolution, self.resolution)
        self.train_dataset: Dataset | None = None

    def _build_dataset(self) -> Dataset:
        """Return the training dataset (items: image tensors in [-1, 1])."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Build ``train_dataset`` once, set ``num_samples`` and check that one full batch fits.

        Raises:
            ValueError: if ``batch_size`` times the number of processes is larger than the dataset.
        """
        if self.train_dataset is None:
            self.reference_dataset = self._build_dataset()
            dataset = self.reference_dataset
            if self.mirror or self.limit is not None:
                dataset = LimitedMirrored(dataset, self.limit, self.mirror)
            self.num_samples = len(dataset)  # type: ignore[arg-type]
            self.train_dataset = dataset
        world = world_size()  # under DDP each process takes batch_size of one global batch
        if self.batch_size * world > self.num_samples:
            got = (
                f"{self.batch_size}"
                if world == 1
                else f"{self.batch_size} × {world} processes = {self.batch_size * world}"
            )
            raise ValueError(
                f"Expected `batch_size` (per process) × processes to be at most the dataset size "
                f"{self.num_samples} (batches are full, drop_last=True), got {got}"
            )

    def train_dataloader(self) -> DataLoader:
        """Endless shuffled full batches (a new seeded permutation per pass), resuming at the consumed count."""
        if self.train_dataset is None:
            self.setup("fit")
        sampler = ResumableBatchSampler(
            self.num_samples, self.batch_size, self.data_seed(), self.batches_consumed
        )
        return self._loader(self.train_dataset, batch_sampler=sampler)

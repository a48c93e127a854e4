"""Limited data and x-flips: the first ``limit`` items of a dataset, optionally doubled by their mirror images.

``limit`` keeps the *first* N items (a fixed subset, the same in every run and every process), the set-up of
limited-data studies (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data", §2).
``mirror`` appends every image flipped left-right, as StyleGAN2-ADA's ``--mirror``: item ``i >= N`` is item
``i − N`` flipped, so the dataset doubles and the batch order, DDP slicing and resume work unchanged.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.utils.data import Dataset


def check_limit(limit: Any) -> int | None:
    """Return ``limit`` if it is None or a positive integer.

    Raises:
        ValueError: ``Expected `limit` to be a positive integer or null, got ...``.
    """
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"Expected `limit` to be a positive integer or null, got {limit!r}")
    return limit


def flip_item(item: Any) -> Any:
    """An item with its image mirrored left-right: a tensor ``[C, H, W]``, or ``(image, label, ...)``."""
    if isinstance(item, Tensor):
        return item.flip(-1)
    image, *rest = item
    return (image.flip(-1), *rest)


class LimitedMirrored(Dataset):
    """The first ``limit`` items of ``dataset`` (all when None), followed by their mirror images when ``mirror``.

    Args:
        dataset: a map-style dataset whose items are images ``[C, H, W]`` or tuples starting with one.
        limit: how many items to keep, from the start; None keeps all.
        mirror: append every kept item flipped left-right (doubles the length).

    Raises:
        ValueError: ``limit`` not a positive integer, or larger than the dataset.
    """

    def __init__(self, dataset: Dataset, limit: int | None = None, mirror: bool = False) -> None:
        size = len(dataset)  # type: ignore[arg-type]
        limit = check_limit(limit)
        if limit is not None and limit > size:
            raise ValueError(
                f"Expected `limit` (dataset.limit) to be at most the dataset size {size}, got {limit}"
            )
        self.dataset = dataset
        self.kept = size if limit is None else limit
        self.mirror = bool(mirror)

    def __len__(self) -> int:
        return self.kept * (2 if self.mirror else 1)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        if index < self.kept:
            return self.dataset[index]
        return flip_item(self.dataset[index - self.kept])

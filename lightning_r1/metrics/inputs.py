"""In-memory inputs for torch-fidelity: float images in [-1, 1] → uint8 3×H×W datasets (no PNG round trip)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset


def to_uint8(x: Tensor) -> Tensor:
    """Quantise images in [-1, 1] to uint8 exactly as ``torchvision.utils.save_image(x, normalize=True,
    value_range=(-1, 1))`` does before writing a PNG.

    That is ``clamp(x, -1, 1)``, ``(x + 1) / 2``, ``· 255 + 0.5``, ``clamp(0, 255)``, truncate — i.e.
    ``floor(clamp(x · 127.5 + 128, 0, 255))`` up to float rounding at exact bin edges, which this function
    reproduces by doing the same float32 operations in the same order. Scoring in memory therefore gives the
    same numbers as scoring the PNG files torchvision would write.

    Args:
        x: float tensor of any shape, values nominally in [-1, 1].

    Returns:
        uint8 tensor of the same shape, on the same device.
    """
    if x.dtype == torch.uint8:
        return x
    y = x.detach().to(torch.float32).clone()
    y.clamp_(min=-1.0, max=1.0)
    y.sub_(-1.0).div_(2.0)
    return y.mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def _as_image(item: Any) -> Tensor:
    """A dataset item → its image tensor (items may be ``image`` or ``(image, label, ...)``)."""
    if isinstance(item, (tuple, list)):
        item = item[0]
    if not torch.is_tensor(item):
        raise TypeError(f"Expected dataset items to be image tensors [C, H, W], got {type(item).__name__}")
    return item


def _to_rgb(img: Tensor) -> Tensor:
    """uint8 [C, H, W] with C in (1, 3) → [3, H, W] (grey repeated)."""
    if img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"Expected an image [1 or 3, H, W], got shape {tuple(img.shape)}")
    return img.expand(3, -1, -1).contiguous() if img.shape[0] == 1 else img


class UInt8Images(Dataset):
    """A fixed batch of uint8 images ``[N, C, H, W]`` (C = 1 or 3) served as torch-fidelity wants: 3×H×W uint8.

    Grey images are stored once and repeated to 3 channels per item, so 50k CIFAR-sized samples cost 150 MB and
    50k MNIST-sized ones 50 MB.
    """

    def __init__(self, images: Tensor) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"Expected uint8 images [N, 1 or 3, H, W], got dtype {images.dtype} shape {tuple(images.shape)}"
            )
        self.images = images.cpu()

    @classmethod
    def from_float(cls, images: Tensor) -> UInt8Images:
        """Build from float images in [-1, 1] (see :func:`to_uint8`)."""
        return cls(to_uint8(images))

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        return _to_rgb(self.images[i])


class RealImages(Dataset):
    """A view of a training dataset (items ``[C, H, W]`` in [-1, 1], or uint8, optionally ``(image, label)``)
    converted lazily, item by item, to 3×H×W uint8. ``reads`` counts items read (to check caching)."""

    def __init__(self, source: Dataset, indices: Sequence[int] | None = None) -> None:
        self.source = source
        self.indices = list(range(len(source))) if indices is None else list(indices)  # type: ignore[arg-type]
        self.reads = 0

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tensor:
        self.reads += 1
        img = _as_image(self.source[self.indices[i]])
        return _to_rgb(to_uint8(img))

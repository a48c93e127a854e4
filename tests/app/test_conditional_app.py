"""``conditional=true`` through the app: num_classes from the dataset, classes.txt, per-class grids, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TOY
from lightning_r1.app import train
from lightning_r1.callbacks.sample_grid import class_rows
from lightning_r1.errors import ConfigError, is_bad_input
from lightning_r1.from_checkpoint import load_run

MNIST_TINY = ["iterations=2", "batch_size=8", "model.width=4", "metrics=none", "gan.latent_dim=8"]


def class_folders(root: Path) -> Path:
    """Three classes of four 32×32 grey images, folder names deliberately out of order."""
    for name in ("seven", "one", "four"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((32, 32), 20 * i + len(name), dtype=np.uint8)).save(
                root / name / f"{i}.png"
            )
    return root


def test_conditional_run_takes_classes_from_the_dataset_and_draws_one_row_per_class(
    make_cfg, tmp_path
) -> None:
    root = class_folders(tmp_path / "digits")
    cfg = make_cfg(["conditional=true", "dataset=image_folder", f"dataset.root={root}", "dataset.resolution=32",
                    "dataset.channels=1", "dataset.num_workers=0", *MNIST_TINY, "samples_every=2"])  # fmt: skip
    train(cfg)
    run = Path(cfg.run_dir)
    assert (run / "classes.txt").read_text().splitlines() == ["0\tfour", "1\tone", "2\tseven"]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["hyper_parameters"]["num_classes"] == 3
    assert "discriminator.projection.embed.weight" in ckpt["state_dict"]
    # the grid: 3 rows (one per class) of the same 8 latents; row c is G_ema(z, c)
    grid = np.asarray(Image.open(run / "samples" / "iter_000002.png").convert("L"))
    assert grid.shape == (3 * 34 + 2, 8 * 34 + 2)
    gan = load_run(run / "checkpoints" / "last.ckpt").gan
    z = torch.randn(8, 8, generator=torch.Generator().manual_seed(1234))
    row2 = gan.generate(z, labels=torch.full((8,), 2)).float()
    pixels = ((row2.clamp(-1, 1) + 1) / 2 * 255 + 0.5).clamp(0, 255).to(torch.uint8)[:, 0]
    for col in range(8):
        top, left = 2 + 2 * 34, 2 + col * 34
        assert np.abs(grid[top : top + 32, left : left + 32].astype(int) - pixels[col].numpy()).max() <= 1


def test_class_rows_repeat_the_latents_under_each_label() -> None:
    z = torch.arange(6.0).view(3, 2)
    zz, labels = class_rows(z, num_classes=1000)
    assert zz.shape == (30, 2) and labels.tolist() == [c for c in range(10) for _ in range(3)]
    assert all(torch.equal(zz[3 * r : 3 * r + 3], z) for r in range(10))
    assert class_rows(z, num_classes=2)[1].tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (["conditional=true", "experiment=dirac_gan", "iterations=2"], ConfigError,
         "conditional=true needs a dataset with class labels, got dataset=dirac"),
        (["gan.num_classes=8", *TOY, "iterations=2"], ConfigError,
         "gan.num_classes=8 needs conditional=true, got conditional=false"),
        (["conditional=true", "gan.num_classes=5", *TOY, "iterations=2"], ConfigError,
         "gan.num_classes=5 does not match the 8 classes of dataset=ring8"),
        (["conditional=true", "gan.fake_labels=uniform", "regularizer=wgan_gp", *TOY, "iterations=2"], ValueError,
         "fake_labels='uniform' cannot be used with wgan_gp"),
        (["conditional=true", "gan.fake_labels=random", *TOY, "iterations=2"], ValueError,
         "Expected `fake_labels` to be one of"),
    ],
    ids=["no_labels", "num_classes_without_conditional", "num_classes_mismatch", "uniform_wgan_gp",
         "fake_labels"],
)  # fmt: skip
def test_bad_conditional_input_is_one_line_before_training(make_cfg, overrides, error, match) -> None:
    cfg = make_cfg(overrides)
    with pytest.raises(error, match=match) as caught:
        train(cfg)
    assert is_bad_input(caught.value) and "\n" not in str(caught.value)
    assert not (Path(cfg.run_dir) / "checkpoints").exists()


def test_class_accuracy_is_logged_for_conditional_mnist(make_cfg) -> None:
    cfg = make_cfg(
        ["conditional=true", *MNIST_TINY, "metrics=fid", "metrics.every=0", "metrics.num_samples=50"]
    )
    train(cfg)
    summary = json.loads((Path(cfg.run_dir) / "summary.json").read_text())
    assert 0.0 <= summary["metrics"]["val/class_accuracy"] <= 1.0
    assert summary["best"]["val/class_accuracy"]["iteration"] == 2


def test_metrics_none_means_no_class_accuracy_even_under_a_presets_metric_settings(make_cfg) -> None:
    """experiment=mnist_conditional sets metrics.every; metrics=none keeps those settings but no _target_, so
    no metric runs (class accuracy on 5,000 samples used to run at the end of every such test)."""
    cfg = make_cfg(["experiment=mnist_conditional", *MNIST_TINY])
    assert "_target_" not in cfg.metrics and "every" in cfg.metrics  # the preset's settings stay
    train(cfg)
    summary = json.loads((Path(cfg.run_dir) / "summary.json").read_text())
    assert "val/class_accuracy" not in summary["metrics"]

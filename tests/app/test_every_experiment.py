"""Every experiment preset (``conf/experiment/*.yaml``) trains for a few iterations through the app and
writes a complete run directory (lightning-hydra-template's ``experiment=glob(*)`` test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import CONF_DIR
from lightning_r1.app import train

EXPERIMENTS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))

# GPU-scale presets (docs/recipes.md) must compose, build and train here too: with their data swapped for MNIST-5k
# (r3gan_ffhq64: a folder of a few 64×64 images, so its five stages run at 64 px), tiny networks, no FID.
SMALL = ["batch_size=8", "metrics=none", "gan.latent_dim=8"]
ON_MNIST = [*SMALL, "dataset=mnist_5k", "dataset.resolution=32", "dataset.channels=1"]
TINY_R3GAN = ["model.cardinality=2", "model.blocks=1"]
GPU_SCALE = {
    "r3gan_cifar10": [*ON_MNIST, *TINY_R3GAN, "model.widths=8"],
    "r3gan_ffhq64": [*SMALL, *TINY_R3GAN, "model.widths=[8,8,8,8,4]"],
    "stylegan2ada_cifar": [*ON_MNIST, "model.width=4", "model.nf_max=16"],
    "gan_stability_celebahq": [*ON_MNIST, "model.width=4", "model.nf_max=16"],
    # CPU-sized, but 1.5 s per iteration: tiny here, 64 images scored, 256 stacks built
    "r3gan_stacked_mnist": [
        "batch_size=8",
        "gan.latent_dim=8",
        *TINY_R3GAN,
        "model.widths=8",
        "metrics.num_samples=64",
        "dataset.size=256",
    ],
}


def image_folder(root: Path, n: int = 8, size: int = 64) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (size, size), (30 * i, 255 - 30 * i, 7 * i)).save(root / f"{i}.png")
    return root


def cpu_sized(experiment: str, tmp_path: Path, make_cfg) -> list[str]:
    """Three iterations; presets that select FID evaluate a few hundred samples into a private cache."""
    overrides = [f"experiment={experiment}", "iterations=3", *GPU_SCALE.get(experiment, [])]
    if experiment == "r3gan_ffhq64":
        overrides.append(f"dataset.root={image_folder(tmp_path / 'images')}")
    if experiment in GPU_SCALE:
        return overrides
    # read from the composed preset, so that a preset built on another (defaults: [stacked_mnist]) is seen too
    preset = make_cfg([f"experiment={experiment}"], name="preset")
    metric = preset.metrics.get("_target_", "") if preset.get("metrics") else ""
    if metric.endswith(".FidelityMetrics"):
        overrides += [
            "metrics.num_samples=128",
            "metrics.num_real_samples=256",
            f"metrics.cache_dir={tmp_path}",
        ]
    # lr held for most of a long run, then decayed: hold one of the three iterations here
    if preset.get("schedule", {}).get("lr_g", {}).get("hold", 0):
        overrides.append("schedule.lr_g.hold=1")
    # StackedMNIST presets: 64 images scored, 256 stacks built
    if metric.endswith(".StackedMNISTModes"):
        overrides += ["metrics.num_samples=64", "dataset.size=256"]
    return overrides


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_three_iterations(make_cfg, experiment: str, tmp_path: Path) -> None:
    cfg = make_cfg(cpu_sized(experiment, tmp_path / "cache", make_cfg))
    train(cfg)
    summary = json.loads((Path(cfg.run_dir) / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == 3
    assert (Path(cfg.run_dir) / "checkpoints" / "last.ckpt").is_file()

"""Every experiment preset (``lightning_r1/conf/experiment/*.yaml``) trains for a few iterations through the app and
writes a complete run directory (lightning-hydra-template's ``experiment=glob(*)`` test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CONF_DIR
from lightning_r1.app import train

EXPERIMENTS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))


def cpu_sized(experiment: str, tmp_path: Path) -> list[str]:
    """Three iterations; presets that select FID evaluate a few hundred samples into a private cache."""
    overrides = [f"experiment={experiment}", "iterations=3"]
    if "override /metrics: fid" in (Path(CONF_DIR) / "experiment" / f"{experiment}.yaml").read_text():
        overrides += [
            "metrics.num_samples=128",
            "metrics.num_real_samples=256",
            f"metrics.cache_dir={tmp_path}",
        ]
    preset = (Path(CONF_DIR) / "experiment" / f"{experiment}.yaml").read_text()
    # StackedMNIST presets: 64 images scored, 256 stacks built
    if "override /metrics: stacked_mnist" in preset:
        overrides += ["metrics.num_samples=64", "dataset.size=256"]
    return overrides


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_three_iterations(make_cfg, experiment: str, tmp_path: Path) -> None:
    cfg = make_cfg(cpu_sized(experiment, tmp_path / "cache"))
    train(cfg)
    summary = json.loads((Path(cfg.run_dir) / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == 3
    assert (Path(cfg.run_dir) / "checkpoints" / "last.ckpt").is_file()

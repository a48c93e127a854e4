"""Shared fixtures: Hydra configs composed with CPU-sized overrides, written into pytest's tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
REPO_ROOT = Path(__file__).resolve().parents[1]

# Small and quiet: tests run on 2 CPU cores.
FAST = ["trainer.enable_progress_bar=false", "samples_every=0", "checkpoint_every=0"]

# One intra-op thread: these models are tiny, and on a shared 2-core machine two threads per process oversubscribe
# the cores (a toy step measured 19 ms with 1 thread against 310 ms with 2). Subprocesses inherit it.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


def compose_config(overrides: list[str], run_dir: Path) -> DictConfig:
    """Compose conf/config.yaml with ``overrides`` the way ``python train.py`` would, run dir → ``run_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*FAST, *overrides])
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path):
    """``make_cfg(["dataset=ring8", ...])`` → a composed config whose run directory is inside tmp_path."""

    def _make(overrides: list[str], name: str = "run") -> DictConfig:
        return compose_config(overrides, tmp_path / name)

    return _make


# A CPU-sized toy run used by many tests: 2-D ring, small MLPs.
TOY = ["dataset=ring8", "model=mlp", "model.hidden=32", "model.layers=2", "gan.latent_dim=8", "batch_size=32"]

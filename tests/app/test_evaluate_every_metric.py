"""``python -m lightning_r1.evaluate`` on every metric a run can log (issue 25 item 2): StackedMNIST modes
(unconditional and conditional runs) and class accuracy + FID (conditional MNIST). FID alone and the 2-D mode
metrics: ``tests/app/test_evaluate_generate.py``.

Each run is trained through the app, evaluate runs as a subprocess on its last checkpoint, and the values must equal
what the run's own metric callbacks logged at the end of training (same EMA generator, same latents), read from
``summary.json``; the StackedMNIST modes are also recomputed here from the checkpoint file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import compose_config
from lightning_r1.app import train
from lightning_r1.data import StackedMNISTDataModule
from lightning_r1.metrics import stacked_mode_metrics
from lightning_r1.metrics.mnist_classifier import load_mnist_classifier
from lightning_r1.metrics.stacked_mnist_modes import classify_stacked

TINY = ["iterations=2", "batch_size=8", "model.width=4", "gan.latent_dim=8"]
STACKED = ["dataset=stacked_mnist", "dataset.size=500", "metrics=stacked_mnist", "metrics.num_samples=300",
           "metrics.batch_size=128", *TINY]  # fmt: skip


def evaluate_cli(ckpt: Path, cwd: Path) -> dict:
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "lightning_r1.evaluate", f"ckpt_path={ckpt}", "trainer.accelerator=cpu"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((ckpt.parent.parent / "eval.json").read_text())["metrics"]


def final_values(run: Path) -> dict[str, float]:
    return json.loads((run / "summary.json").read_text())["metrics"]


@torch.no_grad()
def stacked_modes_here(ckpt: Path, n: int, batch_size: int) -> dict[str, float]:
    """StackedMNIST's values recomputed from the checkpoint file: G_ema rebuilt from its config, the latents drawn
    a batch at a time after ``manual_seed(0)``, the labels of a conditional run counted as i mod 1000."""
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    cfg = OmegaConf.create(state["lightning_r1_config"])
    generator = instantiate(cfg.model).generator
    prefix = "generator_ema."
    generator.load_state_dict(
        {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    )
    generator.eval()
    conditional = cfg.gan.get("num_classes") is not None
    torch.manual_seed(0)
    images = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        z = torch.randn(size, cfg.gan.latent_dim)
        labels = torch.tensor([i % 1000 for i in range(start, start + size)])
        images.append(generator(z, labels) if conditional else generator(z))
    modes = classify_stacked(torch.cat(images), load_mnist_classifier())
    values = stacked_mode_metrics(modes, StackedMNISTDataModule.mode_distribution())
    return {f"val/{k}": float(v) for k, v in values.items()}


@pytest.mark.parametrize(
    "conditional", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["unconditional", "conditional"]
)  # ~35 s each: a training and an evaluate subprocess
def test_evaluate_a_stacked_mnist_run(tmp_path: Path, conditional: bool) -> None:
    run = tmp_path / "run"
    train(compose_config([*STACKED, f"conditional={str(conditional).lower()}"], run))
    ckpt = run / "checkpoints" / "last.ckpt"
    got = evaluate_cli(ckpt, tmp_path / "cwd")
    logged = final_values(run)
    assert set(got) == {"val/modes_covered", "val/reverse_kl"}
    assert got == pytest.approx({k: logged[k] for k in got}, rel=1e-6)  # summary.json keeps float32
    assert got == pytest.approx(stacked_modes_here(ckpt, 300, 128), rel=1e-6, abs=1e-9)


def test_evaluate_a_conditional_mnist_run_gives_fid_and_class_accuracy(tmp_path: Path) -> None:
    run = tmp_path / "run"
    overrides = [
        "conditional=true",
        "dataset=mnist_5k",
        *TINY,
        "metrics.num_samples=64",
        "metrics.num_real_samples=128",
        "metrics.verbose=false",
        f"metrics.cache_dir={tmp_path / 'cache'}",
    ]
    train(compose_config(overrides, run))  # fmt: skip
    got = evaluate_cli(run / "checkpoints" / "last.ckpt", tmp_path / "cwd")
    logged = final_values(run)
    assert set(got) == {"val/fid", "val/class_accuracy"}
    assert got == pytest.approx({k: logged[k] for k in got}, rel=1e-6)

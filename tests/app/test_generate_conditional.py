"""``python -m lightning_r1.generate`` on a conditional checkpoint: the classes drawn (balanced over the whole
request, or ``class=``), ``truncation=``, and what it refuses (one line, exit code 2).

The run is trained through the app on three classes of image folders; the expected images are computed here from
the checkpoint file (its EMA generator rebuilt from the saved config), with the labels counted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from conftest import compose_config
from lightning_r1.app import train
from lightning_r1.metrics import to_uint8

TINY = ["iterations=2", "batch_size=8", "model.width=4", "metrics=none", "gan.latent_dim=8"]


def run_module(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", f"lightning_r1.{module}", *args, "trainer.accelerator=cpu"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def refused(proc: subprocess.CompletedProcess, match: str) -> str:
    """One line on stderr naming ``match``, exit code 2."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("lightning_r1:")]  # the rest is Lightning's own info
    assert errors == lines[-1:] and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = errors
    assert match in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-class conditional DCGAN checkpoint whose samples visibly depend on the class and the latent."""
    root = tmp_path_factory.mktemp("cond")
    for name in ("seven", "one", "four"):
        (root / "digits" / name).mkdir(parents=True)
        for i in range(4):
            pixels = np.full((32, 32), 20 * i + 10 * len(name), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "digits" / name / f"{i}.png")
    overrides = ["conditional=true", "dataset=image_folder", f"dataset.root={root / 'digits'}",
                 "dataset.resolution=32", "dataset.channels=1", "dataset.num_workers=0", *TINY]  # fmt: skip
    train(compose_config(overrides, root / "run"))
    path = root / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(path, weights_only=True)
    state["state_dict"]["generator_ema.net.9.weight"] *= (
        1000  # 2 iterations leave the output near 0 (DCGAN init)
    )
    state["state_dict"]["generator_ema.label.embed.weight"] *= 30  # and the classes near one another
    torch.save(state, root / "run" / "checkpoints" / "sharp.ckpt")
    return root / "run" / "checkpoints" / "sharp.ckpt"


@torch.no_grad()
def expected_images(ckpt: Path, z: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """G_ema(z, labels) of the checkpoint, rebuilt here from its saved config, as uint8 ``[N, H, W]``."""
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    generator = instantiate(OmegaConf.create(state["lightning_r1_config"]).model).generator
    prefix = "generator_ema."
    generator.load_state_dict(
        {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    )
    return to_uint8(generator.eval()(z, labels))[:, 0].numpy()


def written(out: Path, n: int) -> np.ndarray:
    return np.stack([np.asarray(Image.open(out / f"{i:06d}.png").convert("L")) for i in range(n)]).astype(int)


def seeded(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 8, generator=torch.Generator().manual_seed(seed))


def test_generate_balances_the_classes_over_the_whole_request(ckpt: Path, tmp_path: Path) -> None:
    """More classes (3) than a batch (2): sample i has class i mod 3 (it restarted at 0 every batch)."""
    out = tmp_path / "out"
    ok(run_module("generate", f"ckpt_path={ckpt}", "num_samples=7", "batch_size=2", f"out_dir={out}",
                  cwd=tmp_path / "cwd"))  # fmt: skip
    labels = torch.tensor([i % 3 for i in range(7)])
    images = written(out, 7)
    assert np.abs(images - expected_images(ckpt, seeded(7), labels)).max() <= 1
    restarted = torch.tensor([0, 1, 0, 1, 0, 1, 0])  # what per-batch labels would have drawn
    assert np.abs(images - expected_images(ckpt, seeded(7), restarted)).max() > 1


@pytest.mark.slow  # four generate launches
def test_generate_class_option_one_class_or_a_list_in_turn(ckpt: Path, tmp_path: Path) -> None:
    """StyleGAN2-ADA's --class: class=2 draws class 2 only; class=[0,2] alternates 0, 2, 0, ... over the request."""
    for name, option, labels in (("one", "class=2", [2] * 5), ("list", "class=[0,2]", [0, 2, 0, 2, 0])):
        out = tmp_path / name
        ok(run_module("generate", f"ckpt_path={ckpt}", "num_samples=5", "batch_size=2", option, f"out_dir={out}",
                      cwd=tmp_path / "cwd"))  # fmt: skip
        expected = expected_images(ckpt, seeded(5), torch.tensor(labels))
        assert np.abs(written(out, 5) - expected).max() <= 1
    line = refused(run_module("generate", f"ckpt_path={ckpt}", "class=3", f"out_dir={tmp_path / 'x'}",
                              cwd=tmp_path / "cwd"), "class: expected classes in [0, 3), got 3")  # fmt: skip
    assert not (tmp_path / "x").exists(), line

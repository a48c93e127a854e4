"""benchmarks/pacgan_table.sh, the one command behind docs/toy_mixtures.md's table, on runs of 4 iterations: every
requested run trained with its method's recipe, finished runs skipped on a second call, the table printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "pacgan_table.sh"
SHORT = "iterations=4 schedule=none metrics.every=0 gan.diagnostics_every=2 samples_every=0"


def run_script(out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, **env})  # fmt: skip


@pytest.mark.slow  # 29 s on 2 cores: every arm of the table script, twice
def test_the_table_script_trains_each_recipe_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "table"
    methods = "r1 wgan_gp wgan_gp_toy"
    first = run_script(out, METHODS=methods, DATASETS="ring8", SEEDS="0", EXTRA=SHORT)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "3 runs to do" in first.stderr
    r1 = OmegaConf.load(out / "ring8_r1" / "seed0" / "config.yaml")
    wgan = OmegaConf.load(out / "ring8_wgan_gp" / "seed0" / "config.yaml")
    toy = OmegaConf.load(out / "ring8_wgan_gp_toy" / "seed0" / "config.yaml")
    assert list(r1.regularizer) == ["r1"] and r1.regularizer.r1.gamma == 1 and r1.loss.name == "nonsaturating"
    assert list(wgan.regularizer) == ["wgan_gp"] and wgan.loss.name == "wasserstein" and wgan.gan.d_steps == 5
    assert (
        wgan.optim.lr == 1e-4
        and list(wgan.optim.d.betas) == [0.5, 0.9]
        and wgan.regularizer.wgan_gp.weight == 10
    )
    # Gulrajani et al.'s released toy code (gan_toy.py): 3 hidden layers of 512, latent 2, λ 0.1, 5 critic steps,
    # batch 256, Adam(1e-4, 0.5, 0.9) on both sides, constant lr, Wasserstein loss
    assert (toy.model.hidden, toy.model.layers, toy.gan.latent_dim, toy.batch_size) == (512, 3, 2, 256)
    assert (
        list(toy.regularizer) == ["wgan_gp"]
        and toy.regularizer.wgan_gp.weight == 0.1
        and toy.gan.d_steps == 5
    )
    assert toy.loss.name == "wasserstein" and toy.optim.lr == 1e-4 and "_target_" not in (toy.schedule or {})
    assert list(toy.optim.g.betas) == list(toy.optim.d.betas) == [0.5, 0.9]
    for method in ("r1", "wgan_gp", "wgan_gp_toy"):
        summary = json.loads((out / f"ring8_{method}" / "seed0" / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["iterations"] == 4  # EXTRA came last
    rows = [line for line in (out / "table.md").read_text().splitlines() if line.startswith("| ring8")]
    assert [row.split(" | ")[1] for row in rows] == [
        "r1",
        "wgan_gp λ=10 (wasserstein)",
        "wgan_gp λ=0.1 (wasserstein)",
    ]
    again = run_script(out, METHODS=methods, DATASETS="ring8", SEEDS="0", EXTRA=SHORT)
    assert again.returncode == 0 and "0 runs to do" in again.stderr


def test_an_unknown_method_is_refused_before_any_run(tmp_path: Path) -> None:
    result = run_script(tmp_path / "table", METHODS="r1 r3")
    assert result.returncode == 2
    assert result.stderr.startswith("METHODS: expected some of ") and result.stderr.count("\n") == 1
    assert "got 'r3'" in result.stderr and not (tmp_path / "table" / "ring8_r1").exists()


STACKED = REPO_ROOT / "benchmarks" / "stacked_mnist.sh"
TINY_STACKED = ("iterations=2 model.width=8 dataset.size=256 batch_size=16 metrics.num_samples=100 "
                "metrics.batch_size=50 metrics.every=0 samples_every=0")  # fmt: skip


@pytest.mark.slow
def test_the_stacked_mnist_script_runs_each_arm(tmp_path: Path) -> None:
    out = tmp_path / "stacked"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "ARMS": "rp_r1_quarter ns_none wgan_gp",
        "SEEDS": "0",
        "EXTRA": TINY_STACKED,
    }
    result = subprocess.run(
        ["bash", str(STACKED), str(out)], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    quarter = OmegaConf.load(out / "rp_r1_quarter" / "seed0" / "config.yaml")
    plain = OmegaConf.load(out / "ns_none" / "seed0" / "config.yaml")
    assert (quarter.loss.name, list(quarter.regularizer), quarter.model.d_width) == (
        "relativistic",
        ["r1"],
        21,
    )
    assert quarter.regularizer.r1.gamma == 1  # the preset's gamma; its R2 setting skipped with a warning
    assert (plain.loss.name, plain.model.d_width) == ("nonsaturating", None) and not plain.regularizer
    wgan = OmegaConf.load(out / "wgan_gp" / "seed0" / "config.yaml")  # the paper's image recipe
    assert (wgan.loss.name, list(wgan.regularizer), wgan.regularizer.wgan_gp.weight, wgan.gan.d_steps) == (
        "wasserstein", ["wgan_gp"], 10, 5)  # fmt: skip
    assert wgan.optim.lr == 1e-4 and list(wgan.optim.g.betas) == list(wgan.optim.d.betas) == [0.5, 0.9]
    rows = [line for line in (out / "table.md").read_text().splitlines() if line.startswith("|")][2:]
    assert sorted(row.split(" | ")[:2] for row in rows) == [
        ["| nonsaturating", "none"],
        ["| relativistic", "r1"],
        ["| wasserstein", "wgan_gp"],
    ]
    bad = subprocess.run(["bash", str(STACKED), str(out)], capture_output=True, text=True,
                         env={**env, "ARMS": "rp_r3"})  # fmt: skip
    assert (
        bad.returncode == 2
        and "ARMS: expected <rp|ns|wgan>_<none|r1|r1r2|gp>[_quarter], got 'rp_r3'" in bad.stderr
    )

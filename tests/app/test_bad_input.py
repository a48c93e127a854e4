"""Bad input through the real CLI: one line on stderr naming the key or file, exit code 2, before training.

Each case runs ``python train.py`` in a subprocess (real Hydra composition, real app); "before training" is checked on
the run directory (no checkpoint, no metrics, ``summary.json`` says failed and why). docs/faults.md, "Bad input",
lists every case with its test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import REPO_ROOT, TOY, compose_config
from lightning_r1.app import train
from lightning_r1.errors import ConfigError

TRAIN_PY = str(REPO_ROOT / "train.py")
FAST_CLI = ["trainer.enable_progress_bar=false", "samples_every=0", "checkpoint_every=0", "iterations=2"]


def cli(
    args: list[str], cwd: Path, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, TRAIN_PY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_before_training(
    result: subprocess.CompletedProcess, run_dir: Path, *expected: str
) -> str:
    """Exit 2; stderr is exactly one line, ours, holding ``expected``; nothing trained; summary.json says why."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]  # no "Seed set to 0", no "GPU available", no traceback
    line = lines[0]
    assert line.startswith("lightning_r1: error: ")
    for text in expected:
        assert text in line
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.csv").exists()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["iterations"] == 0
    assert line.removeprefix("lightning_r1: error: ") in summary["error"]
    return line


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["optim.lr=3e-4x"], ["optim.lr: expected a number, got '3e-4x'"]),
        (
            ["trainer.precision=16mixed"],
            ["trainer.precision: expected one of (", "'16-mixed'", "got '16mixed'"],
        ),
        (["seed=-1"], ["seed: expected an integer from 0 to 4294967295, got -1"]),
        (["dataset=image_folder"], ["dataset.root: expected a value", "dataset.root=..."]),
    ],
    ids=["lr_typo", "precision", "seed", "image_folder_no_root"],
)
def test_bad_value_is_one_line_naming_the_key_before_anything_is_built(
    tmp_path: Path, overrides: list[str], expected: list[str]
) -> None:
    run_dir = tmp_path / "run"
    result = cli([*TOY, *FAST_CLI, *overrides, f"hydra.run.dir={run_dir}"], tmp_path)
    assert_one_line_before_training(result, run_dir, *expected)


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(), reason="this machine has a GPU"
)
def test_gpu_accelerator_on_a_machine_without_one_is_one_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = cli([*TOY, *FAST_CLI, "trainer.accelerator=gpu", f"hydra.run.dir={run_dir}"], tmp_path)
    assert_one_line_before_training(
        result,
        run_dir,
        "trainer.accelerator: expected an accelerator this machine has (auto, cpu",
        "got 'gpu'",
    )


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optim.lr=abc", "optim.lr: expected a number, got 'abc'"),
        ("optim.lr=nan", "optim.lr: expected a positive finite number, got nan"),
        ("samples_every=-1", "samples_every: expected an integer >= 0 (0: never), got -1"),
        ("optim.g.lr=-1", "optim.g.lr: expected a positive finite number, got -1.0"),
        ("optim.g.betas=[0.5,x]", "optim.g.betas[1]: expected a number, got 'x'"),
        ("iterations=2.5", "iterations: expected an integer, got 2.5"),
        ("checkpoint_every=-5", "checkpoint_every: expected an integer >= 0 (0: never), got -5"),
        ("gan.diagnostics_every=-1", "gan.diagnostics_every: expected an integer >= 0 (0: never), got -1"),
        ("gan.finite_check_every=0", "Expected `gan.finite_check_every` to be a positive integer, got 0"),
        ("gan.skip_nonfinite=maybe", "gan.skip_nonfinite: expected true or false, got 'maybe'"),
        ("trainer.max_epochs=x", "trainer.max_epochs: expected an integer, got 'x'"),
        ("seed=4294967296", "seed: expected an integer from 0 to 4294967295, got 4294967296"),
        (
            "trainer.accelerator=warp",
            "trainer.accelerator: expected one of auto, gpu, cpu, cuda, mps, tpu, got 'warp'",
        ),
    ],
)
def test_every_typed_knob_is_checked_by_the_app(tmp_path: Path, override: str, expected: str) -> None:
    """The same check as through the CLI, on configs composed by Hydra (in-process: a few ms each)."""
    cfg = compose_config([*TOY, "iterations=2", override], tmp_path / "run")
    with pytest.raises(ValueError) as info:  # ConfigError, or check_positive_int's ValueError
        train(cfg)
    assert str(info.value) == expected
    assert not (tmp_path / "run" / "config.yaml").exists()  # refused before anything was written or built


@pytest.mark.parametrize("experiment", ["r3gan_ffhq64", "gan_stability_celebahq"])
def test_image_folder_presets_without_a_root_name_dataset_root(tmp_path: Path, experiment: str) -> None:
    cfg = compose_config([f"experiment={experiment}"], tmp_path / "run")
    with pytest.raises(
        ConfigError, match=r"^dataset.root: expected a value \(the folder of your images\), got none"
    ):
        train(cfg)


def test_an_exactly_integral_float_is_taken_as_that_integer(tmp_path: Path) -> None:
    """``iterations=1e3`` is parsed by Hydra as 1000.0: the run takes 1000 (here 3e0 → 3) and records the integer."""
    run_dir = tmp_path / "run"
    cfg = compose_config([*TOY, "iterations=3e0", "batch_size=3.2e1"], run_dir)
    train(cfg)
    saved = OmegaConf.load(run_dir / "config.yaml")
    assert (saved.iterations, saved.batch_size) == (3, 32) and isinstance(saved.iterations, int)
    assert json.loads((run_dir / "summary.json").read_text())["iterations"] == 3


def test_offline_cifar10_preset_says_where_the_data_is_expected(tmp_path: Path) -> None:
    """``experiment=r3gan_cifar10`` with no copy of CIFAR-10 and no network (a proxy on a closed port makes every
    download fail at once, on any machine: nothing is downloaded and nothing can hang)."""
    run_dir, empty = tmp_path / "run", tmp_path / "no_data"
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    offline = {"https_proxy": closed, "http_proxy": closed, "HTTPS_PROXY": closed, "HTTP_PROXY": closed}
    result = cli(
        [
            "experiment=r3gan_cifar10",
            *FAST_CLI,
            "model.widths=8",
            "model.cardinality=2",
            "batch_size=8",
            "metrics=none",
            f"dataset.root={empty}",
            f"hydra.run.dir={run_dir}",
        ],  # fmt: skip
        tmp_path,
        env={**offline, "no_proxy": "", "NO_PROXY": ""},
    )
    assert result.returncode == 2, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"lightning_r1: error: CIFAR10: expected its files under `dataset.root`={empty}")
    assert "downloading it failed" in line and "point `dataset.root=` at a copy" in line
    assert "`dataset.download=true` needs a network" in line
    assert "Traceback" not in result.stderr and not (run_dir / "metrics.csv").exists()
    assert "GPU available: False" not in result.stdout + result.stderr  # nothing printed before the line
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["wall_time_s"] == 0.0  # failed before training: no time


def test_a_sweep_records_a_failed_job_and_runs_the_rest(tmp_path: Path) -> None:
    """``-m regularizer.r1.gamma=-1,10``: job 0 is refused, job 1 trains; the exit status is the number of failures."""
    sweep = tmp_path / "sweep"
    result = cli(["-m", *TOY, *FAST_CLI, "regularizer.r1.gamma=-1,10", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]  # one job failed
    failed = json.loads((sweep / "0" / "summary.json").read_text())
    assert failed["status"] == "failed" and "regularizer.r1: Expected `gamma`" in failed["error"]
    assert not (sweep / "0" / "metrics.csv").exists()
    done = json.loads((sweep / "1" / "summary.json").read_text())
    assert done["status"] == "completed" and done["iterations"] == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "lightning_r1: error: 1 of 2 sweep jobs failed"
    assert lines[-2].startswith(f"lightning_r1: failed: {sweep / '0'}: regularizer.r1: Expected `gamma`")
    assert "Traceback" not in result.stderr

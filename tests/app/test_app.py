"""The Hydra app: every config composes and instantiates, short runs leave the run-directory contract, bad input
fails before the first step with a one-line message."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from conftest import CONF_DIR, REPO_ROOT, TOY
from lightning_r1.app import train
from lightning_r1.build import group_members

GROUPS = ["dataset", "model", "loss", "regularizer", "optim", "gan", "trainer", "logger", "metrics"]
GROUPS += ["experiment"]
GROUPS += ["schedule"]
COMPATIBLE_DATA = {"mlp": "ring8", "dirac": "dirac", "dcgan": "mnist_5k", "resnet": "mnist_5k"}
COMPATIBLE_DATA["r3gan"] = "mnist_5k"


def config_files() -> list[tuple[str, str]]:
    return [(g, p.stem) for g in GROUPS for p in sorted((Path(CONF_DIR) / g).glob("*.yaml"))]


@pytest.mark.parametrize("group, name", config_files(), ids=lambda v: v)
def test_every_config_composes_and_instantiates(make_cfg, group: str, name: str, tmp_path: Path) -> None:
    overrides = [f"{group}={name}"]
    if group == "model":
        overrides.append(f"dataset={COMPATIBLE_DATA[name]}")
    if group == "dataset" and name == "image_folder":
        overrides.append(f"dataset.root={tmp_path}")
    cfg = make_cfg(overrides)
    if group in ("regularizer", "logger"):
        objects = [instantiate(node) for node in group_members(cfg, group).values()]
        assert all(obj is not None for obj in objects)
    elif group == "optim":
        opt = instantiate(cfg.optim.g)([torch.nn.Parameter(torch.zeros(1))])
        assert isinstance(opt, torch.optim.Optimizer) and opt.param_groups[0]["lr"] == cfg.optim.lr
    elif group == "experiment":
        assert cfg.iterations >= 1
    elif group == "metrics" and "_target_" not in (cfg.get("metrics") or {}):
        assert name == "none"
    elif group == "schedule" and "_target_" not in (cfg.get("schedule") or {}):
        assert name == "none"
    else:
        assert instantiate(cfg[group]) is not None


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize("regularizer", ["none", "r1", "r2", "wgan_gp", "zero_gp", "[r1,r2]"])
def test_short_run_per_regularizer_writes_the_run_directory(make_cfg, regularizer: str) -> None:
    cfg = make_cfg(
        [*TOY, f"regularizer={regularizer}", "iterations=6", "samples_every=3", "checkpoint_every=3"]
    )
    train(cfg)
    run_dir = Path(cfg.run_dir)
    summary = read_summary(run_dir)
    expected = [] if regularizer == "none" else regularizer.strip("[]").split(",")
    assert summary["iterations"] == 6 and summary["status"] == "completed"
    assert summary["regularizers"] == expected
    assert summary["wall_time_s"] > 0
    for name in expected:
        assert f"train/{name}" in summary["metrics"]
    assert {"train/d_loss", "train/g_loss", "train/grad_norm_real"} <= set(summary["metrics"])
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == [
        "iter_000003.png",
        "iter_000006.png",
    ]
    assert (run_dir / "metrics.csv").read_text().startswith(("iteration", "epoch", "step", "train"))
    assert {"last.ckpt", "iter_3.ckpt", "iter_6.ckpt"} <= {
        p.name for p in (run_dir / "checkpoints").iterdir()
    }


def test_member_parameters_reach_the_callbacks(make_cfg) -> None:
    cfg = make_cfg([*TOY, "regularizer=[r1,r2]", "regularizer.r2.gamma=5", "regularizer.r1.every=4"])
    members = {name: instantiate(node) for name, node in group_members(cfg, "regularizer").items()}
    assert members["r2"].gamma == 5 and members["r1"].every == 4 and members["r1"].gamma == 10


def test_default_run_is_mnist_dcgan_r1(make_cfg) -> None:
    cfg = make_cfg(["iterations=2", "batch_size=16"])
    assert cfg.dataset._target_.endswith("MNIST5kDataModule") and cfg.model._target_.endswith("build_dcgan")
    train(cfg)
    summary = read_summary(Path(cfg.run_dir))
    assert summary["iterations"] == 2 and summary["regularizers"] == ["r1"]
    assert (Path(cfg.run_dir) / "samples" / "iter_000002.png").exists()


def test_default_run_logs_a_finite_fid_twice(make_cfg) -> None:
    cfg = make_cfg(["iterations=4", "batch_size=16", "metrics.every=2", "metrics.num_samples=500",
                    "metrics.verbose=false", "model.width=8"])  # fmt: skip
    train(cfg)
    summary = read_summary(Path(cfg.run_dir))
    assert math.isfinite(summary["metrics"]["val/fid"]) and summary["best"]["val/fid"]["iteration"] in (2, 4)
    fids = [
        row["val/fid"]
        for row in csv.DictReader(open(Path(cfg.run_dir) / "metrics.csv"))
        if row.get("val/fid")
    ]
    assert len(fids) >= 2 and all(math.isfinite(float(v)) for v in fids)


def test_same_seed_same_weights_through_the_app(make_cfg) -> None:
    def weights(name: str) -> dict:
        cfg = make_cfg([*TOY, "iterations=5", "seed=11"], name=name)
        train(cfg)
        return torch.load(Path(cfg.run_dir) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]

    a, b = weights("a"), weights("b")
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---- bad input: one clear line, before the first training step ------------------------------------------------
@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (["iterations=0"], ValueError, "Expected `iterations` to be a positive integer, got 0"),
        (["batch_size=0"], ValueError, "Expected `batch_size` to be a positive integer, got 0"),
        (
            ["regularizer.r1.gamma=-1"],
            ValueError,
            "regularizer.r1: Expected `gamma` to be a non-negative float or 'auto', got -1",
        ),
        (["regularizer.r1.gamma=nan"], ValueError, "`gamma`.*nan"),
        (["regularizer.r1.every=0"], ValueError, "Expected `every` to be an integer >= 1, got 0"),
        (["regularizer=wgan_gp", "regularizer.wgan_gp.weight=-2"], ValueError, "`weight`.*-2"),
        (["gan.d_steps=0"], ValueError, "gan: Expected `d_steps` to be a positive integer, got 0"),
        (["gan.update=sometimes"], ValueError, "gan: Expected `update` to be one of"),
    ],
)
def test_bad_values_fail_before_training(make_cfg, overrides, error, match) -> None:
    cfg = make_cfg([*TOY, *overrides])
    with pytest.raises(error, match=match):
        train(cfg)
    assert not (Path(cfg.run_dir) / "checkpoints").exists()


@pytest.mark.parametrize("group", ["loss", "regularizer", "dataset", "model", "logger"])
def test_unknown_names_list_the_choices(make_cfg, group: str) -> None:
    with pytest.raises(MissingConfigException, match=f"Could not find '{group}/nope'") as info:
        make_cfg([f"{group}=nope"])
    choices = sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))
    assert all(c in str(info.value) for c in choices)


def test_batch_larger_than_dataset(make_cfg) -> None:
    with pytest.raises(ValueError, match="`batch_size`.*5000"):
        train(make_cfg(["batch_size=6000", "iterations=1"]))


def test_resolution_mismatch_names_both_shapes(make_cfg) -> None:
    cfg = make_cfg(["model.resolution=64", "iterations=1", "batch_size=8"])
    with pytest.raises(ValueError, match=r"\(1, 32, 32\) but the generator produces \(1, 64, 64\)"):
        train(cfg)


def test_image_folder_errors_name_the_path(make_cfg, tmp_path: Path) -> None:
    base = [
        "dataset=image_folder",
        "dataset.num_workers=0",
        "dataset.resolution=32",
        "iterations=1",
        "batch_size=2",
    ]
    missing = tmp_path / "does_not_exist"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        train(make_cfg([*base, f"dataset.root={missing}"], name="a"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=str(empty)):
        train(make_cfg([*base, f"dataset.root={empty}"], name="b"))
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 40), (i * 40, 0, 0)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        train(make_cfg([*base, f"dataset.root={folder}"], name="c"))


# ---- the CLI itself --------------------------------------------------------------------------------------------
def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), *args, "trainer.enable_progress_bar=false"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # a Dirac-GAN CLI run; the Dirac theory tests stay in the default run
def test_cli_dirac_experiment_writes_trajectory(tmp_path: Path) -> None:
    out = tmp_path / "dirac"
    args = ["experiment=dirac_gan", "regularizer=r1", "regularizer.r1.gamma=0.5", "gan.update=simultaneous",
            "optim.lr=0.1", "iterations=30", "model.theta0=1", "model.psi0=1", f"hydra.run.dir={out}"]  # fmt: skip
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = (out / "trajectory.csv").read_text().splitlines()
    assert rows[0] == "iteration,theta,psi" and rows[1] == "0,1,1" and len(rows) == 32
    assert read_summary(out)["iterations"] == 30


def test_cli_multirun_gives_each_job_a_directory(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "experiment=dirac_gan",
        "regularizer=none,r1",
        "seed=0,1",
        "iterations=10",
        f"hydra.sweep.dir={sweep}",
    ]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summaries = [read_summary(sweep / str(i)) for i in range(4)]
    assert sorted(tuple(s["regularizers"]) for s in summaries) == [(), (), ("r1",), ("r1",)]
    assert all(s["iterations"] == 10 for s in summaries)


def test_cli_bad_value_is_one_line_and_non_zero(tmp_path: Path) -> None:
    result = run_cli(["experiment=dirac_gan", "iterations=0", f"hydra.run.dir={tmp_path / 'x'}"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "lightning_r1: error: Expected `iterations` to be a positive integer, got 0"
    )


@pytest.mark.parametrize(
    "metrics, expected", [("fid", ["ModeMetrics"]), ("modes", ["ModeMetrics"]), ("none", [])]
)
def test_metrics_group_decides_the_toy_metrics(make_cfg, metrics: str, expected: list[str]) -> None:
    """metrics=modes is a config file of its own; metrics=fid (auto extractor) measures the data module's default
    metric, the mode metrics on 2-D mixtures, which have no FID; metrics=none means none (mode metrics used to be
    added by duck typing even then)."""
    from lightning_r1.build import metric_callbacks

    cfg = make_cfg([*TOY, f"metrics={metrics}"])
    datamodule = instantiate(cfg.dataset)
    assert datamodule.default_metric == "modes"
    built = metric_callbacks(cfg, Path(cfg.run_dir), datamodule)
    assert [type(cb).__name__ for cb in built] == expected
    if built:
        assert built[0].samples_path == Path(cfg.run_dir) / "mode_samples.npy"


def test_an_experiments_settings_for_an_unselected_regularizer_are_skipped_with_a_warning(
    tmp_path: Path,
) -> None:
    """experiment=mnist_conditional sets regularizer.r1.gamma; with regularizer=none (a sweep's first arm) that node has
    no _target_ and used to crash with Hydra's "Missing key on_exception"; it is skipped and named instead."""
    out = tmp_path / "run"
    result = run_cli(
        ["experiment=mnist_conditional", "regularizer=none", "iterations=1", "metrics=none",
         "samples_every=0", f"hydra.run.dir={out}"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["regularizers"] == []
    assert (
        "regularizer.r1: settings for a regularizer that is not selected (regularizer=none); ignored"
        in (out / "train.log").read_text()
    )
    # the saved config shows what ran: no half-filled r1 node for the reports to mistake for a penalty
    assert not OmegaConf.load(out / "config.yaml").regularizer

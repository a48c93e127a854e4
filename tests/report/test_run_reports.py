"""The Dirac and toy reports (``python -m lightning_r1.report.dirac``, ``python -m lightning_r1.report.toy``) on small
real run directories written by the app; the run-directory names they share; and drawing leaves matplotlib's
backend alone."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT, TOY, compose_config
from lightning_r1 import run_dir as rd
from lightning_r1.app import train
from lightning_r1.report import dirac, toy
from lightning_r1.report.jobs import find_jobs
from lightning_r1.theory import DiracSetup, contraction, log_distance_slope


def run_app(run_dir: Path, overrides: list[str]) -> Path:
    train(compose_config(overrides, run_dir))
    return run_dir


def table_rows(markdown: str) -> list[dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header, _, *rows = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    return [dict(zip(header, row, strict=True)) for row in rows]


def trajectory(run: Path) -> np.ndarray:
    return np.loadtxt(run / rd.TRAJECTORY, delimiter=",", skiprows=1, ndmin=2)[:, 1:]


@pytest.fixture(scope="module")
def dirac_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No penalty and R1 (γ = 0.3, 1.0) on the Dirac-GAN, 120 SGD steps each, as job folders 0, 1, 2."""
    root = tmp_path_factory.mktemp("dirac") / "sweep"
    for job, extra in enumerate([["experiment=dirac_none"], ["experiment=dirac_r1"],
                                 ["experiment=dirac_r1", "regularizer.r1.gamma=1.0"]]):  # fmt: skip
        run_app(root / str(job), [*extra, "iterations=120", "trainer.enable_progress_bar=false"])
    return root


def test_dirac_table_is_theory_next_to_the_measured_trajectories(dirac_sweep: Path, tmp_path: Path) -> None:
    figure = tmp_path / "measured.png"
    result = subprocess.run([sys.executable, "-m", "lightning_r1.report.dirac", "table", str(dirac_sweep),
                             "--figure", str(figure)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == dirac.markdown_table(dirac.load_sweep(dirac_sweep)) + "\n"
    rows = table_rows(result.stdout)
    assert [(r["method"], r["strength"]) for r in rows] == [("none", "–"), ("r1", "γ=0.3"), ("r1", "γ=1")]
    for row, job, gamma in zip(rows, ("0", "1", "2"), (0.0, 0.3, 1.0), strict=True):
        traj = trajectory(dirac_sweep / job)
        predicted = contraction(DiracSetup(loss="minimax", gamma=gamma), 0.1, "simultaneous")
        assert row["update"] == "simultaneous"
        assert row["predicted factor/iter"] == f"{predicted:.4f}"
        assert row["converges in theory"] == ("yes" if predicted < 1 else "no (spirals out)")
        assert row["start distance"] == f"{math.hypot(*traj[0]):.3f}" == "1.414"  # from (θ, ψ) = (1, 1)
        assert row["final distance"] == f"{math.hypot(*traj[-1]):.3g}"
    assert rows[0]["measured"] == "moves away" and rows[2]["measured"] == "converges"  # γ = 1: the fastest
    assert float(rows[1]["final distance"]) < 0.5 * float(rows[1]["start distance"])  # γ = 0.3: slower
    assert "3 runs, 120 iterations, SGD h = 0.1." in result.stdout
    with Image.open(figure) as im:
        assert im.width >= 3 * 300 and im.height >= 300  # one panel per run


def test_dirac_rates_measured_against_predicted(dirac_sweep: Path, tmp_path: Path) -> None:
    r1_runs = tmp_path / "gamma"
    r1_runs.mkdir()
    for job in ("1", "2"):  # the two R1 runs as a gamma sweep of their own
        (r1_runs / job).symlink_to(dirac_sweep / job, target_is_directory=True)
    jobs = dirac.load_sweep(r1_runs)
    md = dirac.rates_figure(jobs, tmp_path / "rates.png")
    rows = table_rows(md)
    assert [r["γ"] for r in rows] == ["0.3", "1"]
    for row, job, gamma in zip(rows, ("1", "2"), (0.3, 1.0), strict=True):
        predicted = contraction(DiracSetup(loss="minimax", gamma=gamma), 0.1, "simultaneous")
        measured = math.exp(log_distance_slope(trajectory(dirac_sweep / job), start=50))
        assert row["predicted factor"] == f"{predicted:.5f}" and row["measured factor"] == f"{measured:.5f}"
        assert row["relative error of the log"] == f"{abs(math.log(measured) / math.log(predicted) - 1):.1%}"
    assert (tmp_path / "rates.png").stat().st_size > 10_000


def test_dirac_report_without_trajectories_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no \\*/trajectory.csv under"):
        dirac.load_sweep(tmp_path)


@pytest.fixture(scope="module")
def toy_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ring8: no penalty with seeds 0 and 1, R1 with seed 0; 20 iterations, grad norms every 5, modes at the end."""
    root = tmp_path_factory.mktemp("toy") / "sweep"
    for job, extra in enumerate([["regularizer=none", "seed=0"], ["regularizer=none", "seed=1"],
                                 ["regularizer=r1", "seed=0"]]):  # fmt: skip
        run_app(root / str(job), [*TOY, *extra, "iterations=20", "gan.diagnostics_every=5"])
    return root


def tail_ratio(run: Path) -> float:
    """fake/real grad norms, median over the second half, read straight from metrics.csv."""
    with (run / rd.METRICS).open(newline="") as f:
        rows = [
            r for r in csv.DictReader(f) if r.get("train/grad_norm_real") and r.get("train/grad_norm_fake")
        ]
    ratios = [
        float(r["train/grad_norm_fake"]) / float(r["train/grad_norm_real"]) for r in rows[len(rows) // 2 :]
    ]
    return float(np.median(ratios))


def test_toy_table_equals_the_summaries_and_metrics_csv(toy_sweep: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    result = subprocess.run([sys.executable, "-m", "lightning_r1.report.toy", str(toy_sweep), "--figures",
                             str(figures)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {r["method"]: r for r in table_rows(result.stdout)}
    assert list(rows) == ["none", "r1"] and {r["dataset"] for r in rows.values()} == {"ring8"}
    summaries = [json.loads((toy_sweep / job / rd.SUMMARY).read_text())["metrics"] for job in "012"]
    for method, jobs in (("none", (0, 1)), ("r1", (2,))):
        per_seed = [summaries[j]["val/modes_covered"] for j in jobs]
        assert rows[method]["modes covered"].endswith("(" + " / ".join(f"{v:.1f}" for v in per_seed) + ")")
        assert rows[method]["modes covered"].startswith(f"{np.mean(per_seed):.1f} ")
        per_seed = [summaries[j]["val/high_quality_pct"] for j in jobs]
        assert rows[method]["high-quality %"].endswith("(" + " / ".join(f"{v:.1f}" for v in per_seed) + ")")
        ratios = [tail_ratio(toy_sweep / str(j)) for j in jobs]
        se = f" ± {statistics.stdev(ratios) / len(ratios) ** 0.5:.2f}" if len(ratios) > 1 else ""
        assert rows[method]["fake/real ‖∇D‖² (median, 2nd half)"] == (
            f"{np.mean(ratios):.2f}{se} (" + " / ".join(f"{v:.2f}" for v in ratios) + ")"
        )
    assert "Mean ± standard error over the seeds of each row (of [0, 1]" in result.stdout
    for method, jobs in (("none", ["0", "1"]), ("r1", ["2"])):
        times = [json.loads((toy_sweep / j / rd.SUMMARY).read_text())["wall_time_s"] for j in jobs]
        assert rows[method]["train time (s), mean / max"] == f"{np.mean(times):.0f} / {max(times):.0f}"
        assert (rows[method]["seeds"], rows[method]["iterations"]) == (str(len(jobs)), "20")
    for name in ("toy_ring8_scatter.png", "toy_ring8_grad_norms.png"):
        with Image.open(figures / name) as im:
            assert im.width >= 2 * 300  # a panel per method


def test_toy_samples_come_from_last_ckpt_without_mode_samples(toy_sweep: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "sweep" / "0"
    shutil.copytree(toy_sweep / "2", run)
    saved = np.load(run / rd.MODE_SAMPLES)
    (run / rd.MODE_SAMPLES).unlink()
    (job,) = toy.load_sweeps([tmp_path / "sweep"])
    assert job.method == "r1" and job.seed == 0 and job.samples.shape == saved.shape == (2500, 2)
    assert np.isfinite(job.samples).all()


def test_every_report_reads_runs_through_one_reader(toy_sweep: Path, dirac_sweep: Path) -> None:
    """find_jobs sees the runs of both sweeps; the Dirac and toy readers keep the same ones, in job order."""
    toy_jobs, dirac_jobs = find_jobs(toy_sweep), find_jobs(dirac_sweep)
    assert [j.name for j in toy_jobs] == [j.name for j in dirac_jobs] == ["0", "1", "2"]
    assert all(j.problem is None and j.has(rd.CONFIG) and j.has(rd.METRICS) for j in toy_jobs + dirac_jobs)
    assert [j.path for j in dirac.load_sweep(dirac_sweep)] == [j.path for j in dirac_jobs]
    assert [j.seed for j in toy.load_sweeps([toy_sweep])] == [int(j.config.seed) for j in toy_jobs]
    assert all(j.has(rd.MODE_SAMPLES) and rd.last_checkpoint(j.path).is_file() for j in toy_jobs)
    assert rd.run_dir_of(rd.last_checkpoint(toy_jobs[0].path)) == toy_jobs[0].path.absolute()


def test_run_directory_names_are_the_files_a_run_writes(tmp_path: Path) -> None:
    run = run_app(tmp_path / "run", [*TOY, "iterations=4", "samples_every=2", "checkpoint_every=2"])
    assert {rd.CONFIG, rd.SUMMARY, rd.METRICS, rd.MODE_SAMPLES, rd.SAMPLES, rd.CHECKPOINTS} <= {
        p.name for p in run.iterdir()
    }
    assert rd.sample_grids(run) == [rd.sample_grid(run / rd.SAMPLES, 2), rd.sample_grid(run / rd.SAMPLES, 4)]
    assert (run / rd.CHECKPOINTS / rd.checkpoint_filename(2)).is_file() and rd.last_checkpoint(run).is_file()


@pytest.mark.parametrize("chosen", [None, "svg"])
def test_importing_the_library_leaves_the_matplotlib_backend_alone(chosen: str | None) -> None:
    """Nothing switches the backend at import (no ``matplotlib.use("Agg")``): with none chosen (MPLBACKEND unset) it
    stays unresolved, and one the caller chose stays chosen. (pyplot itself gets imported, by torchmetrics.)"""
    choose = f"matplotlib.use({chosen!r}); " if chosen else ""
    code = ("import matplotlib; " + choose + "before = dict.__getitem__(matplotlib.rcParams, 'backend'); "
            "import lightning_r1, lightning_r1.app, lightning_r1.report, lightning_r1.report.dirac, "
            "lightning_r1.report.toy, lightning_r1.report.plots, lightning_r1.theory.figures, "
            "lightning_r1.callbacks.sample_grid, lightning_r1.generate, lightning_r1.evaluate; "
            "after = dict.__getitem__(matplotlib.rcParams, 'backend'); "
            "print(before == after, matplotlib.get_backend())")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    same, backend = result.stdout.split()
    assert same == "True"
    if chosen:
        assert backend == chosen


def test_the_package_draws_without_pyplot() -> None:
    """Every figure is a ``matplotlib.figure.Figure`` of its own (lightning_r1.plotting): no backend switch, no
    pyplot state, in any module of the package."""
    drawing = re.compile(
        r"^\s*(import matplotlib\.pyplot|from matplotlib import pyplot|matplotlib\.use\()", re.M
    )
    offenders = [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "lightning_r1").rglob("*.py")
                 if drawing.search(p.read_text())]  # fmt: skip
    assert offenders == []


def test_every_key_a_run_logs_is_in_the_vocabulary(toy_sweep: Path, dirac_sweep: Path) -> None:
    """What the metric callbacks and the GAN log is defined once, with its direction; IterationMetric's best uses it."""
    from lightning_r1.metrics.fidelity_callback import _KEYS
    from lightning_r1.metrics.iteration_metric import IterationMetric
    from lightning_r1.metrics.modes import KEYS
    from lightning_r1.metrics.vocabulary import METRICS, QUALITY_METRICS, higher_is_better

    known = {m.key for m in METRICS}
    assert set(_KEYS.values()) | set(KEYS) <= known
    for run in [*sorted(toy_sweep.iterdir()), *sorted(dirac_sweep.iterdir())]:
        with (run / rd.METRICS).open(newline="") as f:
            columns = set(next(csv.reader(f))) - {"step", "epoch"}
        summary = json.loads((run / rd.SUMMARY).read_text())
        assert columns | set(summary["metrics"]) | set(summary["best"]) <= known, run
        assert set(summary["best"]) <= set(QUALITY_METRICS)
    assert [higher_is_better(k) for k in ("val/fid", "val/kid_mean", "val/isc_mean", "val/reverse_kl")] == [
        False, False, True, False,
    ]  # fmt: skip
    assert higher_is_better("val/kid_std") is None and higher_is_better("train/d_loss") is None
    metric = IterationMetric(every=0, num_samples=1)
    metric.history = [{"iteration": 1, "val/kid_mean": 0.05, "val/isc_mean": 2.0, "val/kid_std": 0.01},
                      {"iteration": 2, "val/kid_mean": 0.02, "val/isc_mean": 1.5, "val/kid_std": 0.001}]  # fmt: skip
    assert metric.best == {"val/kid_mean": (0.02, 2), "val/isc_mean": (2.0, 1)}

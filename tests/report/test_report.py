"""``python -m lightning_r1.report``: tables equal to the summaries, mean ± std over seeds, plots, crashed jobs,
folders without runs; and the sweep an optuna objective that was never logged stops after one trial."""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT, TOY
from lightning_r1.report import NoRunsError, find_jobs, make_report
from lightning_r1.report.__main__ import main as report_main
from lightning_r1.report.table import fmt, fmt_pm

FID = {("none", 0): [80.0, 60.0], ("none", 1): [90.0, 70.0], ("r1", 0): [50.0, 30.0], ("r1", 1): [45.0, 35.0]}


def write_job(path: Path, overrides: list[str], metrics: dict, rows: list[dict], status: str = "completed",
              regularizers: list[str] | None = None, best: dict | None = None, samples: int = 2) -> None:  # fmt: skip
    """A run directory as the app writes it: summary.json, a sparse metrics.csv, samples/iter_*.png."""
    path.mkdir(parents=True)
    summary = {"iterations": 100, "wall_time_s": 12.5 + len(overrides), "regularizers": regularizers or [],
               "metrics": metrics, "best": best or {}, "overrides": overrides, "status": status}  # fmt: skip
    if status != "completed":
        summary["error"] = "RuntimeError: boom"
    (path / "summary.json").write_text(json.dumps(summary))
    keys = sorted({k for r in rows for k in r})
    with (path / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    (path / "samples").mkdir()
    for i in range(1, samples + 1):
        Image.new("RGB", (64, 64), (40 * i, 90, 160)).save(path / "samples" / f"iter_{50 * i:06d}.png")


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """2 regularizers × 2 seeds with FID every 50 iterations (FID rows lack `iteration`, as when logged straight to
    the loggers), a failed job, and a job that died before writing summary.json."""
    root = tmp_path / "multirun" / "2024-05-01" / "12-00-00"
    for job, ((reg, seed), fids) in enumerate(FID.items()):
        rows = [{"iteration": it, "step": it - 1, "train/d_loss": 1.0 + 0.01 * it + seed, "train/r1": 0.1 * it}
                for it in range(1, 101)]  # fmt: skip
        rows += [{"step": 49, "val/fid": fids[0]}, {"step": 99, "val/fid": fids[1]}]
        metrics = {"train/d_loss": 2.0 + seed + (reg == "r1"), "val/fid": fids[1], "iteration": 100.0}
        if reg == "r1":
            metrics["train/r1"] = 0.123456 * (seed + 1)
        best = {"val/fid": {"value": min(fids), "iteration": 50 if fids[0] < fids[1] else 100}}
        write_job(root / str(job), ["dataset=mnist_5k", f"regularizer={reg}", f"seed={seed}"], metrics, rows,
                  regularizers=[] if reg == "none" else ["r1"], best=best)  # fmt: skip
    write_job(root / "4", ["dataset=mnist_5k", "regularizer=wgan_gp", "seed=0"], {"train/d_loss": 9.0},
              [{"iteration": 1, "step": 0, "train/d_loss": 9.0}], status="failed")  # fmt: skip
    (root / "5").mkdir()
    (root / "5" / "metrics.csv").write_text("iteration,step,train/d_loss\n1,0,1.5\n")
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def rows_of(markdown: str, heading: str) -> list[dict[str, str]]:
    section = markdown.split(f"## {heading}\n", 1)[1].lstrip("\n").split("\n\n", 1)[0].splitlines()
    header, *rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in section]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def test_report_tables_equal_the_summaries(sweep: Path) -> None:
    report = make_report(sweep)
    md = report.markdown.read_text()
    assert report.metric == "val/fid"
    runs = rows_of(md, "Runs")
    assert [r["run"] for r in runs] == ["0", "1", "2", "3", "4", "5"]
    for row in runs[:4]:
        summary = json.loads((sweep / row["run"] / "summary.json").read_text())
        assert row["overrides"] == "`" + ",".join(summary["overrides"][1:]) + "`"  # dataset= is shared by all
        assert row["final val/fid"] == fmt(summary["metrics"]["val/fid"])
        best = summary["best"]["val/fid"]
        assert row["best val/fid"] == f"{fmt(best['value'])} (@{best['iteration']})"
        assert row["train/r1"] == fmt(summary["metrics"].get("train/r1"))
        assert row["iterations"] == "100" and row["wall time (s)"] == fmt(summary["wall_time_s"])
    assert runs[4]["status"] == "failed" and runs[5]["status"] == "no summary"
    assert "Shared by every run: `dataset=mnist_5k`" in md

    seeds = {r["overrides (seeds pooled)"]: r for r in rows_of(md, "Mean ± std across seeds")}
    assert list(seeds) == ["`regularizer=r1`", "`regularizer=none`"]  # best (lowest FID) first
    for reg in ("none", "r1"):
        finals = [FID[(reg, s)][1] for s in (0, 1)]
        row = seeds[f"`regularizer={reg}`"]
        assert row["seeds"] == "2"
        assert row["final val/fid"] == fmt_pm(statistics.fmean(finals), statistics.stdev(finals))
    # r1: 32.5 ± 2.5 (s.e. of 30, 35), none: 65 ± 5: the intervals are apart
    assert (
        "**Best: `regularizer=r1`** — final val/fid 32.5 ± 2.5 (2 seeds); its mean ± s.e. interval overlaps"
        in md
    )


def test_crashed_jobs_are_named_and_the_rest_reported(sweep: Path) -> None:
    report = make_report(sweep)
    assert report.problems == [
        f"{sweep / '4'}: failed: RuntimeError: boom",
        f"{sweep / '5'}: no summary.json (crashed, killed or still running)",
    ]
    md = report.markdown.read_text()
    assert "## Problems" in md and all(p in md for p in report.problems)
    assert "regularizer=wgan_gp" not in md.split("## Mean ± std across seeds")[1]  # failed runs not pooled
    result = subprocess.run([sys.executable, "-m", "lightning_r1.report", str(sweep)], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 2 and str(sweep / "4") in warnings[0] and str(sweep / "5") in warnings[1]
    assert "6 runs (2 with problems)" in result.stdout


def test_plots_show_every_job_and_the_last_samples(sweep: Path) -> None:
    report = make_report(sweep)
    with Image.open(report.plot) as im:
        assert im.width >= 600 and im.height >= 400
    with Image.open(report.mosaic) as im:
        assert im.width >= 600
        pixels = np.asarray(im.convert("RGB"))
    # Each tile is the last grid (iter_000100.png: colour (80, 90, 160)), never the first one (40, 90, 160).
    assert (np.abs(pixels.astype(int) - (80, 90, 160)).sum(-1) == 0).sum() > 4 * 40 * 40
    assert (np.abs(pixels.astype(int) - (40, 90, 160)).sum(-1) == 0).sum() == 0
    jobs = find_jobs(sweep)
    x, y = jobs[0].curve("val/fid")
    assert x.tolist() == [50.0, 100.0] and y.tolist() == FID[("none", 0)]  # iteration filled in from `step`


def test_toy_metric_or_loss_when_there_is_no_fid(tmp_path: Path) -> None:
    for job, (reg, kl) in enumerate([("none", 0.9), ("r2", 0.2)]):
        rows = [{"iteration": it, "step": it - 1, "train/d_loss": 1.0, "val/reverse_kl": kl, "val/modes_covered": 8}
                for it in (10, 20)]  # fmt: skip
        write_job(tmp_path / "toy" / str(job), [f"regularizer={reg}"], {"val/reverse_kl": kl, "val/modes_covered": 8.0}, rows)  # fmt: skip
    report = make_report(tmp_path / "toy")
    md = report.markdown.read_text()
    assert report.metric == "val/reverse_kl" and "**No clear winner**: `regularizer=r2` has the best" in md
    assert "best val/modes_covered" in md and "## Mean ± std across seeds" not in md  # no seeds to pool

    write_job(tmp_path / "loss" / "0", ["seed=0"], {"train/d_loss": 1.2}, [{"iteration": 1, "step": 0, "train/d_loss": 1.2}])  # fmt: skip
    write_job(tmp_path / "loss" / "1", ["seed=1"], {"train/d_loss": 1.4}, [{"iteration": 1, "step": 0, "train/d_loss": 1.4}])  # fmt: skip
    report = make_report(tmp_path / "loss")
    # A training loss picks no winner.
    assert report.metric == "train/d_loss" and "**Best" not in report.markdown.read_text()
    single = make_report(tmp_path / "loss" / "0")  # a run directory on its own
    assert len(single.jobs) == 1 and single.markdown == tmp_path / "loss" / "0" / "report.md"


def test_kid_and_is_are_ranked_under_the_keys_the_callback_logs(tmp_path: Path) -> None:
    """FidelityMetrics logs val/kid_mean and val/isc_mean (not val/kid, val/isc): a sweep of two jobs is ranked on
    both, lower KID better, higher IS better, with best columns from summary.json's ``best``."""
    kid, isc = {"none": [0.09, 0.05], "r1": [0.04, 0.02]}, {"none": [2.5, 3.0], "r1": [1.8, 2.0]}
    for job, reg in enumerate(("none", "r1")):
        rows = [{"iteration": it, "step": it - 1, "train/d_loss": 1.0} for it in (50, 100)]
        rows += [{"step": 49, "val/kid_mean": kid[reg][0], "val/isc_mean": isc[reg][0]},
                 {"step": 99, "val/kid_mean": kid[reg][1], "val/isc_mean": isc[reg][1]}]  # fmt: skip
        metrics = {"val/kid_mean": kid[reg][1], "val/kid_std": 0.001, "val/isc_mean": isc[reg][1]}
        best = {"val/kid_mean": {"value": kid[reg][1], "iteration": 100},
                "val/isc_mean": {"value": isc[reg][1], "iteration": 100}}  # fmt: skip
        write_job(tmp_path / "sweep" / str(job), [f"regularizer={reg}"], metrics, rows, best=best)
    report = make_report(tmp_path / "sweep")  # no FID, no toy metric: KID is the main metric
    md = report.markdown.read_text()
    assert report.metric == "val/kid_mean" and "(lower is better)." in md
    assert (
        "**No clear winner**: `regularizer=r1` has the best final val/kid_mean (0.02)" in md
    )  # one seed each
    assert "Ranking (mean ± s.e.): `regularizer=r1` 0.02 (1 seed) < `regularizer=none` 0.05 (1 seed)" in md
    runs = rows_of(md, "Runs")
    assert [r["best val/kid_mean"] for r in runs] == ["0.05 (@100)", "0.02 (@100)"]
    assert [r["best val/isc_mean"] for r in runs] == ["3 (@100)", "2 (@100)"]
    assert "best val/kid_std" not in md  # a spread, not a quality: reported, never ranked

    md = make_report(tmp_path / "sweep", metric="val/isc_mean").markdown.read_text()
    assert "(higher is better)." in md and "`regularizer=none` has the best final val/isc_mean (3)" in md
    assert "Ranking (mean ± s.e.): `regularizer=none` 3 (1 seed) > `regularizer=r1` 2 (1 seed)" in md


@pytest.mark.parametrize(
    ("arms", "winner"),
    [  # final FIDs per seed; lower is better
        ({"r1": [50.0, 52.0, 54.0], "none": [60.0, 61.0, 62.0], "r2": [70.0, 90.0, 110.0]}, True),
        ({"r1": [90.0, 150.0, 227.1], "none": [140.0, 157.3, 174.6]}, False),  # 155.7 ± 40 vs 157.3 ± 10
        ({"r1": [50.0], "none": [90.0]}, False),  # one seed per arm: no noise estimate
    ],
)
def test_a_winner_only_where_the_difference_exceeds_the_noise(
    tmp_path: Path, arms: dict, winner: bool
) -> None:
    """Through the real CLI on run directories: "Best" only where the best arm's mean ± s.e. interval overlaps no
    other arm's; "No clear winner" otherwise; the seeds of every arm shown."""
    root = tmp_path / "sweep"
    for reg, fids in arms.items():
        for seed, fid in enumerate(fids):
            rows = [{"iteration": 100, "step": 99, "train/d_loss": 1.0, "val/fid": fid}]
            write_job(root / f"{reg}{seed}", [f"regularizer={reg}", f"seed={seed}"], {"val/fid": fid}, rows)
    result = subprocess.run([sys.executable, "-m", "lightning_r1.report", str(root)], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    md = (root / "report.md").read_text()
    ranked = sorted(arms, key=lambda reg: statistics.fmean(arms[reg]))
    se = {reg: statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else None for reg, v in arms.items()}
    best, others = ranked[0], ranked[1:]
    if len(arms[best]) > 1:  # the verdict's rule, computed here from the values themselves
        apart = all(
            abs(statistics.fmean(arms[best]) - statistics.fmean(arms[o])) > se[best] + se[o] for o in others
        )
        assert apart == winner
    if winner:
        assert f"**Best: `regularizer={best}`** — final val/fid {fmt_pm(statistics.fmean(arms[best]), se[best])} " \
               f"({len(arms[best])} seeds)" in md  # fmt: skip
    else:
        assert "**Best" not in md and f"**No clear winner**: `regularizer={best}` has the best" in md
    if len(arms[best]) == 1:
        assert "no noise estimate" in md
    ranking = md.split("Ranking (mean ± s.e.): ", 1)[1].splitlines()[0]
    for reg in ranked:  # every arm with its seeds, best first
        n = len(arms[reg])
        cell = f"`regularizer={reg}` {fmt_pm(statistics.fmean(arms[reg]), se[reg])} ({n} seed{'s' if n > 1 else ''})"
        assert cell in ranking, (cell, ranking)
    assert [ranking.index(f"regularizer={reg}") for reg in ranked] == sorted(
        ranking.index(f"regularizer={reg}") for reg in ranked
    )
    if len(arms[best]) > 1:
        seeds = {r["overrides (seeds pooled)"]: r["seeds"] for r in rows_of(md, "Mean ± std across seeds")}
        assert seeds == {f"`regularizer={reg}`": str(len(v)) for reg, v in arms.items()}


def test_the_optuna_experiment_optimises_its_objective_in_the_vocabulary_direction() -> None:
    import yaml

    from lightning_r1.metrics.vocabulary import sweeper_direction

    cfg = yaml.safe_load((REPO_ROOT / "conf" / "experiment" / "optuna_r1_gamma.yaml").read_text())
    assert cfg["hydra"]["sweeper"]["direction"] == sweeper_direction(cfg["objective"]) == "minimize"


@pytest.mark.parametrize("make", ["empty", "missing", "no_runs"])
def test_a_folder_without_runs_is_one_clear_line(
    tmp_path: Path, make: str, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "sweep"
    if make != "missing":
        folder.mkdir()
    if make == "no_runs":
        (folder / "notes").mkdir()
        (folder / "notes" / "readme.txt").write_text("nothing here")
    with pytest.raises(NoRunsError, match=str(folder)):
        find_jobs(folder)
    assert report_main([str(folder)]) == 2  # what `python -m lightning_r1.report FOLDER` runs and exits with
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lightning_r1.report: error: ") and str(folder) in lines[0]
    assert not (folder / "report.md").exists()


@pytest.mark.slow  # an Optuna sweep through the CLI
def test_optuna_objective_never_logged_stops_the_sweep_after_one_trial(tmp_path: Path) -> None:
    """experiment=optuna_r1_gamma optimises val/fid; toy data logs no FID: the first trial ends with the names it
    could have used, no second trial starts, and the folder still gets a report."""
    sweep = tmp_path / "sweep"
    args = ["-m", "experiment=optuna_r1_gamma", "hydra.sweeper.n_trials=3", *TOY, "metrics=none", "iterations=2",
            "trainer.enable_progress_bar=false", "checkpoint_every=0", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    result = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *args], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode != 0
    assert "objective='val/fid' was never logged by this run; logged metrics: [" in result.stderr
    assert "'train/d_loss'" in result.stderr
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0"]
    report = make_report(sweep)
    assert len(report.jobs) == 1 and report.jobs[0].problem is None
    assert "regularizer.r1.gamma=" in report.markdown.read_text()


def test_a_job_stopped_by_a_signal_is_listed_as_stopped_not_failed(tmp_path: Path) -> None:
    """A SIGTERM-stopped job (``status: stopped``) keeps its status in the runs table; a failed one stays failed."""
    root = tmp_path / "multirun"
    rows = [{"iteration": 1, "step": 0, "train/d_loss": 1.0}]
    write_job(root / "0", ["regularizer=r1", "seed=0"], {"train/d_loss": 1.0}, rows, status="stopped")
    write_job(root / "1", ["regularizer=r1", "seed=1"], {"train/d_loss": 1.0}, rows, status="failed")
    runs = rows_of(make_report(root).markdown.read_text(), "Runs")
    assert [(r["run"], r["status"]) for r in runs] == [("0", "stopped"), ("1", "failed")]

"""Dirac-GAN sweeps against the theory: a markdown table, measured trajectories, measured rates over gamma.

    python train.py -m experiment=dirac_none,dirac_wgan,dirac_wgan_gp,dirac_instance_noise,dirac_r1,dirac_r2 \
        gan.update=simultaneous,alternating hydra.sweep.dir=multirun/dirac
    python -m lightning_r1.report.dirac table multirun/dirac --figure docs/figures/dirac_measured.png

    python train.py -m experiment=dirac_r1 regularizer.r1.gamma=0.05,0.1,0.3,0.5,0.7,0.9,1,1.2,1.5,2,3 \
        hydra.sweep.dir=multirun/dirac_gamma
    python -m lightning_r1.report.dirac rates multirun/dirac_gamma --figure docs/figures/dirac_rates.png

Each job directory holds ``config.yaml`` (what ran), ``trajectory.csv`` and ``summary.json`` (docs/architecture.md, "The run directory"); they are
read through :func:`lightning_r1.report.jobs.find_jobs`, the theory (predicted rates, vector fields) comes from
:mod:`lightning_r1.theory`.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from lightning_r1 import run_dir as rd
from lightning_r1.plotting import subplots
from lightning_r1.report.jobs import Job, NoRunsError, find_jobs
from lightning_r1.report.table import markdown
from lightning_r1.theory.dirac import (
    DiracSetup,
    NotDifferentiableError,
    contraction,
    linearised_trajectory,
    log_distance_slope,
)
from lightning_r1.theory.figures import plot_field


@dataclass
class DiracJob:
    """One finished Dirac-GAN run: its set-up, SGD step size, update rule and measured trajectory."""

    path: Path
    setup: DiracSetup
    regularizers: list[str]
    lr: float
    update: str
    trajectory: np.ndarray  # rows (theta, psi), row 0 = start

    @property
    def method(self) -> str:
        names = "+".join(self.regularizers) or "none"
        return f"{names} ({self.setup.loss})" if self.setup.loss != "minimax" else names

    @property
    def strength(self) -> str:
        parts = [f"γ={self.setup.gamma:g}" if self.setup.gamma else "", f"σ={self.setup.sigma:g}" if self.setup.sigma else "",
                 f"λ={self.setup.gp_weight:g}" if self.setup.gp_weight else ""]  # fmt: skip
        return ", ".join(p for p in parts if p) or "–"


def setup_from_config(cfg: DictConfig) -> DiracSetup:
    """The :class:`DiracSetup` of a composed run config (loss name and regularizer members)."""
    gamma = sigma = gp_weight = 0.0
    for name, node in (cfg.get("regularizer") or {}).items():
        if name in ("r1", "r2"):
            gamma += float(node.gamma)
        elif name == "zero_gp":
            gamma += 2.0 * float(node.weight)
        elif name == "wgan_gp":
            gp_weight += float(node.weight)
        elif name == "instance_noise":
            sigma = math.hypot(sigma, float(node.sigma))
        else:
            raise ValueError(f"no Dirac-GAN model of regularizer {name!r}")
    return DiracSetup(loss=str(cfg.loss.name), gamma=gamma, sigma=sigma, gp_weight=gp_weight)


def load_job(job: Job | Path) -> DiracJob:
    """A Dirac-GAN run (a :class:`~lightning_r1.report.jobs.Job` or its folder): set-up and trajectory."""
    job = job if isinstance(job, Job) else Job(Path(job), overrides=[], summary=None)
    cfg = job.config
    table = np.loadtxt(job.path / rd.TRAJECTORY, delimiter=",", skiprows=1, ndmin=2)
    return DiracJob(job.path, setup_from_config(cfg), list((cfg.get("regularizer") or {}).keys()),
                    float(cfg.optim.lr), str(cfg.gan["update"]), table[:, 1:])  # fmt: skip


def load_sweep(sweep_dir: str | Path) -> list[DiracJob]:
    """Every run of a multirun (or the run directory itself) with a trajectory.csv, in job order.

    Raises:
        FileNotFoundError: no run under ``sweep_dir`` wrote a trajectory.
    """
    try:
        jobs = [job for job in find_jobs(sweep_dir) if job.has(rd.TRAJECTORY)]
    except NoRunsError:
        jobs = []
    if not jobs:
        raise FileNotFoundError(f"no */{rd.TRAJECTORY} under {sweep_dir}")
    return [load_job(job) for job in jobs]


def theory_verdict(job: DiracJob) -> tuple[str, float | None]:
    """("yes"/"no ..." , predicted factor per iteration or None)."""
    try:
        rate = contraction(job.setup, job.lr, job.update)
    except NotDifferentiableError:
        return "no (no Jacobian at ψ=0)", None
    if rate < 1 - 1e-9:
        return "yes", rate
    return ("no (cycles)" if rate < 1 + 1e-9 else "no (spirals out)"), rate


def measured_verdict(dist: np.ndarray) -> str:
    """From the mean distance over the last 10% of the run (instance noise leaves a small jitter)."""
    end = float(dist[-max(1, len(dist) // 10) :].mean())
    if end < 0.1 * dist[0]:
        return "converges"
    if end > 1.05 * dist[0]:
        return "moves away"
    return "neither"


def measured_factor(trajectory: np.ndarray) -> float:
    """exp(slope of log(θ² + ψ²)/2) over iterations n/6 .. n/2 (past the start, before any noise floor)."""
    n = len(trajectory) - 1
    return math.exp(log_distance_slope(trajectory[: n // 2 + 1], start=n // 6))


TABLE_HEADER = ["method", "strength", "update", "converges in theory", "predicted factor/iter",
                "measured factor/iter", "start distance", "final distance", "measured"]  # fmt: skip


def markdown_table(jobs: list[DiracJob]) -> str:
    """One row per run (by method, then update rule): theory's verdict and rate next to the measured ones."""
    rows = []
    for job in sorted(jobs, key=lambda j: (j.method, j.update)):
        dist = np.hypot(job.trajectory[:, 0], job.trajectory[:, 1])
        verdict, rate = theory_verdict(job)
        measured_rate = measured_factor(job.trajectory)
        rows.append([job.method, job.strength, job.update, verdict, "–" if rate is None else f"{rate:.4f}",
                     f"{measured_rate:.4f}", f"{dist[0]:.3f}", f"{dist[-1]:.3g}", measured_verdict(dist)])  # fmt: skip
    lines = [markdown(TABLE_HEADER, rows)]
    iters = {len(j.trajectory) - 1 for j in jobs}
    lrs = {j.lr for j in jobs}
    note = (f"\n{len(jobs)} runs, {'/'.join(map(str, sorted(iters)))} iterations, SGD h = "
            f"{'/'.join(f'{x:g}' for x in sorted(lrs))}. Measured factor: exp of the slope of log(θ²+ψ²)/2 over "
            "iterations n/6 to n/2; measured verdict from the mean distance over the last 10% (converges: < 0.1 × "
            "start; moves away: > 1.05 × start).\n")  # fmt: skip
    return "\n".join(lines) + "\n" + note


def trajectories_figure(jobs: list[DiracJob], path: str | Path) -> Path:
    """One panel per job: its vector field (theory) and its measured trajectory."""
    ordered = sorted(jobs, key=lambda j: (j.method, j.update))
    cols = min(4, len(ordered))
    rows = math.ceil(len(ordered) / cols)
    fig, axes = subplots(rows, cols, figsize=(4 * cols, 4 * rows), dpi=90, squeeze=False)
    for ax, job in zip(axes.flat, ordered, strict=False):
        plot_field(ax, job.setup, job.trajectory, label="measured trajectory",
                   lim=max(2.0, float(np.abs(job.trajectory).max()) * 1.05))  # fmt: skip
        ax.set_title(f"{job.method}, {job.strength}\n{job.update}: final distance "
                     f"{np.hypot(*job.trajectory[-1]):.3g}", fontsize=8)  # fmt: skip
        ax.xaxis.label.set_size(7)
        ax.yaxis.label.set_size(7)
    for ax in list(axes.flat)[len(ordered) :]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower left", fontsize=6)
    fig.suptitle("Measured Dirac-GAN trajectories (real GAN module, SGD) over the theoretical vector fields")
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def rates_figure(jobs: list[DiracJob], path: str | Path, tail: int = 50) -> str:
    """Measured per-iteration factor vs gamma, over the predicted max|1 + hλ| curve; returns a markdown table."""
    jobs = sorted(jobs, key=lambda j: j.setup.gamma)
    lr, update = jobs[0].lr, jobs[0].update
    gammas = np.linspace(0, max(j.setup.gamma for j in jobs) * 1.05, 200)
    curve = [contraction(DiracSetup(loss=jobs[0].setup.loss, gamma=g), lr, update) for g in gammas]
    measured = [math.exp(log_distance_slope(j.trajectory, start=tail)) for j in jobs]
    predicted = [contraction(j.setup, j.lr, j.update) for j in jobs]
    # the same fit on the linearised run M^k x0: differs from ρ where the transient matters (k·ρ^k at γ = 1)
    linear = [math.exp(log_distance_slope(linearised_trajectory(j.setup, *j.trajectory[0], j.lr,
                                                                len(j.trajectory) - 1, j.update), start=tail))
              for j in jobs]  # fmt: skip
    fig, ax = subplots(figsize=(6, 4.5), dpi=100)
    ax.plot(gammas, curve, label=f"theory: max|1 + hλ| ({update}, h={lr:g})")
    ax.plot([j.setup.gamma for j in jobs], measured, "o", color="tab:red", label="measured (GAN module)")
    ax.plot([j.setup.gamma for j in jobs], linear, "x", color="k", ms=7,
            label="same fit on the linearised run M^k x0\n(above the curve at γ = 1: k·ρ^k)")  # fmt: skip
    ax.axvline(1.0, color="k", ls=":", lw=0.8, label="critical γ = 2 f'(0) = 1")
    ax.axhline(1.0, color="grey", lw=0.6)
    ax.set_xlabel("γ (R1)")
    ax.set_ylabel("factor on the distance to (0,0) per iteration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    rows = [[f"{job.setup.gamma:g}", f"{p:.5f}", f"{m:.5f}", f"{abs(math.log(m) / math.log(p) - 1):.1%}", f"{lin:.5f}"]
            for job, p, m, lin in zip(jobs, predicted, measured, linear, strict=True)]  # fmt: skip
    header = [
        "γ",
        "predicted factor",
        "measured factor",
        "relative error of the log",
        "linearised run, same fit",
    ]
    return markdown(header, rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["table", "rates"])
    parser.add_argument("sweep_dir")
    parser.add_argument(
        "--figure", help="PNG to write (trajectories for `table`, factor vs gamma for `rates`)"
    )
    args = parser.parse_args(argv)
    jobs = load_sweep(args.sweep_dir)
    if args.kind == "table":
        print(markdown_table(jobs))
        if args.figure:
            trajectories_figure(jobs, args.figure)
    else:
        print(rates_figure(jobs, args.figure or Path(args.sweep_dir) / "rates.png"))


if __name__ == "__main__":
    main()

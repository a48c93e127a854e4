"""StackedMNIST runs (``experiment=stacked_mnist``): the mode-coverage table and the mode histograms.

    OMP_NUM_THREADS=1 python train.py -m experiment=stacked_mnist loss=nonsaturating,relativistic \
        'regularizer=none,r1,[r1,r2]' seed=0,1,2 hydra.sweep.dir=multirun/stacked_mnist
    python -m lightning_r1.report.stacked_mnist multirun/stacked_mnist --figures docs/figures

Reads each job's ``config.yaml`` (loss, regularizers, seed), ``summary.json`` (``val/modes_covered``,
``val/reverse_kl`` of :class:`~lightning_r1.metrics.StackedMNISTModes`, ``iterations``, ``wall_time_s``) and
``stacked_modes.npy`` (the predicted mode of each evaluated image), through :func:`lightning_r1.report.jobs.find_jobs`.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra.utils import instantiate

from lightning_r1 import run_dir as rd
from lightning_r1.data.stacked_mnist import StackedMNISTDataModule
from lightning_r1.plotting import subplots
from lightning_r1.report.jobs import Job, finished_jobs
from lightning_r1.report.table import markdown, mean_se

HEADER = [
    "loss",
    "regularizers",
    "D/G parameters",
    "seeds",
    "iterations",
    "modes covered (of 1000)",
    "reverse KL",
    "of it, the channels' digit KLs (R + G + B)",
    "wall time (s)",
]


@dataclass
class StackedJob:
    loss: str
    method: str
    d_to_g: float  # D's parameter count over G's (PacGAN Table 3: "D a quarter of G's size")
    seed: int
    iterations: int
    wall_time_s: float | None
    metrics: dict[str, float | None]
    modes: np.ndarray | None  # predicted mode of each evaluated image


def load_job(job: Job) -> StackedJob:
    """One StackedMNIST run: loss, regularizers, seed, final metrics, wall time, predicted modes."""
    cfg, summary = job.config, job.summary or {}
    modes = job.path / rd.STACKED_MODES
    return StackedJob(
        loss=str(cfg.loss.name),
        method="+".join((cfg.get("regularizer") or {}).keys()) or "none",
        d_to_g=parameter_ratio(cfg),
        seed=int(cfg.seed),
        iterations=int(summary.get("iterations") or 0),
        wall_time_s=summary.get("wall_time_s"),
        metrics=job.metrics,
        modes=np.load(modes) if modes.exists() else None,
    )


def channel_kls(modes: np.ndarray) -> tuple[float, float, float]:
    """KL of each channel's generated digit frequencies to the data's (the red digit of mode 100a + 10b + c is a).

    The data's modes are a product of independent digits, so the reverse KL of the modes is the sum of these three
    plus the mutual dependence of the generated channels: the column says how much of a run's KL is digits drawn
    too often or too rarely in one channel, and how much is channels that do not vary independently.
    """
    digit_freq = StackedMNISTDataModule.mode_distribution().reshape(10, 10, 10).sum(dim=(1, 2)).numpy()
    kls = []
    for digits in (modes // 100, modes // 10 % 10, modes % 10):
        q = np.bincount(digits, minlength=10) / len(digits)
        kls.append(float(np.sum(q[q > 0] * np.log(q[q > 0] / digit_freq[q > 0]))))
    return kls[0], kls[1], kls[2]


def _channel_cell(runs: list[StackedJob]) -> str:
    """Mean over seeds of R + G + B channel KLs, as 'sum (R / G / B)'; '–' without saved modes."""
    per_run = [channel_kls(r.modes) for r in runs if r.modes is not None]
    if not per_run:
        return "–"
    mean = np.mean(per_run, axis=0)
    return f"{mean.sum():.3f} ({mean[0]:.3f} / {mean[1]:.3f} / {mean[2]:.3f})"


def parameter_ratio(cfg) -> float:
    """D's parameter count over G's for the run's ``model`` config (the networks are built, untrained, to count)."""
    models = instantiate(cfg.model)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    return count(models.discriminator) / count(models.generator)


def load_sweeps(dirs: list[str | Path]) -> list[StackedJob]:
    """Every finished run under each of ``dirs``, in job order (:func:`~lightning_r1.report.jobs.finished_jobs`)."""
    return [load_job(job) for job in finished_jobs(dirs)]


def markdown_table(jobs: list[StackedJob]) -> str:
    """One row per (loss, regularizers, D/G parameter ratio, iterations): modes covered and reverse KL, mean ± s.e.
    over seeds and per seed."""
    groups: dict[tuple[str, str, float, int], list[StackedJob]] = defaultdict(list)
    for job in jobs:
        groups[(job.loss, job.method, round(job.d_to_g, 2), job.iterations)].append(job)
    rows = []
    for (loss, method, d_to_g, iterations), runs in sorted(groups.items()):
        runs = sorted(runs, key=lambda j: j.seed)
        rows.append([
            loss, method, f"{d_to_g:.2f}", ", ".join(str(r.seed) for r in runs), str(iterations),
            mean_se([r.metrics.get("val/modes_covered") for r in runs], 1),
            mean_se([r.metrics.get("val/reverse_kl") for r in runs], 3),
            _channel_cell(runs),
            ", ".join(f"{r.wall_time_s:.0f}" if r.wall_time_s is not None else "–" for r in runs),
        ])  # fmt: skip
    return markdown(HEADER, rows) + (
        "\n\nMean ± standard error over seeds (per-seed values in brackets); channel KLs: mean over seeds.\n"
    )


def histogram_figure(jobs: list[StackedJob], path: Path) -> Path:
    """Per run: how many of the evaluated images fell on each of the 1000 modes, modes sorted by count."""
    runs = [j for j in jobs if j.modes is not None]
    cols = min(3, len(runs))
    fig, axes = subplots(max(1, math.ceil(len(runs) / max(cols, 1))), max(cols, 1), figsize=(4.2 * max(cols, 1),
                         3.0 * math.ceil(len(runs) / max(cols, 1))), dpi=100, squeeze=False)  # fmt: skip
    for ax in axes.flat[len(runs) :]:
        ax.axis("off")
    for ax, job in zip(axes.flat, runs, strict=False):
        counts = np.sort(np.bincount(job.modes, minlength=1000))[::-1]
        ax.bar(np.arange(1000), counts, width=1.0)
        ax.axhline(len(job.modes) / 1000, color="red", lw=1, label="uniform")
        m = job.metrics
        d_size = "" if job.d_to_g > 0.4 else f", D/G {job.d_to_g:.2f}"
        ax.set_title(f"{job.loss}, {job.method}{d_size}, {job.iterations} it., seed {job.seed}: {m.get('val/modes_covered') or 0:.0f} modes, "
                     f"KL {m.get('val/reverse_kl') or 0:.2f}", fontsize=8)  # fmt: skip
        ax.set_xlabel("mode (sorted by count)")
        ax.set_ylabel("images")
    fig.tight_layout()
    fig.savefig(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweep_dirs", nargs="+")
    parser.add_argument("--figures", help="folder for stacked_mnist_modes.png (mode histograms)")
    args = parser.parse_args(argv)
    jobs = load_sweeps(args.sweep_dirs)
    print(markdown_table(jobs))
    if args.figures:
        out = Path(args.figures)
        out.mkdir(parents=True, exist_ok=True)
        print(histogram_figure(jobs, out / "stacked_mnist_modes.png"))


if __name__ == "__main__":
    main()

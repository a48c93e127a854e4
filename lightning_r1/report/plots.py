"""The report's figures: the main metric against iteration per job, and a mosaic of each job's last samples."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from lightning_r1.plotting import subplots
from lightning_r1.report.jobs import Job
from lightning_r1.report.table import DIRECTION

LINESTYLES = ("-", "--", ":", "-.")


def smooth(y: np.ndarray, points: int) -> np.ndarray:
    """Running mean over ``points`` values (for noisy per-step losses); the ends use what they have."""
    if points <= 1 or len(y) <= points:
        return y
    kernel = np.ones(points)
    return np.convolve(y, kernel, "same") / np.convolve(np.ones_like(y), kernel, "same")


def plot_metric(jobs: list[Job], metric: str, path: Path, title: str = "") -> bool:
    """One line per job: colour per group (same overrides), line style per seed; infinite values (reverse KL of a
    collapsed generator) as triangles on the top edge. False when no job logged the metric."""
    curves = [(job, *job.curve(metric)) for job in jobs]
    curves = [(job, x, y) for job, x, y in curves if len(y)]
    if not curves:
        return False
    group_names = list(dict.fromkeys(job.group for job, _, _ in curves))
    cmap = matplotlib.colormaps["tab10" if len(group_names) <= 10 else "tab20"]
    fig, ax = subplots(figsize=(9, 5), dpi=120)
    noisy = metric not in DIRECTION  # training losses: every step logged, worth smoothing
    infinite_rows = [job for job, _, y in curves if np.isinf(y).any()]  # one row of ▲ per job, in a top band
    band = 0.045
    for job, x, y in curves:
        g = group_names.index(job.group)
        seeds = sorted({j.seed or "" for j, _, _ in curves if j.group == job.group})
        style = LINESTYLES[seeds.index(job.seed or "") % len(LINESTYLES)]
        colour = cmap(g % cmap.N)
        finite = np.isfinite(y)
        note = (" (failed)" if job.problem else "") + (" (always inf)" if not finite.any() else "")
        label = "\n".join(textwrap.wrap(job.label + note, 48))
        if (~finite).any():  # ▲ in the top band at each iteration where the value was infinite
            row = 1 - band * (infinite_rows.index(job) + 0.5)
            ax.plot(x[~finite], np.full((~finite).sum(), row), "^", color=colour, markersize=6,
                    transform=ax.get_xaxis_transform(), label=None if finite.any() else label)  # fmt: skip
        x, y = x[finite], y[finite]
        if noisy and len(y) > 20:
            ax.plot(x, y, color=colour, alpha=0.2, linewidth=0.8)
            y = smooth(y, max(3, len(y) // 20))
        if len(y):
            ax.plot(x, y, style, color=colour, linewidth=1.8, label=label, marker="o" if len(y) <= 20 else None,
                    markersize=4)  # fmt: skip
    ax.set_xlabel("iteration (generator updates)")
    direction = {True: " (lower is better)", False: " (higher is better)"}.get(DIRECTION.get(metric), "")
    ax.set_ylabel(metric + (" (running mean; raw faint)" if noisy else direction))
    if infinite_rows:  # make room above the finite values for the band
        lo, hi = ax.get_ylim()
        share = band * len(infinite_rows)
        ticks = [t for t in ax.get_yticks() if lo <= t <= hi]  # no value ticks inside the band
        ax.set_ylim(lo, hi + (hi - lo) * share / (1 - share))
        ax.set_yticks(ticks)
    ax.set_title((title or f"{metric} per job") + ("\n▲ in the top band: infinite" if infinite_rows else ""))
    ax.grid(alpha=0.3)
    n = len(curves)
    if n <= 8 and all(len(job.label) <= 40 for job, _, _ in curves):
        ax.legend(fontsize=9, loc="best")
    else:  # many jobs or long names: legend beside the axes, in columns
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 + n // 25, frameon=False)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    return True


def sample_mosaic(jobs: list[Job], path: Path) -> bool:
    """Each job's last ``samples/iter_*.png``, titled by its overrides. False when no job has a sample grid."""
    tiles = []
    for job in jobs:
        png = job.last_sample()
        if png is None:
            continue
        try:
            with Image.open(png) as im:
                tiles.append((job, png, np.asarray(im.convert("RGB"))))
        except (
            OSError
        ) as err:  # a 0-byte or half-written grid: the job is named, the mosaic goes on without it
            job.skip(png, err)
    if not tiles:
        return False
    cols = min(4, math.ceil(math.sqrt(len(tiles))))
    rows = math.ceil(len(tiles) / cols)
    fig, axes = subplots(rows, cols, figsize=(3.6 * cols, 4.0 * rows), dpi=110, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (job, png, pixels) in zip(axes.flat, tiles, strict=False):
        ax.imshow(pixels)
        title = "\n".join(textwrap.wrap(job.label + (" (failed)" if job.problem else ""), 34)[:3])
        iteration = png.stem.rsplit("_", 1)[-1]
        ax.set_title(
            f"{title}\n(iteration {int(iteration) if iteration.isdigit() else iteration})", fontsize=8
        )
    fig.tight_layout()
    fig.savefig(path)
    return True

"""Sweep comparison: ``python -m lightning_r1.report SWEEP_DIR`` → report.md, report.png, samples_mosaic.png.

Reads only what every run directory holds whatever the logger (``summary.json``, ``metrics.csv``, ``samples/``),
so a report never depends on wandb or TensorBoard.

The report layer: :mod:`~lightning_r1.report.jobs` is the one reader of run directories (file names from
:mod:`lightning_r1.run_dir`), :func:`~lightning_r1.report.table.markdown` the one table writer, metric directions
come from :mod:`lightning_r1.metrics.vocabulary`. Besides this sweep report: ``python -m lightning_r1.report.dirac``
(Dirac-GAN runs against the theory) and ``python -m lightning_r1.report.toy`` (2-D mixture sweeps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lightning_r1.report.jobs import Job, NoRunsError, find_jobs, label_jobs
from lightning_r1.report.plots import plot_metric, sample_mosaic
from lightning_r1.report.table import (
    DIRECTION,
    groups,
    job_table,
    main_metric,
    provenance_conflict,
    ranking,
    seed_table,
    seeds_vary,
    verdict,
)

__all__ = ["Job", "NoRunsError", "Report", "find_jobs", "make_report"]


@dataclass
class Report:
    """What :func:`make_report` wrote and found."""

    markdown: Path
    plot: Path | None
    mosaic: Path | None
    metric: str
    jobs: list[Job]
    problems: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    not_ranked: str | None = None  # the provenance field the runs' values differ in (then nothing is ranked)

    @property
    def runs_with_problems(self) -> int:
        """Runs that crashed, did not finish, or had a file that could not be read."""
        return sum(bool(job.problem or job.unreadable) for job in self.jobs)


def make_report(sweep_dir: str | Path, metric: str | None = None) -> Report:
    """Writes ``report.md``, ``report.png`` and ``samples_mosaic.png`` into ``sweep_dir``.

    Args:
        sweep_dir: a multirun folder (or a single run directory).
        metric: the metric to plot and rank by; ``None``: val/fid, else a toy metric, else train/d_loss.

    Returns:
        The written paths, the metric used and the jobs; ``problems`` names each crashed or unfinished job,
        ``unreadable`` each file that could not be read (skipped, named with its run); ``not_ranked`` the line
        naming the provenance field in which two runs' values of ``metric`` differ: the table is written, the
        ranking and verdict are not (docs/metrics.md, "Provenance").

    Raises:
        NoRunsError: when the folder does not exist or holds no run directories.
    """
    root = Path(sweep_dir)
    jobs = find_jobs(root)
    common = label_jobs(jobs)
    metric = metric or main_metric(jobs)
    problems = [f"{job.path}: {job.problem}" for job in jobs if job.problem]
    plot = (
        root / "report.png"
        if plot_metric(jobs, metric, root / "report.png", f"{metric} — {root.parent.name}/{root.name}")
        else None
    )
    mosaic = root / "samples_mosaic.png" if sample_mosaic(jobs, root / "samples_mosaic.png") else None

    lines = [f"# Sweep report: `{root}`", ""]
    done = sum(j.problem is None for j in jobs)
    lines.append(f"{len(jobs)} runs, {done} completed. Main metric: `{metric}`"
                 + {True: " (lower is better).", False: " (higher is better).", None: "."}[DIRECTION.get(metric)])  # fmt: skip
    if common:
        lines.append(f"Shared by every run: `{' '.join(common)}`.")
    ranked = ranking(jobs, metric)
    if ranked:
        lines += ["", *verdict(ranked, metric)]
    not_ranked = provenance_conflict(jobs, metric)
    if not_ranked:
        lines += ["", f"**{not_ranked}**"]
    unranked = [g for g in groups(jobs) if g not in {r[0] for r in ranked}]
    if ranked and unranked:  # e.g. reverse KL: infinite (null) while no sample is near a mode
        lines.append(f"No finite final {metric}: " + ", ".join(f"`{g}`" for g in unranked) + ".")
    unreadable = [f"{job.path}: unreadable {name}; skipped" for job in jobs for name in job.unreadable]
    if problems or unreadable:
        lines += ["", "## Problems", "", *(f"- {p}" for p in problems + unreadable)]
    lines += ["", "## Runs", "", job_table(jobs, metric)]
    if seeds_vary(jobs):
        lines += ["", "## Mean ± std across seeds", "", seed_table(jobs, metric)]
    lines += ["", "## Curves", ""]
    lines.append(f"![{metric}](report.png)" if plot else f"No run logged `{metric}` in its metrics.csv.")
    lines += ["", "## Last samples", ""]
    lines.append(
        "![samples](samples_mosaic.png)" if mosaic else "No run wrote sample grids (samples/iter_*.png)."
    )
    md = root / "report.md"
    md.write_text("\n".join(lines) + "\n")
    return Report(
        markdown=md,
        plot=plot,
        mosaic=mosaic,
        metric=metric,
        jobs=jobs,
        problems=problems,
        unreadable=unreadable,
        not_ranked=not_ranked,
    )

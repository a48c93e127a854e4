"""The one reader of run directories: a sweep folder's jobs, what they were (overrides, config), how they ended
(summary), their curves (metrics.csv). The sweep, Dirac and toy reports all read runs through :func:`find_jobs`."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf

from lightning_r1 import run_dir as rd

# Files that mark a folder as one run; folders never searched for runs.
SKIP_DIRS = {"wandb", rd.CHECKPOINTS, rd.SAMPLES, "tensorboard", "lightning_logs", ".submitit", ".hydra"}


class NoRunsError(ValueError):
    """The folder holds no run directories."""


@dataclass
class Job:
    """One run directory of a sweep.

    Attributes:
        path: the run directory.
        overrides: its command-line overrides (``["regularizer=r1", "seed=1"]``).
        summary: the parsed ``summary.json`` (``None`` when the file is missing).
        problem: why the job is not a completed run (``None`` when it is).
        label: the overrides that differ between the sweep's jobs (set by :func:`label_jobs`).
        group: ``label`` without ``seed=`` (jobs that differ only by seed share it).
        unreadable: files of the run that could not be read and were skipped (``samples/iter_8.png (...)``), e.g.
            left 0 bytes by a full disk or a job killed while writing.
    """

    path: Path
    overrides: list[str]
    summary: dict[str, Any] | None
    problem: str | None = None
    label: str = ""
    group: str = ""
    unreadable: list[str] = field(default_factory=list)
    _history: dict[str, np.ndarray] | None = field(default=None, repr=False)
    _config: DictConfig | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def metrics(self) -> dict[str, float | None]:
        return (self.summary or {}).get("metrics", {}) or {}

    @property
    def best(self) -> dict[str, Any]:
        return (self.summary or {}).get("best", {}) or {}

    @property
    def provenance(self) -> dict[str, Any]:
        """``summary.json``'s ``provenance``: what each metric was measured with (docs/metrics.md, "Provenance")."""
        return (self.summary or {}).get("provenance", {}) or {}

    @property
    def seed(self) -> str | None:
        return next((o.split("=", 1)[1] for o in self.overrides if o.split("=", 1)[0] == "seed"), None)

    @property
    def history(self) -> dict[str, np.ndarray]:
        """Columns of ``metrics.csv`` as float arrays (NaN where a key was not logged), plus ``x_iteration``."""
        if self._history is None:
            try:
                self._history = read_history(self.path / rd.METRICS)
            except (OSError, UnicodeDecodeError, csv.Error) as err:
                self.skip(rd.METRICS, err)
                self._history = {}
        return self._history

    @property
    def config(self) -> DictConfig:
        """The run's ``config.yaml`` (the composed config, unresolved).

        Raises:
            FileNotFoundError: the run wrote none.
        """
        if self._config is None:
            self._config = OmegaConf.load(self.path / rd.CONFIG)
        return self._config

    def has(self, name: str) -> bool:
        """Whether the run directory holds the file ``name`` (one of :mod:`lightning_r1.run_dir`'s names)."""
        return (self.path / name).is_file()

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(iterations, values) of ``key`` over the run, only the steps where it was logged (values may be ±inf)."""
        h = self.history
        if key not in h:
            return np.array([]), np.array([])
        keep = ~np.isnan(h[key]) & np.isfinite(h["x_iteration"])
        return h["x_iteration"][keep], h[key][keep]

    def skip(self, name: str | Path, err: BaseException) -> None:
        """Record that the run's file ``name`` could not be read (the report goes on without it)."""
        relative = Path(name).relative_to(self.path) if Path(name).is_absolute() else Path(name)
        reason = " ".join(str(err).split()) or type(err).__name__
        self.unreadable.append(f"{relative} ({reason})")

    def last_sample(self) -> Path | None:
        grids = rd.sample_grids(self.path)
        return grids[-1] if grids else None


def find_jobs(sweep_dir: str | Path) -> list[Job]:
    """Every run directory under ``sweep_dir`` (the folder itself when it is a single run), sorted by job number.

    Raises:
        NoRunsError: when ``sweep_dir`` is missing or holds no runs.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise NoRunsError(f"{root}: no such folder")
    dirs = [root] if is_run_dir(root) else sorted(_search(root, depth=3), key=_job_order)
    if not dirs:
        raise NoRunsError(
            f"{root}: no runs found (expected job folders holding summary.json or metrics.csv, as written by "
            "`python train.py -m ...`)"
        )
    return [load_job(d) for d in dirs]


def finished_jobs(dirs: list[str | Path]) -> list[Job]:
    """Every run with a summary.json under each of ``dirs`` (sweep folders or run directories), in job order.

    Raises:
        FileNotFoundError: none of them holds one.
    """
    found: list[Job] = []
    for d in dirs:
        try:
            found += [job for job in find_jobs(d) if job.summary is not None]
        except NoRunsError:
            pass
    if not found:
        raise FileNotFoundError(f"no */{rd.SUMMARY} under {dirs}")
    return found


def is_run_dir(path: Path) -> bool:
    return any((path / marker).is_file() for marker in rd.RUN_MARKERS)


def _search(folder: Path, depth: int) -> list[Path]:
    found: list[Path] = []
    for child in folder.iterdir():
        if not child.is_dir() or child.name in SKIP_DIRS or child.name.startswith("."):
            continue
        if is_run_dir(child):
            found.append(child)
        elif depth > 1:
            found += _search(child, depth - 1)
    return found


def _job_order(path: Path) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.parts)


def load_job(path: Path) -> Job:
    """Reads a run directory; a missing or failed summary becomes ``Job.problem`` instead of an error."""
    summary, problem = None, None
    summary_file = path / rd.SUMMARY
    if not summary_file.is_file():
        problem = "no summary.json (crashed, killed or still running)"
    else:
        try:
            summary = json.loads(summary_file.read_text())
            if not isinstance(summary, dict):
                raise ValueError(f"expected a JSON object, got {type(summary).__name__}")
        except (OSError, UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
            summary, problem = None, f"unreadable summary.json ({err})"
        else:
            if summary.get("status", "completed") != "completed":
                problem = f"{summary.get('status')}: {summary.get('error', 'no error recorded')}"
    overrides = (summary or {}).get("overrides")
    if overrides is None:
        overrides = _hydra_overrides(path)
    return Job(path=path, overrides=[canonical(str(o)) for o in overrides], summary=summary, problem=problem)


def canonical(override: str) -> str:
    """``x=False`` → ``x=false``: Hydra writes a sweep job's booleans capitalised, a single run's as typed."""
    key, sep, value = override.partition("=")
    return f"{key}={value.lower()}" if sep and value in ("True", "False") else override


def _hydra_overrides(path: Path) -> list[str]:
    file = path / rd.HYDRA_OVERRIDES
    try:
        return list(yaml.safe_load(file.read_text()) or []) if file.is_file() else []
    except (OSError, yaml.YAMLError):
        return []


def label_jobs(jobs: list[Job]) -> list[str]:
    """Sets each job's ``label`` (its overrides that not every job shares) and ``group`` (the label minus seed).

    Returns:
        The overrides common to every job (shown once in the report).
    """
    # A job that died early may have no overrides recorded.
    known = [set(j.overrides) for j in jobs if j.overrides]
    common = set.intersection(*known) if len(known) > 1 else set()
    for job in jobs:
        own = [o for o in job.overrides if o not in common]
        job.label = ",".join(own) or ("default" if job.summary is not None else f"job {job.name}")
        job.group = ",".join(o for o in own if o.split("=", 1)[0] != "seed") or "default"
    if len({j.label for j in jobs}) < len(jobs):  # same overrides twice (e.g. two sweeps in one folder)
        for job in jobs:
            job.label = f"{job.label} [{job.name}]"
    return [o for o in jobs[0].overrides if o in common] if jobs else []


def read_history(path: Path) -> dict[str, np.ndarray]:
    """``metrics.csv`` (CSVLogger: sparse rows keyed by ``step``) as arrays, with ``x_iteration`` filled in.

    Rows that lack ``iteration`` (e.g. FID logged straight to the loggers) get it interpolated from ``step``.
    """
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    columns = {key: np.array([_number(r.get(key)) for r in rows]) for key in rows[0]}
    step = columns.get("step", np.arange(len(rows), dtype=float))
    it = columns.get("iteration")
    if it is not None and np.isfinite(it).any():
        known = np.isfinite(it) & np.isfinite(step)
        order = np.argsort(step[known])
        filled = np.interp(step, step[known][order], it[known][order])
        columns["x_iteration"] = np.where(np.isfinite(it), it, filled)
    else:
        columns["x_iteration"] = step.astype(float)
    return columns


def _number(text: str | None) -> float:
    try:
        value = float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan
    return value

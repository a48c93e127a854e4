"""The run directory: every file a run writes, named once, with the helpers its writers and readers share.

    <run_dir>/
      config.yaml           the composed config, unresolved (app)
      summary.json          iterations, wall time, regularizers, final metrics, best, overrides, status (RunSummary)
      metrics.csv           every logged scalar, sparse rows keyed by step (CSVLogger, always added)
      train.log             the Python log (Hydra's job logging; conf/hydra/default.yaml names it)
      samples/iter_NNNNNN.png   sample grids / 2-D scatters (SampleGrid)
      checkpoints/last.ckpt     the full state at the end, or at a preemption (app, PreemptionCheckpoint)
      checkpoints/iter_N.ckpt   every checkpoint_every iterations (IterationCheckpoint)
      trajectory.csv, trajectory.png   Dirac-GAN (theta, psi) per iteration (TrajectoryRecorder, experiment=dirac_gan)
      mode_samples.npy      the last ModeMetrics evaluation's points (2-D mixtures)
      classes.txt           conditional runs: ``index<TAB>class name`` per class (conditional_app)
      stacked_modes.npy     the last StackedMNISTModes evaluation's predicted modes (StackedMNIST)
      eval.json             ``python -m lightning_r1.evaluate`` on one of its checkpoints
      generated/iter_N/     ``python -m lightning_r1.generate`` on one of its checkpoints (``generated/NAME/`` for a
                            checkpoint other than last.ckpt / iter_N.ckpt, e.g. a post-hoc EMA one)
      .hydra/overrides.yaml Hydra's record of the command-line overrides
      .lock                 held (``flock``) by the run training in this folder; holds its process id

A report (:mod:`lightning_r1.report`) reads only these files, never a logger's service.

One folder holds one run: a new run refuses a folder that already holds a trained run (:func:`earlier_run`) unless it
resumes from that folder's own checkpoint, and a second run cannot train in a folder while the first one does
(:func:`locked`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from lightning_r1.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINTS",
    "CLASSES",
    "CONFIG",
    "EVAL",
    "GENERATED",
    "HYDRA_OVERRIDES",
    "LAST_CHECKPOINT",
    "LOCK",
    "LOG",
    "METRICS",
    "MODE_SAMPLES",
    "RUN_MARKERS",
    "SAMPLES",
    "STACKED_MODES",
    "SUMMARY",
    "TRAJECTORY",
    "RunDirInUse",
    "checkpoint_filename",
    "earlier_run",
    "generated_dir",
    "last_checkpoint",
    "locked",
    "run_dir_of",
    "sample_grid",
    "sample_grids",
]

CONFIG = "config.yaml"
SUMMARY = "summary.json"
METRICS = "metrics.csv"
LOG = "train.log"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
TRAJECTORY = "trajectory.csv"
MODE_SAMPLES = "mode_samples.npy"
CLASSES = "classes.txt"
STACKED_MODES = "stacked_modes.npy"
EVAL = "eval.json"
GENERATED = "generated"
HYDRA_OVERRIDES = ".hydra/overrides.yaml"
LOCK = ".lock"

CHECKPOINT_FILENAME = "iter_{iteration:.0f}"
"""ModelCheckpoint's ``filename`` template of the periodic checkpoints: ``iter_<N>.ckpt``."""
SAMPLE_GLOB = "iter_*.png"

RUN_MARKERS = (SUMMARY, METRICS, CONFIG, HYDRA_OVERRIDES)
"""Files that mark a folder as one run (any of them)."""


def sample_grid(samples_dir: str | Path, iteration: int) -> Path:
    """``<samples_dir>/iter_000123.png``: the grid written at ``iteration``."""
    return Path(samples_dir) / f"iter_{iteration:06d}.png"


def sample_grids(run_dir: str | Path) -> list[Path]:
    """The run's sample grids, oldest first (the names sort by iteration)."""
    return sorted((Path(run_dir) / SAMPLES).glob(SAMPLE_GLOB))


def checkpoint_filename(iteration: int) -> str:
    """``iter_<N>.ckpt``: the name :data:`CHECKPOINT_FILENAME` gives the checkpoint at ``iteration``."""
    return f"iter_{iteration}.ckpt"


def last_checkpoint(run_dir: str | Path) -> Path:
    """``<run_dir>/checkpoints/last.ckpt``."""
    return Path(run_dir) / CHECKPOINTS / LAST_CHECKPOINT


def run_dir_of(checkpoint: str | Path) -> Path:
    """``<run_dir>/checkpoints/last.ckpt`` → ``<run_dir>``; a checkpoint elsewhere → its own folder."""
    folder = Path(checkpoint).absolute().parent
    return folder.parent if folder.name == CHECKPOINTS else folder


def generated_dir(run_dir: str | Path, tag: str) -> Path:
    """``<run_dir>/generated/<tag>``: where ``lightning_r1.generate`` writes by default."""
    return Path(run_dir) / GENERATED / tag


# ---- one run per folder --------------------------------------------------------------------------------------------
class RunDirInUse(ConfigError):
    """The run directory belongs to another run (one training now, or one that trained there before)."""


def earlier_run(run_dir: str | Path) -> str | None:
    """What shows that ``run_dir`` already holds a trained run (its checkpoints, or a summary of iterations done);
    ``None`` for a new folder, or one whose only run stopped before training (bad input: summary at iteration 0)."""
    run_dir = Path(run_dir)
    checkpoints = sorted(p.name for p in (run_dir / CHECKPOINTS).glob("*.ckpt"))
    if checkpoints:
        return f"{CHECKPOINTS}/{checkpoints[-1] if LAST_CHECKPOINT not in checkpoints else LAST_CHECKPOINT}"
    summary = run_dir / SUMMARY
    if not summary.exists():
        return None
    try:
        iterations = json.loads(summary.read_text()).get("iterations", 1)
    except (OSError, ValueError, AttributeError):  # unreadable: count it as a run's
        iterations = 1
    return SUMMARY if iterations else None


@contextlib.contextmanager
def locked(run_dir: str | Path) -> Iterator[None]:
    """Hold ``<run_dir>/.lock`` (``fcntl.flock``, exclusive) while the block runs.

    The operating system releases the lock when the process ends, however it ends (``kill -9`` included), so a
    killed run never blocks its folder. On a file system without ``flock`` the run goes on unlocked (a warning).

    Raises:
        RunDirInUse: another process holds the lock (the line names the folder and that process).
    """
    path = Path(run_dir) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise RunDirInUse(
            f"run_dir: expected a folder no other run is using, got {Path(run_dir)}, where process {holder} is "
            "training now; wait for it to end, or give this run a new folder (hydra.run.dir=...)"
        ) from None
    except OSError as err:  # e.g. ENOLCK on some network file systems
        log.warning("run_dir: cannot lock %s (%s); two runs started in this folder would not be stopped",
                    path, err.strerror)  # fmt: skip
        os.close(fd)
        yield
        return
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

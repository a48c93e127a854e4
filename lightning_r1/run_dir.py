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
      generated/iter_N/     ``python -m lightning_r1.generate`` on one of its checkpoints
      .hydra/overrides.yaml Hydra's record of the command-line overrides

A report (:mod:`lightning_r1.report`) reads only these files, never a logger's service.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CHECKPOINTS",
    "CLASSES",
    "CONFIG",
    "EVAL",
    "GENERATED",
    "HYDRA_OVERRIDES",
    "LAST_CHECKPOINT",
    "LOG",
    "METRICS",
    "MODE_SAMPLES",
    "RUN_MARKERS",
    "SAMPLES",
    "STACKED_MODES",
    "SUMMARY",
    "TRAJECTORY",
    "checkpoint_filename",
    "generated_dir",
    "last_checkpoint",
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

"""The Hydra application behind ``train.py``: composed config in, trained run directory out."""

from __future__ import annotations

import contextlib
import logging
import signal
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from lightning_r1 import run_dir as rd
from lightning_r1.build import Resume, TrainingStarted, build_run, job_overrides
from lightning_r1.callbacks.iteration_checkpoint import DirectCheckpointIO, save_checkpoint_atomically
from lightning_r1.callbacks.run_summary import write_failed_summary
from lightning_r1.config_schema import validate_config
from lightning_r1.errors import SETUP_ERRORS, CheckpointError, check_writable_dir, mark_bad_input, one_line
from lightning_r1.metrics import MetricsSetupError
from lightning_r1.resume import load_checkpoint
from lightning_r1.resume_config import config_to_resume
from lightning_r1.run_banner import log_run_start

log = logging.getLogger(__name__)
LIGHTNING_CKPT_NAMES = ("best", "hpc", "registry")  # ckpt_path values Lightning resolves itself
# 143: the shell's code for "ended by SIGTERM" (Lightning's own exit is 0)
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


def train(cfg: DictConfig) -> float | None:
    """Build everything the config names, fit, and return the sweep objective (``cfg.objective``) if set.

    An error raised before the first training step (bad values, missing data, an unusable checkpoint or run
    directory, a shape mismatch) is marked as bad input (:func:`lightning_r1.errors.is_bad_input`) and, when the
    run directory exists, recorded in ``summary.json`` as ``status: failed``; its type is unchanged.

    Raises:
        ValueError: on a bad top-level value, before any training step (``ConfigError`` where the app checks).
        CheckpointError: ``ckpt_path`` missing, unreadable or of another set-up.
        KeyError: when ``cfg.objective`` names a metric the run never logged.
        RunDirInUse: the run directory holds an earlier run, or another process trains in it (bad input).
        SystemExit: code 143 after SIGTERM (the checkpoint saved, ``summary.json`` says ``stopped``).
    """
    started = TrainingStarted()
    try:
        return _train(cfg, started)
    except SIGTERMException as stop:  # saved and recorded by the callbacks; schedulers and `&&` see the code
        raise SystemExit(SIGTERM_EXIT_CODE) from stop
    except (*SETUP_ERRORS, MetricsSetupError) as err:
        if not started.started:
            mark_bad_input(err)
            summary = Path(str(cfg.get("run_dir", ""))) / rd.SUMMARY
            ours = not isinstance(err, rd.RunDirInUse)  # never write into another run's folder
            if ours and cfg.get("run_dir") and summary.parent.is_dir() and not summary.exists():
                write_failed_summary(summary, f"{type(err).__name__}: {one_line(err)}", job_overrides())
        raise


def _train(cfg: DictConfig, started: TrainingStarted) -> float | None:
    validate_config(cfg)  # before seeding and building: its error is the only line the run prints
    run_dir = check_writable_dir("run_dir", cfg.run_dir)
    rank_zero = rank_zero_only.rank == 0  # DDP's other processes share rank 0's folder
    with rd.locked(run_dir) if rank_zero else contextlib.nullcontext():
        ckpt_path = checkpoint_to_resume(cfg, run_dir, check_folder=rank_zero)
        return _train_in(run_dir, cfg, ckpt_path, started)


def checkpoint_to_resume(cfg: DictConfig, run_dir: Path, check_folder: bool = True) -> str | None:
    """``ckpt_path`` as given, with ``last`` read as this run directory's ``checkpoints/last.ckpt``.

    With ``check_folder``, a run that does not resume from a checkpoint of ``run_dir`` itself must not reuse a
    folder that holds an earlier run (its checkpoints would be overwritten and the two runs' files mixed).

    Raises:
        CheckpointError: ``ckpt_path=last`` and this run directory has no last checkpoint.
        RunDirInUse: a new run in the folder of an earlier one.
    """
    ckpt = cfg.get("ckpt_path")
    if ckpt is not None and str(ckpt) == "last":
        ckpt = rd.last_checkpoint(run_dir)
        if not ckpt.is_file():
            raise CheckpointError(
                f"ckpt_path: expected a checkpoint to resume, got last, and this run directory has none ({ckpt} "
                "does not exist); give the checkpoint's path, or leave ckpt_path out to start a new run"
            )
    in_place = ckpt is not None and (
        str(ckpt) in LIGHTNING_CKPT_NAMES or rd.run_dir_of(ckpt).resolve() == run_dir.resolve()
    )
    earlier = rd.earlier_run(run_dir) if check_folder and not in_place else None
    if earlier is not None:
        resume = run_dir / earlier if earlier.endswith(".ckpt") else None
        raise rd.RunDirInUse(
            f"run_dir: expected a new folder, got {run_dir}, which holds an earlier run ({earlier}); give this run "
            "a new folder (hydra.run.dir=...)"
            + (f", or resume that run with ckpt_path={resume}" if resume else "")
        )
    return None if ckpt is None else str(ckpt)


def _train_in(
    run_dir: Path, cfg: DictConfig, ckpt_path: str | None, started: TrainingStarted
) -> float | None:
    resume = None
    if ckpt_path is not None and ckpt_path not in LIGHTNING_CKPT_NAMES:
        state = load_checkpoint(ckpt_path)  # a damaged file: one line, not a traceback
        overrides = job_overrides() if HydraConfig.initialized() else None
        cfg, changes = config_to_resume(ckpt_path, state, cfg, overrides)
        resume = Resume(ckpt_path, state, changes)
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # no "Seed set" line before an error
    log_run_start(cfg, run_dir)  # the run directory and the chosen config groups, first on the screen
    run = build_run(cfg, run_dir, started=started, resume=resume)
    # checkpoints are written in the run directory, not staged in $TMPDIR (unless trainer.plugins says otherwise)
    plugins = {} if cfg.trainer.get("plugins") else {"plugins": [DirectCheckpointIO()]}
    trainer: L.Trainer = instantiate(
        cfg.trainer, **plugins, callbacks=run.callbacks, logger=run.loggers, default_root_dir=run_dir
    )
    for logger in trainer.loggers:  # the whole resolved config, for dashboards and reports
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(run.gan, datamodule=run.datamodule, ckpt_path=ckpt_path)
    # the full state (optimizers, regularizers, RNG), so the run can be resumed from it
    save_checkpoint_atomically(trainer, rd.last_checkpoint(run_dir), weights_only=False)
    log.info("finished; the run's files are in %s", run_dir)  # the banner said where at the start
    return objective_value(cfg, trainer)


def objective_value(cfg: DictConfig, trainer: L.Trainer) -> float | None:
    """The metric a Hydra sweeper optimises (e.g. optuna on ``val/fid``), read from the finished run."""
    name = cfg.get("objective")
    if not name:
        return None
    if name not in trainer.callback_metrics:
        raise KeyError(
            f"objective={name!r} was never logged by this run; logged metrics: {sorted(trainer.callback_metrics)}"
        )
    return float(trainer.callback_metrics[name])

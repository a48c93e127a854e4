"""Every private Lightning API the package uses, in one place (checked on Lightning :data:`CHECKED_ON`).

Lightning has no public call for some of what the package needs: hand a step's values to its logger connector
without ``self.log``'s cost (``step_logging.py``), name the step its logger rows use, save a ``ModelCheckpoint`` on
a trigger of one's own, keep ``metrics.csv`` across a resume, reopen or continue a wandb run, list its precision
values, broadcast weights the way its DDP strategy does. Everything else in the package uses public names only; whatever here touches a private
name says so, and :func:`missing_private_api` lists what a newer Lightning no longer has
(``tests/training/test_lightning_compat.py`` fails on it with the version, before any other test gets confused).

It also holds the one setting Lightning changes for the whole process at import that costs every optimizer step
(:func:`skip_unloadable_nvml_check`).
"""

from __future__ import annotations

import ctypes
import functools
import os
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from torch import Tensor, nn

CHECKED_ON = "2.6.6"  # the Lightning version every private name below was read in

# (owner, private names): a class; "trainer..." for attributes of a Trainer's instances; "Name()" for those of a
# fresh instance of that class; else a module
PRIVATE_API: tuple[tuple[Any, tuple[str, ...]], ...] = (
    ("trainer", ("_logger_connector",)),
    ("LightningModule()", ("_trainer",)),
    ("trainer._logger_connector", ("_callback_metrics", "_progress_bar_metrics", "log_metrics", "should_update_logs")),
    ("trainer.fit_loop.epoch_loop", ("_batches_that_stepped",)),
    (ModelCheckpoint, ("_monitor_candidates", "_save_topk_checkpoint", "_save_last_checkpoint", "_save_checkpoint")),
    ("CSVLogger()", ("_experiment",)),
    ("WandbLogger()", ("_experiment", "_wandb_init", "_id")),
    (ExperimentWriter, ("_check_log_dir_exists",)),
    ("lightning.fabric.connector", ("_convert_precision_to_unified_args",)),
    ("lightning.pytorch.strategies.ddp", ("_sync_module_states",)),
)  # fmt: skip


def missing_private_api(trainer: L.Trainer) -> list[str]:
    """The names of :data:`PRIVATE_API` this Lightning lacks (``trainer``: any Trainer, for instance attributes)."""
    missing = []
    for owner, names in PRIVATE_API:
        obj = _owner(owner, trainer)
        label = owner if isinstance(owner, str) else owner.__name__
        missing += [f"{label}.{name}" for name in names if obj is None or not hasattr(obj, name)]
    return missing


def _owner(owner: Any, trainer: L.Trainer) -> Any:
    import importlib

    if not isinstance(owner, str):
        return owner
    if owner == "LightningModule()":
        return L.LightningModule()
    if owner == "WandbLogger()":
        return WandbLogger(offline=True, save_dir=os.devnull)  # nothing starts before ``experiment`` is read
    if owner == "CSVLogger()":
        return CSVLogger(save_dir=os.devnull)  # its attributes are set by __init__ (nothing is written)
    if owner.startswith("trainer"):
        obj: Any = trainer
        for part in owner.split(".")[1:]:
            obj = getattr(obj, part, None)
        return obj
    return importlib.import_module(owner)


# ---- the logger connector: step values without self.log (lightning_r1/step_logging.py) --------------------------
def callback_metrics(trainer: L.Trainer) -> dict[str, Tensor]:
    """The dict behind ``trainer.callback_metrics``, to update in place (the public property recomputes everything
    logged through ``self.log`` on each access)."""
    return trainer._logger_connector._callback_metrics


def progress_bar_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The dict behind ``trainer.progress_bar_metrics``, to update in place."""
    return trainer._logger_connector._progress_bar_metrics


def log_metrics(trainer: L.Trainer, values: dict[str, Any]) -> None:
    """One row for every logger through Lightning's own path (floats, the ``epoch`` column, ``logged_metrics``),
    at the step Lightning's rows use."""
    trainer._logger_connector.log_metrics(dict(values), step=batches_that_stepped(trainer))


def should_update_logs(trainer: L.Trainer) -> bool:
    """Lightning's own test for a logging step (``log_every_n_steps``), so the package and Lightning agree."""
    return bool(trainer._logger_connector.should_update_logs)


def batches_that_stepped(trainer: L.Trainer) -> int:
    """The step Lightning's logger rows carry (batches that stepped an optimizer, across epochs and resumes)."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def attached_trainer(module: L.LightningModule) -> L.Trainer | None:
    """The Trainer ``module`` is attached to, or None (``module.trainer`` raises when there is none)."""
    return module._trainer


# ---- ModelCheckpoint on a trigger of one's own (lightning_r1/callbacks/iteration_checkpoint.py) -------------------
class CheckpointHooks(ModelCheckpoint):
    """``ModelCheckpoint`` whose private steps have public names: :meth:`monitor_candidates` (extend it to add
    values ``filename``/``monitor`` may use), :meth:`save_now` (top-k and last, as at Lightning's own triggers) and
    :meth:`write` (how one file is written)."""

    def monitor_candidates(self, trainer: L.Trainer) -> dict[str, Tensor]:
        return super()._monitor_candidates(trainer)

    def _monitor_candidates(self, trainer: L.Trainer) -> dict[str, Tensor]:
        return self.monitor_candidates(trainer)

    def save_now(self, trainer: L.Trainer) -> None:
        candidates = self._monitor_candidates(trainer)
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def write(self, trainer: L.Trainer, filepath: str) -> None:
        trainer.save_checkpoint(filepath, self.save_weights_only)

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        # Lightning's body with the write replaced: its bookkeeping, then the loggers are told
        self.write(trainer, filepath)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(self)


# ---- metrics.csv kept across a resume (lightning_r1/loggers.py) ---------------------------------------------------
class CSVLoggerHooks(CSVLogger):
    """``CSVLogger`` that asks :meth:`make_writer` for its writer first (None: Lightning's own)."""

    def make_writer(self) -> ExperimentWriter | None:
        return None

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            writer = self.make_writer()
            if writer is not None:
                get_filesystem(self.root_dir).makedirs(self.root_dir, exist_ok=True)
                self._experiment = writer
        return super().experiment


class WriterHooks(ExperimentWriter):
    """Lightning's CSV writer whose start-up check of an existing ``metrics.csv`` (which deletes it) is
    :meth:`prepare_metrics_file`."""

    def prepare_metrics_file(self) -> None:
        super()._check_log_dir_exists()

    def _check_log_dir_exists(self) -> None:
        self.prepare_metrics_file()


class WandbHooks(WandbLogger):
    """``WandbLogger`` whose run state has public names: :attr:`run` (None before it starts), :attr:`init_args`
    (what ``wandb.init`` will be called with), :meth:`forget_run` and :meth:`continue_run`."""

    @property
    def run(self) -> Any:
        return self._experiment

    @property
    def init_args(self) -> dict[str, Any]:
        return self._wandb_init

    def forget_run(self) -> None:
        """The next ``experiment`` access calls ``wandb.init`` again (with :attr:`init_args`)."""
        self._experiment = None

    def continue_run(self, run_id: str) -> None:
        """Log into the existing run ``run_id`` (wandb's ``resume="allow"``) once the run starts."""
        self._wandb_init |= {"id": run_id, "resume": "allow"}
        self._id = run_id


def checkpoint_logging_step(state: dict[str, Any]) -> int:
    """The logger step a Lightning checkpoint was written at (its fit loop's count of batches that stepped)."""
    loop = state.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
    return int(loop.get("_batches_that_stepped", state.get("global_step", 0)))


# ---- configuration checks and DDP ---------------------------------------------------------------------------------
def check_precision_value(precision: Any) -> None:
    """Lightning's own check of a ``Trainer(precision=...)`` value; ``ValueError`` listing the allowed ones."""
    from lightning.fabric.connector import _convert_precision_to_unified_args

    _convert_precision_to_unified_args(precision)


def sync_module_states(module: nn.Module) -> None:
    """Broadcast ``module``'s parameters and buffers from rank 0, as Lightning's DDP strategy does at set-up."""
    from lightning.pytorch.strategies.ddp import _sync_module_states

    _sync_module_states(module)


# ---- PYTORCH_NVML_BASED_CUDA_CHECK, set by Lightning at import ------------------------------------------------------
NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


@functools.cache
def nvml_loadable() -> bool:
    """Whether NVML (the NVIDIA driver's management library) can be loaded in this process (tried once)."""
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


def skip_unloadable_nvml_check() -> bool:
    """Undo Lightning's ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` where it can only fall back; True when undone.

    Lightning sets it at import so that ``torch.cuda.is_available()`` asks NVML instead of initialising CUDA (a
    later ``fork`` then stays usable). torch 2.14's ``Adam.step`` calls ``torch.cuda.is_available()`` on every
    step, and while CUDA is not initialised each call ``dlopen``s NVML again. Where NVML cannot be loaded (a
    machine without the NVIDIA driver), every such call fails that ``dlopen`` and falls back to the CUDA
    runtime's device count, the very call made without the variable: dropping it changes no answer and no side
    effect, only the failed ``dlopen`` per optimizer step. Where NVML loads (and on ROCm, where the variable
    selects AMD's library), Lightning's setting stays.
    """
    if os.environ.get(NVML_CHECK) != "1" or torch.version.hip is not None or nvml_loadable():
        return False
    del os.environ[NVML_CHECK]
    return True

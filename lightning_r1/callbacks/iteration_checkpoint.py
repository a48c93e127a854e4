"""IterationCheckpoint: Lightning's ModelCheckpoint, every N generator updates, written atomically in the run
directory (never staged in ``$TMPDIR``)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor

from lightning_r1.lightning_compat import CheckpointHooks


def save_checkpoint_atomically(
    trainer: L.Trainer, path: str | os.PathLike, weights_only: bool = False
) -> None:
    """``trainer.save_checkpoint`` into ``<path>.tmp``, then ``os.replace`` onto ``path``.

    A crash, ``kill -9`` or second Ctrl+C while the bytes are written leaves the previous ``path`` intact (and at
    worst a stray ``.tmp``); the rename is atomic within one file system. A write that fails (a full disk) removes
    its partial ``.tmp``, so the space it took is free again for ``summary.json``.

    Raises:
        OSError: ``ENOSPC`` naming the folder, when the disk is full (torch reports it as a failed write).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        trainer.save_checkpoint(tmp, weights_only=weights_only)
    except (OSError, RuntimeError) as err:
        full = disk_full(tmp.parent, err)
        tmp.unlink(missing_ok=True)
        if full:
            raise OSError(
                errno.ENOSPC, f"No space left on device: {path.parent} while writing {path.name} (the partial "
                "file was removed; the earlier checkpoints are intact)"
            ) from err  # fmt: skip
        raise
    if trainer.is_global_zero:
        os.replace(tmp, path)
    trainer.strategy.barrier()


class DirectCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing a local file straight to its path.

    Lightning writes each file through an fsspec transaction, which stages it in ``$TMPDIR`` and moves it: a small
    ``/tmp`` then fails the run with "No space left on device" naming neither folder. The app's writers
    (:func:`save_checkpoint_atomically`) already write ``NAME.tmp`` beside the checkpoint and rename it, so
    nothing is lost by writing in place. Remote paths (``s3://``) go through Lightning's own writer.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        protocol = get_filesystem(path).protocol  # "file", or ("file", "local")
        if storage_options is not None or "file" not in (
            protocol if isinstance(protocol, tuple) else (protocol,)
        ):
            return super().save_checkpoint(checkpoint, path, storage_options)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(
            path, "wb"
        ) as file:  # closed however the write ends, so a removed partial file frees its space
            torch.save(checkpoint, file)
        return None


def disk_full(folder: Path, err: BaseException, min_free: int = 1 << 20) -> bool:
    """Whether ``err`` of a write into ``folder`` means its disk is full: ``ENOSPC``, or a failed write (torch
    reports ``file write failed`` or an ``iostream error``) with less than ``min_free`` bytes left there."""
    if getattr(err, "errno", None) == errno.ENOSPC:
        return True
    try:
        return shutil.disk_usage(folder).free < min_free
    except OSError:
        return False


class IterationCheckpoint(CheckpointHooks):
    """``ModelCheckpoint`` that counts the module's ``iteration`` (generator updates), not ``global_step``.

    With ``every_n_iterations=k`` it saves when an iteration that is a multiple of k completes. Lightning's
    ``global_step`` counts optimizer steps (``d_steps + 1`` per iteration) and a step skipped for a non-finite loss
    (``gan.skip_nonfinite``) does not count, so ``every_n_train_steps`` would drift off the iteration grid and
    stop matching; ``iteration`` always advances by one per generator update. ``filename`` and ``monitor`` may use
    ``iteration`` (read from the module, not from a possibly stale logged value). Every file is written to
    ``<name>.tmp`` and renamed, so a killed run never leaves a truncated checkpoint under a real name.

    Args:
        every_n_iterations: save every this many iterations (``None``: ModelCheckpoint's own triggers).
        **kwargs: ModelCheckpoint's arguments (``dirpath``, ``filename``, ``save_top_k``, ``save_last``, ...).
    """

    def __init__(self, every_n_iterations: int | None = None, **kwargs: Any) -> None:
        if every_n_iterations is not None:
            if every_n_iterations < 1:
                raise ValueError(
                    f"Expected `every_n_iterations` to be >= 1 or None, got {every_n_iterations}"
                )
            kwargs.setdefault(
                "every_n_epochs", 0
            )  # no epoch-end saves: the iteration grid is the only trigger
        super().__init__(**kwargs)
        self.every_n_iterations = every_n_iterations
        self._last_iteration_saved: int | None = None

    def monitor_candidates(self, trainer: L.Trainer) -> dict[str, Tensor]:
        candidates = super().monitor_candidates(trainer)
        iteration = getattr(trainer.lightning_module, "iteration", None)
        if iteration is not None:
            candidates["iteration"] = torch.tensor(float(iteration))
        return candidates

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.every_n_iterations is None:
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        iteration = int(getattr(pl_module, "iteration", 0))
        if (
            iteration == 0
            or iteration % self.every_n_iterations
            or iteration == self._last_iteration_saved
            or getattr(pl_module, "d_step_in_iteration", 0)  # between two D steps of one iteration
            or trainer.fast_dev_run
            or trainer.sanity_checking
            or trainer.state.fn != TrainerFn.FITTING
        ):
            return None
        self.save_now(trainer)
        self._last_iteration_saved = iteration
        return None

    def write(self, trainer: L.Trainer, filepath: str) -> None:
        save_checkpoint_atomically(trainer, filepath, weights_only=self.save_weights_only)

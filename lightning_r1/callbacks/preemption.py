"""Saves a checkpoint when the run is interrupted (SIGTERM from a scheduler, Ctrl+C), so no work is lost."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


class PreemptionCheckpoint(L.Callback):
    """On SIGTERM or KeyboardInterrupt, write ``path`` (a full checkpoint; resume with ``ckpt_path=path``).

    Lightning turns SIGTERM into ``SIGTERMException`` between two training batches, so the state saved is
    consistent. On SLURM, Lightning's own ``SLURMEnvironment(auto_requeue=True)`` also handles SIGUSR1 requeueing.
    A NaN or any other error does not trigger it: the last good periodic checkpoint stays as it was.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.saved: Path | None = None

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SIGTERMException | KeyboardInterrupt):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(self.path, weights_only=False)  # full state: resumable
        self.saved = self.path
        log.warning("interrupted at iteration %d; checkpoint saved to %s (resume with ckpt_path=%s)",
                    pl_module.iteration, self.path, self.path)  # fmt: skip

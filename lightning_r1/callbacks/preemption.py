"""Saves a checkpoint when the run is interrupted (SIGTERM from a scheduler, Ctrl+C), so no work is lost, and
never one of a half-done iteration."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_r1.callbacks.iteration_checkpoint import save_checkpoint_atomically

log = logging.getLogger(__name__)


class PreemptionCheckpoint(L.Callback):
    """On SIGTERM or Ctrl+C, write ``path`` (a full checkpoint; resume with ``ckpt_path=path``) at an iteration
    boundary.

    - SIGTERM: Lightning turns it into ``SIGTERMException`` between two training batches.
    - Ctrl+C (SIGINT): while training, the first one only asks to stop; the run finishes the batch it is in
      (its D step, and the G step, EMA update and counters when the batch ends an iteration), then stops with
      ``KeyboardInterrupt`` and saves. (With ``gan.d_steps`` > 1 a batch boundary may fall between two D steps
      of one iteration; the checkpoint records that position, as it does for SIGTERM, and resumes from it.) A second Ctrl+C stops at
      once; so does a ``KeyboardInterrupt`` raised by code. Stopped mid-iteration (G updated, say, but the EMA and
      the iteration counter not), the state is not consistent, so ``path`` is **not** written and the previous
      file stays as it was (the warning names it).

    Files are written to ``<path>.tmp`` and renamed, so a kill during the write leaves the previous file intact.
    A NaN or any other error does not trigger it: the last good periodic checkpoint stays as it was. On SLURM,
    Lightning's own ``SLURMEnvironment(auto_requeue=True)`` also handles SIGUSR1 requeueing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.saved: Path | None = None
        self.stop_requested = False
        self._in_iteration = False
        self._started = False
        self._installed = False
        self._previous_handler: Any = None

    # ---- Ctrl+C: ask for a stop at the next iteration boundary -----------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = True
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:  # Ctrl+C is ignored here (nohup, a background job): keep it so
            return
        self._previous_handler = previous
        signal.signal(signal.SIGINT, self._on_sigint)
        self._installed = True

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:  # second Ctrl+C: stop now
            self._restore_handler()
            raise KeyboardInterrupt
        self.stop_requested = True
        log.warning("Ctrl+C: stopping after this iteration and saving %s (press Ctrl+C again to stop at once, "
                    "without saving)", self.path)  # fmt: skip

    def _restore_handler(self) -> None:
        """The SIGINT handler that was there before training (a user's own, or Python's), set again.

        Runs again in ``on_exception``: Lightning ignores SIGINT while it handles a ``KeyboardInterrupt``.
        """
        if self._installed and threading.current_thread() is threading.main_thread():
            previous = self._previous_handler
            signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        self._in_iteration = True

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        self._in_iteration = False  # every counter, EMA and RNG state is at a batch boundary again
        if self.stop_requested:
            raise KeyboardInterrupt  # Lightning's handler: on_exception (saves here), teardown, exit code 1

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_handler()
        self._installed = False

    # ---- save on interruption --------------------------------------------------------------------------------
    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handler()
        self._installed = False
        if not isinstance(exception, SIGTERMException | KeyboardInterrupt) or not self._started:
            return
        iteration = getattr(pl_module, "iteration", 0)
        if self._in_iteration:
            kept = f"{self.path} as it was" if self.path.exists() else "the periodic checkpoints as they were"
            log.warning("interrupted in the middle of iteration %d: no checkpoint written (its state is half "
                        "updated); kept %s", iteration + 1, kept)  # fmt: skip
            return
        save_checkpoint_atomically(trainer, self.path, weights_only=False)  # full state: resumable
        self.saved = self.path
        log.warning("interrupted at iteration %d; checkpoint saved to %s (resume with ckpt_path=%s)",
                    iteration, self.path, self.path)  # fmt: skip

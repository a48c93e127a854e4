"""StepLoggingMixin: a LightningModule's per-step values, handed to Lightning only on its logging steps.

Lightning passes step values to the loggers every ``Trainer(log_every_n_steps=...)`` batches and drops the values
of the steps in between, yet each ``self.log`` call still costs about 0.7 ms of bookkeeping (measured in
docs/benchmarks.md: five calls per iteration were most of the framework's overhead over a plain PyTorch loop).
So the GAN keeps the latest value of each key and calls ``log_dict`` once, on the batches where Lightning logs.

Values measured only now and then (gradient-norm diagnostics, FID, mode metrics) go through :func:`publish`
instead: Lightning's step logging would drop them on a non-logging step, or repeat them on every later row.
"""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch
from torch import Tensor


def publish(
    trainer: L.Trainer,
    pl_module: L.LightningModule,
    metrics: dict[str, float],
    in_batch_hook: bool = True,
    prog_bar: Iterable[str] = (),
) -> None:
    """Send ``metrics`` to every logger now, at this batch's step (with the module's ``iteration``), and to
    ``trainer.callback_metrics`` (checkpoint monitors, run summary, sweep objectives) and the progress bar."""
    if in_batch_hook:
        for key, value in metrics.items():  # logger=False: the loggers get the row below, once
            shown = key in prog_bar
            pl_module.log(
                key, value, on_step=True, on_epoch=False, prog_bar=shown, logger=False, batch_size=1
            )
    else:  # self.log is not allowed in on_train_end
        trainer.callback_metrics.update({key: torch.tensor(value) for key, value in metrics.items()})
    # the step Lightning's own logging uses (batches so far), so these rows line up with the train/* rows
    step = getattr(trainer.fit_loop.epoch_loop, "_batches_that_stepped", trainer.global_step)
    iteration = getattr(pl_module, "iteration", None)
    row = metrics if iteration is None else {**metrics, "iteration": float(iteration)}
    for logger in trainer.loggers:
        logger.log_metrics(row, step=step)


class StepLoggingMixin:
    """``_log_step`` keeps values; ``_flush_step_logs`` (once at the end of each training batch) logs them when due."""

    def _log_step(self, values: dict[str, Tensor | float]) -> None:
        """Keep the latest value of each key until Lightning's next logging step."""
        pending = self.__dict__.setdefault("_pending_step_logs", {})
        pending.update(values)

    def _logging_due(self) -> bool:
        """True on the batches whose step values Lightning passes to the loggers (and on the last batch)."""
        trainer = self.trainer
        if trainer.log_every_n_steps == 0:
            return True  # Lightning logs no step values; keep the progress bar and the summary fed
        # Lightning's own test (a private attribute, hence the fallbacks), so the two never disagree
        connector = getattr(trainer, "_logger_connector", None)
        return bool(getattr(connector, "should_update_logs", True)) or trainer.should_stop

    def _flush_step_logs(self, progress_bar: tuple[str, ...] = ()) -> None:
        """Log the kept values if this batch is a logging step; ``progress_bar`` keys also go to the bar."""
        pending = self.__dict__.get("_pending_step_logs")
        if not pending or not self._logging_due():
            return
        for prog_bar in (False, True):
            chosen = {key: value for key, value in pending.items() if (key in progress_bar) == prog_bar}
            if chosen:
                self.log_dict(chosen, on_step=True, on_epoch=False, prog_bar=prog_bar)
        pending.clear()

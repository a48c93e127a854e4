"""Step values of the GAN (``train/*``) for callbacks, loggers and the progress bar, without ``self.log``'s cost.

Each ``self.log`` call costs Lightning bookkeeping that, a few calls per iteration, was most of the framework's
overhead over a plain PyTorch loop (measured in docs/benchmarks.md), and Lightning passes step values to the loggers
only every ``Trainer(log_every_n_steps)`` batches anyway. So :class:`StepMetrics` hands the values over itself:

- to ``trainer.callback_metrics`` after **every** batch (a dict update): a user's ``ModelCheckpoint(monitor=...)``,
  ``EarlyStopping``, sweeper objective or own callback always reads the current step's value, whatever the
  user's ``log_every_n_steps`` or stop condition, and at the end of fit;
- to the loggers and the progress bar on Lightning's logging steps, and once more at the end of training with
  whatever was not logged yet (a run ended by ``limit_train_batches`` or ``max_epochs`` included);
- with ``epoch_means=True``, as ``<key>_epoch`` means at each epoch's end, as ``self.log(on_epoch=True)`` would.

Values measured only now and then (gradient-norm diagnostics, FID, mode metrics) go through :func:`publish`: one
row each, at the iteration they were taken. This module is the one place that writes into Lightning's logger
connector, through ``lightning_compat.py`` (private attributes): Lightning has no public call for "these are this
step's metrics" other than ``self.log``.
"""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch
from torch import Tensor

from lightning_r1 import lightning_compat as compat


# ---- the three destinations -------------------------------------------------------------------------------------
def to_callback_metrics(trainer: L.Trainer, values: dict[str, Tensor | float]) -> None:
    """Latest values where callbacks read them (``trainer.callback_metrics``)."""
    compat.callback_metrics(trainer).update({key: as_tensor(value) for key, value in values.items()})


def to_progress_bar(trainer: L.Trainer, values: dict[str, Tensor | float]) -> None:
    compat.progress_bar_metrics(trainer).update({key: float(value) for key, value in values.items()})


def to_loggers(trainer: L.Trainer, values: dict[str, Tensor | float]) -> None:
    """One row for every logger, at the step Lightning's own rows use (batches so far)."""
    compat.log_metrics(trainer, values)


def as_tensor(value: Tensor | float) -> Tensor:
    return value.detach() if isinstance(value, Tensor) else torch.tensor(float(value))


def publish(
    trainer: L.Trainer,
    pl_module: L.LightningModule,
    metrics: dict[str, float],
    prog_bar: Iterable[str] = (),
) -> None:
    """Send a measurement (diagnostics, FID, mode metrics) now: to ``trainer.callback_metrics``, the progress bar
    (keys in ``prog_bar``) and one logger row with the module's ``iteration``; from any hook.
    """
    to_callback_metrics(trainer, metrics)
    shown = {key: value for key, value in metrics.items() if key in set(prog_bar)}
    if shown:
        to_progress_bar(trainer, shown)
    iteration = getattr(pl_module, "iteration", None)
    to_loggers(trainer, metrics if iteration is None else {**metrics, "iteration": float(iteration)})


# ---- the GAN's step values --------------------------------------------------------------------------------------
class StepMetrics:
    """The latest ``train/*`` values of a module, handed on as the module docstring says.

    Args:
        progress_bar: keys also shown on the progress bar (on logging steps).
        epoch_means: also keep running sums and publish ``<key>_epoch`` means at each epoch's end.
    """

    def __init__(self, progress_bar: Iterable[str] = ("train/g_loss",), epoch_means: bool = False) -> None:
        self.progress_bar = tuple(progress_bar)
        self.epoch_means = epoch_means
        self.latest: dict[str, Tensor | float] = {}
        self.unlogged: dict[str, Tensor | float] = {}
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def record(self, values: dict[str, Tensor | float]) -> None:
        """Keep ``values`` as this step's (a value recorded twice in a batch keeps the later one)."""
        self.latest.update(values)
        self.unlogged.update(values)
        if self.epoch_means:
            for key, value in values.items():
                self.sums[key] = self.sums.get(key, 0.0) + as_tensor(value).float()
                self.counts[key] = self.counts.get(key, 0) + 1

    def end_batch(self, trainer: L.Trainer) -> None:
        """Once at the end of each training batch."""
        if not self.latest:
            return
        to_callback_metrics(trainer, self.latest)
        if self.epoch_means:  # the epoch's mean so far: complete when any on_train_epoch_end hook reads it
            to_callback_metrics(trainer, self._means())
        if logging_step(trainer) and self.unlogged:
            self._log(trainer)

    def end_epoch(self, trainer: L.Trainer) -> None:
        """Log the epoch's means (one row) and start the next epoch's sums."""
        if self.epoch_means and self.sums:
            to_loggers(trainer, self._means())
        self.sums.clear()
        self.counts.clear()

    def _means(self) -> dict[str, Tensor]:
        return {f"{key}_epoch": total / self.counts[key] for key, total in self.sums.items()}

    def end_training(self, trainer: L.Trainer) -> None:
        """Log what the last logging step did not (a run that stopped between two of them)."""
        if self.unlogged:
            self._log(trainer)

    def _log(self, trainer: L.Trainer) -> None:
        row = dict(self.unlogged)
        if "iteration" in self.latest:  # every row says which iteration it belongs to
            row.setdefault("iteration", self.latest["iteration"])
        to_loggers(trainer, row)
        shown = {key: value for key, value in self.unlogged.items() if key in self.progress_bar}
        if shown:
            to_progress_bar(trainer, shown)
        self.unlogged = {}


def logging_step(trainer: L.Trainer) -> bool:
    """True on the batches whose step values Lightning would pass to the loggers, and on the last batch."""
    if trainer.log_every_n_steps == 0:
        return False
    return compat.should_update_logs(trainer) or trainer.should_stop  # Lightning's own test: the two agree

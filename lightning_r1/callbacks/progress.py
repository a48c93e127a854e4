"""Progress bars that count the run in generator iterations: ``iteration / iterations``, ETA, it/s, losses, FID.

Lightning's bars count batches of the current epoch, and a GAN run is ``iterations`` generator updates over any
number of epochs (``max_epochs=-1``): they showed ``Epoch 0/-2 ━━ 2000/-- -:--:--``. These subclasses keep
Lightning's bars (TQDM and Rich) and change only what they count: one bar for the whole run, its total the GAN's
``iterations`` (unknown totals stay open-ended), advanced to the module's ``iteration`` after each batch, starting at
the resumed iteration. The postfix shows what the module put on the bar (``train/g_loss``, ``val/fid``).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar


def run_length(pl_module: L.LightningModule) -> int | None:
    """The run's length in iterations (None when the module does not know it)."""
    iterations = getattr(pl_module, "iterations", None)
    return int(iterations) if iterations else None


class IterationProgressBar(TQDMProgressBar):
    """Lightning's TQDM bar over the run's iterations: ``Training  37%|███  740/2000 [01:10<02:00, 10.5it/s, ...]``."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        bar = self.train_progress_bar
        if getattr(bar, "lightning_r1_started", False):
            return  # one bar for the whole run, across epochs
        bar.reset(total=run_length(pl_module))
        bar.initial = bar.n = int(getattr(pl_module, "iteration", 0))  # a resumed run starts where it stopped
        bar.set_description("Training")
        bar.lightning_r1_started = True

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        bar = self.train_progress_bar
        done = int(getattr(pl_module, "iteration", 0))
        if bar is not None and done != bar.n and self._should_update(done, bar.total or 0):
            bar.update(done - bar.n)
            bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))


class IterationRichProgressBar(RichProgressBar):
    """Lightning's Rich bar over the run's iterations (needs ``rich``)."""

    def _get_train_description(self, current_epoch: int) -> str:
        return "Training"

    @property
    def total_train_batches(self) -> int | float:
        length = run_length(self.trainer.lightning_module)
        return float("inf") if length is None else length

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.train_progress_bar_id is None:  # one task for the whole run, across epochs
            super().on_train_epoch_start(trainer, pl_module)
            self._update(self.train_progress_bar_id, int(getattr(pl_module, "iteration", 0)))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()
        self._update(self.train_progress_bar_id, int(getattr(pl_module, "iteration", 0)))
        self._update_metrics(trainer, pl_module)
        self.refresh()

"""The GAN with Lightning's own callbacks: iteration progress bars (TQDM and Rich), ModelCheckpoint and
EarlyStopping on logged metrics, LearningRateMonitor with the learning-rate schedules (one value per iteration)."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from lightning_r1 import GAN, R1
from lightning_r1.callbacks import HyperparameterSchedules, IterationProgressBar, IterationRichProgressBar
from lightning_r1.data import Ring8DataModule
from lightning_r1.models.mlp import build_mlp


def toy_gan(**kwargs) -> GAN:
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    return GAN(models.generator, models.discriminator, latent_dim=4, diagnostics_every=0, **kwargs)


def fit(gan: GAN, callbacks: list, tmp_path: Path, **trainer_kwargs) -> L.Trainer:
    trainer = L.Trainer(accelerator="cpu", callbacks=[R1(gamma=1.0), *callbacks], enable_model_summary=False,
                        default_root_dir=tmp_path, **trainer_kwargs)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=8))
    return trainer


def test_tqdm_bar_counts_iterations_of_the_run(tmp_path: Path, capsys) -> None:
    bar = IterationProgressBar()
    fit(toy_gan(iterations=7, d_steps=2), [bar], tmp_path, logger=False, enable_checkpointing=False)
    assert (bar.train_progress_bar.n, bar.train_progress_bar.total) == (7, 7)  # 14 batches, 7 iterations
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "Training" in shown and "7/7" in shown and "train/g_loss" in shown
    assert "Epoch" not in shown and "/-" not in shown  # no negative epoch totals


def test_rich_bar_counts_iterations_of_the_run(tmp_path: Path) -> None:
    bar = IterationRichProgressBar()
    fit(toy_gan(iterations=5), [bar], tmp_path, logger=False, enable_checkpointing=False)
    task = bar.progress.tasks[bar.train_progress_bar_id]
    assert (task.completed, task.total) == (5, 5) and "Training" in task.description


def test_model_checkpoint_and_early_stopping_read_current_step_values(tmp_path: Path) -> None:
    """A user's monitors on train/* work with Lightning's default log_every_n_steps (values reach
    callback_metrics every batch)."""
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="train/d_loss", mode="min", save_top_k=1,
                                 every_n_train_steps=4)  # fmt: skip
    stopper = EarlyStopping(monitor="train/g_loss", mode="min", patience=0, check_on_train_epoch_end=True)
    gan = toy_gan(iterations=40)
    trainer = fit(gan, [checkpoint, stopper], tmp_path, logger=False, enable_progress_bar=False, max_epochs=3,
                  limit_train_batches=10)  # fmt: skip
    assert checkpoint.best_model_path and checkpoint.best_model_score is not None
    scores = torch.load(checkpoint.best_model_path, weights_only=False)["callbacks"]
    assert any("best_model_score" in state for state in scores.values())
    assert stopper.wait_count >= 0 and "train/g_loss" in trainer.callback_metrics


def test_learning_rate_monitor_sees_the_one_lr_schedule_once_per_iteration(tmp_path: Path) -> None:
    """Manual optimization: Lightning steps no scheduler; the learning rates follow the Schedule form
    (HyperparameterSchedules), one value per iteration (every D step of an iteration and its G step share it)."""
    halving = {"kind": "linear", "start": 2e-4, "end": 5e-5, "length": 3}  # 2e-4, 1.5e-4, 1e-4, 5e-5, ...
    gan = toy_gan(iterations=6, d_steps=2)
    monitor = LearningRateMonitor(logging_interval="step")
    schedules = HyperparameterSchedules(lr_g=halving, lr_d=halving)
    fit(gan, [schedules, monitor], tmp_path, logger=CSVLogger(tmp_path, name="lr", version=0),
        log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False)  # fmt: skip
    opt_g, opt_d = (opt.optimizer for opt in gan.optimizers())
    assert (
        opt_g.param_groups[0]["lr"] == opt_d.param_groups[0]["lr"] == 5e-5
    )  # iterations 3..5: the end value
    with open(tmp_path / "lr" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    columns = sorted(key for key in rows[0] if key.startswith("lr-"))
    assert len(columns) == 2  # one per optimizer, as LearningRateMonitor names them
    seen = sorted({float(row[columns[0]]) for row in rows if row[columns[0]]})
    assert seen == pytest.approx([5e-5, 1e-4, 1.5e-4, 2e-4])  # by hand: start + (end − start)·it/3


def test_a_torch_lr_scheduler_argument_is_refused_naming_it() -> None:
    """GAN(lr_scheduler_g=...) was a second LR mechanism beside the schedules; a passed one is an error that names
    it (README, "Schedules": write it as schedule.lr_g)."""
    step_lr = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=2, gamma=0.5)
    with pytest.raises(TypeError, match="lr_scheduler_g"):
        toy_gan(lr_scheduler_g=step_lr)

"""Step values: in ``trainer.callback_metrics`` after every batch, in the loggers on Lightning's logging steps and at
the end, never through ``self.log`` (its bookkeeping was most of the framework's overhead)."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from lightning_r1 import GAN, R1
from lightning_r1.data import Ring8DataModule
from lightning_r1.models.mlp import build_mlp


class CountLogCalls(L.Callback):
    """Records, per training batch, how many times the module called ``self.log`` and what a callback reads."""

    def __init__(self) -> None:
        self.per_batch: list[int] = []
        self.seen: list[dict[str, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        pl_module.log_calls = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.per_batch.append(pl_module.log_calls)
        read = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        latest = {k: float(v) for k, v in pl_module.step_metrics.latest.items() if k.startswith("train/")}
        self.seen.append({"read": read, "latest": latest, "iteration": pl_module.iteration})


class LogCountingGAN(GAN):
    def log(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self.log_calls = getattr(self, "log_calls", 0) + 1
        super().log(*args, **kwargs)


def run(
    tmp_path: Path, log_every: int, iterations: int = 9, d_steps: int = 1, diagnostics_every: int = 0
) -> tuple[list[dict], CountLogCalls]:
    torch.manual_seed(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = LogCountingGAN(models.generator, models.discriminator, latent_dim=4, iterations=iterations,
                         d_steps=d_steps, diagnostics_every=diagnostics_every)  # fmt: skip
    counter = CountLogCalls()
    trainer = L.Trainer(
        callbacks=[R1(1.0), counter],
        logger=CSVLogger(tmp_path, name=f"every{log_every}", version=0),
        log_every_n_steps=log_every,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))
    with open(tmp_path / f"every{log_every}" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return rows, counter


def test_no_self_log_and_callbacks_read_every_steps_values(tmp_path: Path) -> None:
    rows, counter = run(tmp_path, log_every=4, iterations=9)
    assert counter.per_batch == [0] * 9  # Lightning's self.log bookkeeping is never paid
    for step in counter.seen:  # what a callback reads at on_train_batch_end is this batch's value
        assert (
            step["read"] == step["latest"]
            and {"train/d_loss", "train/g_loss", "train/r1"} <= step["read"].keys()
        )
    assert [row["step"] for row in rows] == ["3", "7", "8"]  # Lightning's logging steps, then the final batch


def test_values_reach_callback_metrics_and_loggers_in_a_users_own_trainer(tmp_path: Path) -> None:
    """Lightning's defaults (log_every_n_steps=50) and a run ended by limit_train_batches: train/* must still be
    in callback_metrics at the end of fit, and the loggers get the last values."""
    torch.manual_seed(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, diagnostics_every=0)
    trainer = L.Trainer(callbacks=[R1(1.0)], logger=CSVLogger(tmp_path, name="own", version=0), max_epochs=2,
                        limit_train_batches=20, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))
    assert {
        "train/d_loss",
        "train/g_loss",
        "train/r1",
        "train/d_real",
        "train/d_fake",
    } <= trainer.callback_metrics.keys()
    assert float(trainer.callback_metrics["train/r1"]) == pytest.approx(
        float(gan.step_metrics.latest["train/r1"])
    )
    with open(tmp_path / "own" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[-1]["iteration"] == "40.0" and rows[-1]["train/r1"]  # the end of fit is logged


def test_epoch_means_are_published_like_on_epoch_logging(tmp_path: Path) -> None:
    torch.manual_seed(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, diagnostics_every=0, epoch_means=True)

    class Collect(L.Callback):
        values: list[float] = []
        means: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # noqa: ANN001, ANN002
            self.values.append(float(pl_module.step_metrics.latest["train/d_loss"]))

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.means.append(float(trainer.callback_metrics["train/d_loss_epoch"]))

    collect = Collect()
    trainer = L.Trainer(callbacks=[collect], logger=False, max_epochs=2, limit_train_batches=5,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu")  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))
    expected = [sum(collect.values[:5]) / 5, sum(collect.values[5:]) / 5]
    assert collect.means == pytest.approx(expected, rel=1e-6)


def assert_same_as_every_step_run(sparse: list[dict], every_step: list[dict]) -> None:
    """Each value of a sparse row is the latest one the every-step run had logged by that step (values are logged
    once, at the first logging step after they were measured, never repeated on later rows)."""
    for row in sparse:
        for key in ("train/d_loss", "train/g_loss", "train/r1", "iteration"):
            if row.get(key):
                history = [r[key] for r in every_step if int(r["step"]) <= int(row["step"]) and r.get(key)]
                assert float(row[key]) == pytest.approx(float(history[-1]), rel=1e-6), (key, row["step"])


def test_logged_values_are_those_of_their_own_step(tmp_path: Path) -> None:
    every_step, _ = run(tmp_path, log_every=1)
    sparse, _ = run(tmp_path, log_every=3)
    assert [row["step"] for row in sparse] == ["2", "5", "8"]  # the CSV's step is the 0-based batch index
    assert_same_as_every_step_run(sparse, every_step)


def test_d_only_batches_keep_their_values_for_the_next_logging_step(tmp_path: Path) -> None:
    every_step, _ = run(tmp_path, log_every=1, iterations=3, d_steps=3)
    rows, counter = run(tmp_path, log_every=2, iterations=3, d_steps=3)  # 9 batches; G steps on 3, 6, 9
    assert [row["step"] for row in rows] == ["1", "3", "5", "7", "8"]
    assert [row["iteration"] for row in rows] == [
        "",
        "1.0",
        "2.0",
        "2.0",
        "3.0",
    ]  # iterations completed so far
    assert_same_as_every_step_run(rows, every_step)


@pytest.mark.parametrize("log_every", [1, 4])
def test_diagnostics_get_one_row_each_at_the_iteration_they_were_taken(
    tmp_path: Path, log_every: int
) -> None:
    rows, _ = run(tmp_path, log_every=log_every, iterations=9, diagnostics_every=2)
    measured = [row for row in rows if row["train/grad_norm_real"]]
    assert [row["iteration"] for row in measured] == [
        "0.0",
        "2.0",
        "4.0",
        "6.0",
        "8.0",
    ]  # none dropped or repeated
    assert all(
        float(row["train/grad_norm_real"]) > 0 and float(row["train/grad_norm_fake"]) > 0 for row in measured
    )

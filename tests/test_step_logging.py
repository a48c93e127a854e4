"""The GAN hands step values to Lightning only on its logging steps, and those values are the current step's."""

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
    """Records, per training batch, how many values the module passed to ``self.log``."""

    def __init__(self) -> None:
        self.per_batch: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        pl_module.log_calls = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.per_batch.append(pl_module.log_calls)


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


def test_log_is_called_only_on_logging_steps_and_the_last(tmp_path: Path) -> None:
    _, counter = run(tmp_path, log_every=4, iterations=9)
    logged_batches = [i + 1 for i, calls in enumerate(counter.per_batch) if calls]
    assert logged_batches == [4, 8, 9]  # Lightning's logging steps, then the final batch (should_stop)
    assert all(
        calls >= 5 for calls in counter.per_batch if calls
    )  # d_loss, d_real, d_fake, r1, g_loss, iteration


def assert_same_as_every_step_run(sparse: list[dict], every_step: list[dict]) -> None:
    by_step = {row["step"]: row for row in every_step}
    for row in sparse:
        for key in ("train/d_loss", "train/g_loss", "train/r1", "iteration"):
            if row.get(key):
                assert float(row[key]) == pytest.approx(float(by_step[row["step"]][key]), rel=1e-6), key


def test_logged_values_are_those_of_their_own_step(tmp_path: Path) -> None:
    every_step, _ = run(tmp_path, log_every=1)
    sparse, _ = run(tmp_path, log_every=3)
    assert [row["step"] for row in sparse] == ["2", "5", "8"]  # the CSV's step is the 0-based batch index
    assert_same_as_every_step_run(sparse, every_step)


def test_d_only_batches_keep_their_values_for_the_next_logging_step(tmp_path: Path) -> None:
    every_step, _ = run(tmp_path, log_every=1, iterations=3, d_steps=3)
    rows, counter = run(tmp_path, log_every=2, iterations=3, d_steps=3)  # 9 batches; G steps on 3, 6, 9
    assert [i + 1 for i, calls in enumerate(counter.per_batch) if calls] == [2, 4, 6, 8, 9]
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

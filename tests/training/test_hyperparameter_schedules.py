"""HyperparameterSchedules on a real Trainer: the values each iteration's steps see (worked out by hand here), the
lazy-regularization correction on top of them, the logged keys, and a resume across a schedule boundary."""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

import lightning as L
import pytest
import torch

from conftest import TOY, compose_config
from lightning_r1 import GAN, R1, R2
from lightning_r1.app import train
from lightning_r1.callbacks import HyperparameterSchedules
from lightning_r1.data import Ring8DataModule
from lightning_r1.models import build_mlp


class SeenByTheSteps(L.Callback):
    """Per iteration: the lrs, betas and EMA half-life the G step of that iteration used (read after it)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self.trainer = trainer
        g, d = (
            pl_module.optimizer_of(net).optimizer for net in (pl_module.generator, pl_module.discriminator)
        )
        self.rows.append(
            {
                "lr_g": g.param_groups[0]["lr"],
                "lr_d": d.param_groups[0]["lr"],
                "betas_g": g.param_groups[0]["betas"],
                "betas_d": d.param_groups[0]["betas"],
                "half_life": pl_module.ema_half_life_images,
            }
        )


def fit(callbacks: list, iterations: int, d_steps: int = 1, beta1: float = 0.0) -> SeenByTheSteps:
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    adam = functools.partial(torch.optim.Adam, lr=2e-4, betas=(beta1, 0.99))
    gan = GAN(models.generator, models.discriminator, latent_dim=4, diagnostics_every=0, iterations=iterations,
              d_steps=d_steps, optimizer_g=adam, optimizer_d=adam)  # fmt: skip
    seen = SeenByTheSteps()
    trainer = L.Trainer(accelerator="cpu", callbacks=[*callbacks, seen], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=8))
    return seen


def test_values_follow_the_generator_iteration_not_the_optimizer_step() -> None:
    schedules = HyperparameterSchedules(
        lr_g={"kind": "linear", "start": 1e-3, "end": 0.0, "length": 10},  # 1e-3 · (1 − i/10)
        lr_d=5e-4,  # a plain number: constant
        beta2={"kind": "linear", "start": 0.5, "end": 1.0, "length": 5},  # 0.5 + 0.1 i, then 1
        ema_half_life_images={"kind": "linear", "start": 0, "end": 1000, "length": 4},  # 250 i, then 1000
    )
    rows = fit([schedules], iterations=6, d_steps=2, beta1=0.5)
    assert len(rows.rows) == 12  # two D steps per iteration: both see the iteration's values
    for step, row in enumerate(rows.rows):
        i = step // 2
        assert row["lr_g"] == pytest.approx(1e-3 * (1 - i / 10))
        assert row["lr_d"] == pytest.approx(5e-4)
        assert row["betas_g"][1] == pytest.approx(min(0.5 + 0.1 * i, 1.0)) == row["betas_d"][1]
        assert row["betas_g"][0] == row["betas_d"][0] == 0.5  # beta1 untouched (not 0: a change would show)
        assert row["half_life"] == pytest.approx(min(250 * i, 1000))


def test_lazy_correction_applies_to_the_scheduled_values() -> None:
    """StyleGAN2's correction for every=4: D's lr × 4/5 and betas^(4/5), on each iteration's scheduled value."""
    schedules = HyperparameterSchedules(
        lr_g={"kind": "linear", "start": 1e-3, "end": 0.0, "length": 10},
        lr_d={"kind": "linear", "start": 1e-3, "end": 0.0, "length": 10},
        beta2={"kind": "linear", "start": 0.5, "end": 1.0, "length": 5},
    )
    # β1 = 0.5, not 0: with β1 = 0 a missing or doubled correction of β1 (0^(4/5) = 0^(16/25) = 0) would pass
    rows = fit([R1(gamma=1.0, every=4, lazy_correction=True), schedules], iterations=4, beta1=0.5)
    for i, row in enumerate(rows.rows):
        assert row["lr_g"] == pytest.approx(1e-3 * (1 - i / 10))
        assert row["lr_d"] == pytest.approx(1e-3 * (1 - i / 10) * 4 / 5)
        assert row["betas_g"][1] == pytest.approx(0.5 + 0.1 * i)
        assert row["betas_d"][1] == pytest.approx((0.5 + 0.1 * i) ** 0.8)
        assert row["betas_g"][0] == 0.5  # G's optimizer is never corrected
        assert row["betas_d"][0] == pytest.approx(
            0.5**0.8, rel=1e-12
        )  # corrected once by the GAN, not per step


def test_the_module_takes_scheduled_values_through_one_public_method() -> None:
    """GAN.set_hyperparameters: the one way in for scheduled values (the callback writes no module attribute).
    D's values get the lazy correction the module built D's optimizer with; the values in use are recorded."""
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    adam = functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.99))
    gan = GAN(models.generator, models.discriminator, latent_dim=4, diagnostics_every=0, iterations=1,
              optimizer_g=adam, optimizer_d=adam)  # fmt: skip
    trainer = L.Trainer(accelerator="cpu", callbacks=[R1(gamma=1.0, every=4, lazy_correction=True)], logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=8))
    gan.set_hyperparameters(lr_g=1e-3, lr_d=1e-3, beta2=0.9, ema_half_life_images=123.0)
    g, d = (gan.optimizer_of(net).optimizer.param_groups[0] for net in (gan.generator, gan.discriminator))
    assert (g["lr"], g["betas"]) == (1e-3, (0.5, 0.9))
    assert d["lr"] == 1e-3 * (4 / 5) and d["betas"] == (
        0.5 ** (4 / 5),
        0.9 ** (4 / 5),
    )  # as configure_optimizers
    assert gan.ema_half_life_images == 123.0
    latest = gan.step_metrics.latest
    assert float(latest["train/lr_d"]) == d["lr"] and float(latest["train/ema_half_life"]) == 123.0
    assert float(latest["train/gamma"]) == 1.0
    gan.set_hyperparameters(lr_g=5e-4)  # None leaves a value as it is
    assert g["lr"] == 5e-4 and d["lr"] == 1e-3 * (4 / 5) and gan.ema_half_life_images == 123.0


def test_a_beta2_schedule_needs_adam(tmp_path: Path) -> None:
    cfg = compose_config([*TOY, "iterations=2", "optim=sgd", "schedule=r3gan"], tmp_path / "run")
    with pytest.raises(
        ValueError, match=r"schedule\.beta2: expected optimizers with betas \(Adam, AdamW\), got SGD"
    ):
        train(cfg)


def test_a_warmup_longer_than_the_run_is_refused_before_training(tmp_path: Path) -> None:
    overrides = [
        *TOY,
        "iterations=5",
        "schedule=r3gan",
        "schedule.lr_g.kind=cosine_warmup",
        "schedule.lr_g.warmup=5",
    ]
    with pytest.raises(
        ValueError,
        match=r"^schedule: Expected `lr_g\.warmup` \+ `lr_g\.hold` < `lr_g\.length`, got 5 \+ 0 >= 5$",
    ):
        train(compose_config(overrides, tmp_path / "run"))


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def final_state(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)


def test_resume_across_a_schedule_boundary_is_bitwise(tmp_path: Path) -> None:
    """Checkpoint at iteration 3, inside every schedule (R3GAN's, length 4; γ warm-up 1, hold 1); resume to 8:
    the same weights, EMA, optimizer state and logged schedule values as one uninterrupted run."""
    common = [
        *TOY,
        "iterations=8",
        "trainer.log_every_n_steps=1",
        "schedule=r3gan",
        "schedule.length=4",
        "gan.ema_rampup=null",
        "regularizer=[r1,r2]",
        *(f"regularizer.{r}.gamma={{kind:cosine_warmup,start:0.05,end:0.005,length:4,warmup:1,hold:1}}"
          for r in ("r1", "r2")),
    ]  # fmt: skip
    train(compose_config([*common, "checkpoint_every=3"], tmp_path / "full"))
    half = tmp_path / "full" / "checkpoints" / "iter_3.ckpt"
    train(compose_config([*common, f"ckpt_path={half}"], tmp_path / "resumed"))
    a, b = final_state(tmp_path / "full"), final_state(tmp_path / "resumed")
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for sa, sb in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        assert sa["param_groups"][0]["lr"] == sb["param_groups"][0]["lr"] == pytest.approx(5e-5)
        assert sa["param_groups"][0]["betas"] == sb["param_groups"][0]["betas"]
        for pa, pb in zip(sa["state"].values(), sb["state"].values(), strict=True):
            assert torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    full = {row["iteration"]: row for row in read_rows(tmp_path / "full") if row.get("train/lr_g")}
    resumed = {row["iteration"]: row for row in read_rows(tmp_path / "resumed") if row.get("train/lr_g")}
    keys = ("train/lr_g", "train/lr_d", "train/beta2", "train/gamma", "train/ema_half_life")
    assert set(resumed) and set(resumed) <= set(full)
    for iteration, row in resumed.items():
        assert [row[k] for k in keys] == [full[iteration][k] for k in keys], iteration
    # the logged values by hand: row "iteration" i+1 holds iteration i's values; γ warms up 0 → 0.05 over one
    # iteration, holds one, then decays to 0.005 at 4; the half-life is 0 → 5M along half a cosine over 4
    by_iteration = {int(float(i)) - 1: row for i, row in full.items()}
    assert [float(by_iteration[i]["train/gamma"]) for i in range(6)] == pytest.approx(
        [0.0, 0.05, 0.05, 0.0275, 0.005, 0.005]
    )
    assert [float(by_iteration[i]["train/ema_half_life"]) for i in range(5)] == pytest.approx(
        [0.0, 2.5e6 * (1 - 2**-0.5), 2.5e6, 2.5e6 * (1 + 2**-0.5), 5e6]
    )
    assert float(by_iteration[2]["train/lr_g"]) == pytest.approx((2e-4 + 5e-5) / 2)
    assert float(by_iteration[2]["train/beta2"]) == pytest.approx((0.9 + 0.99) / 2)


def test_lr_decay_holds_then_decays_both_learning_rates(tmp_path: Path) -> None:
    """schedule=lr_decay (the 2-D mixture presets' schedule): optim.lr for `hold` iterations, then half a cosine to
    `end` by the run's last iteration; D follows G's schedule; β2 and the EMA half-life are left alone."""
    overrides = [*TOY, "iterations=6", "trainer.log_every_n_steps=1", "schedule=lr_decay", "optim.lr=0.004",
                 "schedule.lr_g.hold=2", "schedule.lr_g.end=0.001"]  # fmt: skip
    train(compose_config(overrides, tmp_path / "run"))
    rows = {int(float(r["iteration"])) - 1: r for r in read_rows(tmp_path / "run") if r.get("train/lr_g")}
    # iterations 0, 1 hold 4e-3; then cos over the 4 left: 1e-3 + 3e-3 · (1 + cos(π k/4)) / 2, k = 0..3
    expected = [0.004, 0.004, *(0.001 + 0.003 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4))]
    assert [float(rows[i]["train/lr_g"]) for i in range(6)] == pytest.approx(expected)
    assert [float(rows[i]["train/lr_d"]) for i in range(6)] == pytest.approx(expected)
    assert {float(rows[i]["train/beta2"]) for i in range(6)} == {0.99}  # optim's betas, not scheduled


def test_gammas_that_differ_are_logged_per_regularizer() -> None:
    seen = fit([R1(gamma=1.0), R2(gamma=2.0), HyperparameterSchedules(lr_g=1e-3)], iterations=2)
    metrics = seen.trainer.callback_metrics
    assert float(metrics["train/gamma_r1"]) == 1.0 and float(metrics["train/gamma_r2"]) == 2.0
    assert "train/gamma" not in metrics and float(metrics["train/lr_g"]) == pytest.approx(1e-3)

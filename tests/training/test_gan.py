"""The GAN LightningModule through a real Lightning Trainer on small toy problems."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from lightning_r1 import GAN, R1, R2, WGANGP
from lightning_r1.data import DiracDataModule, Ring8DataModule
from lightning_r1.losses import LOSSES
from lightning_r1.models.dirac import build_dirac
from lightning_r1.models.mlp import build_mlp


def toy_gan(**kwargs) -> GAN:
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    return GAN(models.generator, models.discriminator, latent_dim=4, **kwargs)


def fit(gan: GAN, tmp_path: Path, callbacks=(), batch_size: int = 16, datamodule=None) -> L.Trainer:
    trainer = L.Trainer(
        callbacks=list(callbacks),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    trainer.fit(gan, datamodule=datamodule or Ring8DataModule(batch_size=batch_size))
    return trainer


class Counting(nn.Module):
    """Wraps D and counts its forwards."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize("d_steps", [1, 3])
def test_iterations_count_generator_updates(tmp_path: Path, d_steps: int) -> None:
    gan = toy_gan(iterations=7, d_steps=d_steps)
    trainer = fit(gan, tmp_path)
    assert gan.iteration == 7
    opt_g, opt_d = gan.optimizers()
    assert opt_g.optimizer.state[next(gan.generator.parameters())]["step"] == 7
    assert opt_d.optimizer.state[next(gan.discriminator.parameters())]["step"] == 7 * d_steps
    # Lightning's global_step counts every optimizer step, not generator updates
    assert trainer.global_step == 7 * (d_steps + 1)


@pytest.mark.parametrize("regs", [[], [R1(1.0)], [R1(1.0), R2(1.0)]], ids=["none", "r1", "r1+r2"])
def test_one_d_forward_per_batch_per_d_step(tmp_path: Path, regs: list) -> None:
    """R1/R2 reuse the adversarial forward: D runs once on real and once on fake per D step, once in the G step."""
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    counting = Counting(models.discriminator)
    gan = GAN(models.generator, counting, latent_dim=4, iterations=5, diagnostics_every=1)
    fit(gan, tmp_path, callbacks=regs)
    checks = 1  # the pre-flight shape check runs D once before training
    assert counting.calls == checks + 5 * (2 + 1)


def test_wgan_gp_adds_exactly_one_forward_on_interpolates(tmp_path: Path) -> None:
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    counting = Counting(models.discriminator)
    fit(GAN(models.generator, counting, latent_dim=4, iterations=4), tmp_path, callbacks=[WGANGP(10.0)])
    assert counting.calls == 1 + 4 * (2 + 1 + 1)


def test_lazy_r1_applies_on_every_kth_step_with_weight_times_k(tmp_path: Path) -> None:
    """With every=3 the penalty joins the D loss on D steps 0, 3, 6, … multiplied by 3."""
    seen: list[float] = []

    class Recorder(R1):
        def penalty(self, d_pass, iteration=None):
            value = super().penalty(d_pass, iteration)
            seen.append(value.item())
            return value

    reg = Recorder(gamma=2.0, every=3)
    fit(toy_gan(iterations=9), tmp_path, callbacks=[reg])
    assert len(seen) == 3 and reg.d_steps_seen == 9


def test_lazy_total_loss_includes_k_times_penalty() -> None:
    """The D objective on a due step is adversarial + k·penalty (checked on the Dirac-GAN's closed form)."""
    models = build_dirac(theta0=0.5, psi0=2.0)
    gan = GAN(models.generator, models.discriminator, latent_dim=1, loss="minimax")
    reg = R1(gamma=0.4, every=4)
    real = torch.zeros(3, 1)
    fake = torch.full((3, 1), 0.5)
    total, _ = gan._discriminator_loss(real, fake, due=[reg])  # outside a Trainer: nothing is logged
    adversarial = math.log(2) + math.log1p(math.exp(2.0 * 0.5))  # softplus(-0) + softplus(psi·theta)
    assert total.item() == pytest.approx(adversarial + 4 * 0.4 / 2 * 2.0**2)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_trains_and_stays_finite(tmp_path: Path, loss: str) -> None:
    gan = toy_gan(iterations=5, loss=loss)
    trainer = fit(gan, tmp_path, callbacks=[R1(1.0)])
    assert all(math.isfinite(float(v)) for v in trainer.callback_metrics.values())
    assert "train/r1" in trainer.callback_metrics and "train/g_loss" in trainer.callback_metrics


def test_diagnostics_logged_without_any_penalty(tmp_path: Path) -> None:
    trainer = fit(toy_gan(iterations=3, diagnostics_every=1), tmp_path)
    assert trainer.callback_metrics["train/grad_norm_real"] > 0
    assert trainer.callback_metrics["train/grad_norm_fake"] > 0


def test_same_seed_gives_identical_weights(tmp_path: Path) -> None:
    def run() -> list[torch.Tensor]:
        L.seed_everything(3)
        gan = toy_gan(iterations=6)
        fit(gan, tmp_path, callbacks=[R1(1.0), R2(0.5)])
        return [p.detach().clone() for p in gan.parameters()]

    for a, b in zip(run(), run(), strict=True):
        assert torch.equal(a, b)


def test_ema_tracks_generator_and_copies_buffers(tmp_path: Path) -> None:
    gen = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    disc = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    gan = GAN(gen, disc, latent_dim=4, iterations=5, ema_half_life_images=1e9, ema_rampup=None)
    fit(gan, tmp_path)
    ema_bn = gan.generator_ema[1]
    assert torch.equal(ema_bn.running_mean, gen[1].running_mean)  # buffers copied
    assert int(ema_bn.num_batches_tracked) == 2 * 5  # G runs in the D step and in the G step
    # an (almost) infinite half-life leaves the averaged weights near their start, unlike the trained ones
    assert not torch.equal(gan.generator_ema[0].weight, gen[0].weight)


def test_simultaneous_update_on_dirac_gan_matches_closed_form(tmp_path: Path) -> None:
    """One simultaneous SGD step from (theta, psi) uses both gradients at the same point (Mescheder et al. §2)."""
    theta, psi, h = 1.0, 0.5, 0.1
    models = build_dirac(theta0=theta, psi0=psi)
    sgd = lambda params: torch.optim.SGD(params, lr=h)  # noqa: E731
    gan = GAN(
        models.generator,
        models.discriminator,
        latent_dim=1,
        loss="minimax",
        optimizer_g=sgd,
        optimizer_d=sgd,
        update="simultaneous",
        iterations=1,
        ema_half_life_images=0,
    )
    fit(gan, tmp_path, datamodule=DiracDataModule(batch_size=4))
    sig = 1 / (1 + math.exp(-theta * psi))  # D(fake) = psi·theta; data at 0 gives D(real) = 0
    assert float(models.generator.theta) == pytest.approx(theta + h * psi * sig)
    assert float(models.discriminator.psi) == pytest.approx(psi - h * theta * sig)


def test_user_modules_with_column_logits_work(tmp_path: Path) -> None:
    gen = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2))
    disc = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))  # returns [N, 1]
    gan = GAN(gen, disc, latent_dim=3, iterations=3)
    fit(gan, tmp_path, callbacks=[R1(1.0)])
    assert gan.iteration == 3


def test_shape_mismatch_is_reported_before_training(tmp_path: Path) -> None:
    gen = nn.Sequential(nn.Linear(3, 5))  # produces 5-D points, the ring gives 2-D
    disc = nn.Sequential(nn.Linear(5, 1))
    with pytest.raises(ValueError, match=r"samples of shape \(2,\) but the generator produces \(5,\)"):
        fit(GAN(gen, disc, latent_dim=3, iterations=3), tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"latent_dim": 0}, "`latent_dim`"),
        ({"d_steps": 0}, "Expected `d_steps` to be a positive integer, got 0"),
        ({"iterations": 0}, "Expected `iterations` to be a positive integer, got 0"),
        ({"update": "sometimes"}, "Expected `update` to be one of"),
        ({"loss": "bce"}, r"Expected `loss` to be one of \['hinge', 'minimax', 'nonsaturating'"),
        ({"update": "simultaneous", "d_steps": 2}, "d_steps"),
    ],
)
def test_bad_gan_arguments(kwargs: dict, match: str) -> None:
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    args = {"latent_dim": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        GAN(models.generator, models.discriminator, **args)

"""The D and G phases on their own, the progress counters, and the GAN built from its config group."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from conftest import TOY
from lightning_r1 import GAN, R1
from lightning_r1.build import build_gan
from lightning_r1.data import Ring8DataModule
from lightning_r1.losses import get_loss
from lightning_r1.metrics.vocabulary import METRICS
from lightning_r1.models.dirac import build_dirac
from lightning_r1.models.mlp import build_mlp
from lightning_r1.phases import discriminator_loss, generator_loss
from lightning_r1.progress import Progress, load_progress, save_progress


def test_discriminator_phase_is_adversarial_plus_k_times_each_due_penalty() -> None:
    """Dirac-GAN closed form: D(x) = ψx, real 0, fake θ; R1 = γ/2·ψ², lazy every=4 joins the loss ×4."""
    models = build_dirac(theta0=0.5, psi0=2.0)
    reg = R1(gamma=0.4, every=4)
    real, fake = torch.zeros(3, 1), torch.full((3, 1), 0.5)
    phase = discriminator_loss(
        models.discriminator, get_loss("minimax"), real, fake, [], [reg], diagnose=True
    )
    adversarial = math.log(2) + math.log1p(math.exp(2.0 * 0.5))
    assert phase.loss.item() == pytest.approx(adversarial + 4 * 0.4 / 2 * 2.0**2)
    assert phase.terms["train/r1"].item() == pytest.approx(0.4 / 2 * 2.0**2)  # logged without the lazy weight
    # train/d_loss is the adversarial loss alone, as its description says (it said "penalties included")
    assert phase.terms["train/d_loss"].item() == pytest.approx(adversarial)
    assert "without the penalties" in next(m for m in METRICS if m.key == "train/d_loss").description
    assert not any(t.requires_grad for t in phase.terms.values())
    assert phase.grad_norms == pytest.approx({"train/grad_norm_real": 4.0, "train/grad_norm_fake": 4.0})


def test_generator_phase_leaves_d_weights_alone() -> None:
    models = build_dirac(theta0=0.5, psi0=2.0)
    fake = models.generator(torch.zeros(3, 1))
    phase = generator_loss(models.discriminator, get_loss("nonsaturating"), torch.zeros(3, 1), fake, [])
    phase.loss.backward()
    assert models.discriminator.psi.grad is None and models.generator.theta.grad is not None
    assert models.discriminator.psi.requires_grad  # unfrozen again


def test_progress_round_trips_in_the_checkpoint_layout_of_earlier_runs() -> None:
    progress = Progress(iteration=7, images_seen=112, d_step_in_iteration=1, nonfinite_skips=2)
    checkpoint: dict = {}
    save_progress(progress, checkpoint)
    saved = checkpoint["lightning_r1"]
    assert list(saved) == ["iteration", "images_seen", "d_step_in_iteration", "nonfinite_skips", "rng_states"]
    restored = Progress()
    load_progress(restored, checkpoint)
    assert restored == progress


def fit(gan: GAN, tmp_path: Path, callbacks: list) -> None:
    trainer = L.Trainer(
        callbacks=callbacks, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))


def test_penalties_are_collected_once_and_read_their_schedule_at_the_gans_iteration(tmp_path: Path) -> None:
    """The GAN's table of penalties is filled once at set-up; each due penalty is read at the GAN's iteration
    (logged ``train/r1`` equals γ(it)/2 · E||∇D||² with γ from the schedule at the iteration of that step)."""

    class Seen(R1):
        def penalty(self, d_pass, iteration=0):
            self.iterations.append(iteration)
            return super().penalty(d_pass, iteration)

    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, iterations=3, d_steps=2)
    reg = Seen(gamma={"kind": "linear", "start": 1.0, "end": 0.0})
    reg.iterations = []
    fit(gan, tmp_path, [reg])
    assert gan.regularizers == [reg] and gan.input_transforms == [] and gan.augmentation is None
    assert reg.iterations == [0, 0, 1, 1, 2, 2]  # two D steps per iteration, each at the iteration under way
    assert reg.gamma.length == 3  # the run's length, filled in once at fit start


def test_optimizers_are_found_by_the_weights_they_step(tmp_path: Path) -> None:
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    sgd = lambda params: torch.optim.SGD(params, lr=0.25)  # noqa: E731
    gan = GAN(models.generator, models.discriminator, latent_dim=4, iterations=1, optimizer_d=sgd)
    fit(gan, tmp_path, [])
    assert isinstance(gan.optimizer_of(gan.discriminator).optimizer, torch.optim.SGD)
    assert isinstance(gan.optimizer_of(gan.generator).optimizer, torch.optim.Adam)


def test_gan_group_builds_the_module_with_every_key(make_cfg) -> None:
    cfg = make_cfg([*TOY, "gan.d_steps=2", "gan.ema_rampup=null", "gan.diagnostics_every=7"])
    models = instantiate(cfg.model)
    gan = build_gan(cfg.gan, generator=models.generator, discriminator=models.discriminator, iterations=4)
    got = (gan.latent_dim, gan.d_steps, gan.ema_rampup, gan.diagnostics_every, gan.iterations)
    assert got == (8, 2, None, 7, 4)
    assert cfg.model.latent_dim == 8  # ${gan.latent_dim} in the model config

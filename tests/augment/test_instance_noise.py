"""InstanceNoise: Gaussian noise on D's real and fake inputs, in the D step and in the G step (an input transform)."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LambdaCallback
from torch import nn

from lightning_r1 import GAN, InstanceNoise, Regularizer
from lightning_r1.build import group_members
from lightning_r1.data import DiracDataModule
from lightning_r1.models.dirac import build_dirac


def test_perturb_adds_gaussian_noise_of_the_given_std() -> None:
    torch.manual_seed(0)
    x = torch.full((200_000, 2), 3.0)
    noisy = InstanceNoise(sigma=0.5).perturb(x)
    assert noisy.shape == x.shape
    assert (noisy - x).mean().item() == pytest.approx(0.0, abs=5e-3)
    assert (noisy - x).std().item() == pytest.approx(0.5, rel=1e-2)


def test_zero_sigma_is_the_identity_and_no_penalty() -> None:
    x = torch.randn(4, 3)
    reg = InstanceNoise(sigma=0.0)
    assert reg.perturb(x) is x
    assert not isinstance(reg, Regularizer)  # an input transform: nothing joins a D loss


def test_gradient_flows_through_the_noise_to_the_generator() -> None:
    theta = torch.tensor(1.5, requires_grad=True)
    fake = theta.expand(8, 1)
    InstanceNoise(sigma=1.0).perturb(fake).sum().backward()
    assert float(theta.grad) == 8.0  # additive noise: d(x + eps)/dx = 1


@pytest.mark.parametrize("sigma", [-0.1, math.nan, math.inf, "a", True])
def test_bad_sigma(sigma) -> None:
    with pytest.raises(ValueError, match=f"Expected `sigma` to be a non-negative float, got {sigma!r}"):
        InstanceNoise(sigma=sigma)


def test_cosine_schedule_anneals_sigma() -> None:
    reg = InstanceNoise(sigma={"kind": "cosine", "start": 1.0, "end": 0.0, "length": 10})
    values = [reg.sigma.value_at(i) for i in (0, 5, 10)]
    assert values[0] == 1.0 and values[1] == pytest.approx(0.5) and values[2] == 0.0
    x = torch.randn(3, 2)
    assert reg.perturb(x, iteration=10) is x and reg.perturb(x, iteration=5) is not x
    with pytest.raises(ValueError, match="Expected `sigma.end` to be a finite float, got None"):
        InstanceNoise(sigma={"kind": "cosine", "start": 1.0})
    with pytest.raises(ValueError, match="Expected `sigma.end` to be a non-negative float, got -0.5"):
        InstanceNoise(sigma={"kind": "cosine", "start": 1.0, "end": -0.5})


class Recording(nn.Module):
    """The Dirac discriminator, recording every input batch it sees."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return self.inner(x)


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_the_gan_perturbs_real_and_fake_in_both_steps(tmp_path: Path, update: str) -> None:
    models = build_dirac(theta0=2.0, psi0=0.0)  # psi = 0: nothing moves theta, so fake stays at 2
    D = Recording(models.discriminator)
    sgd = lambda params: torch.optim.SGD(params, lr=0.0)  # noqa: E731
    gan = GAN(models.generator, D, latent_dim=1, loss="minimax", optimizer_g=sgd, optimizer_d=sgd,
              update=update, iterations=3, ema_half_life_images=0, diagnostics_every=0)  # fmt: skip
    clear = LambdaCallback(on_train_start=lambda *_: D.inputs.clear())  # drop the start-up shape check
    trainer = L.Trainer(callbacks=[InstanceNoise(sigma=0.3), clear], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(gan, datamodule=DiracDataModule(batch_size=2048))
    # per iteration: G step (fake), D step (real, fake), in some order; real data is 0 and fake is 2 before noise
    assert len(D.inputs) == 9
    for x in D.inputs:
        centre = 0.0 if abs(float(x.mean())) < 1.0 else 2.0
        assert float(x.mean()) == pytest.approx(centre, abs=0.05)
        assert float(x.std()) == pytest.approx(0.3, rel=0.1)
    assert sum(abs(float(x.mean())) < 1.0 for x in D.inputs) == 3  # one real batch per iteration


def test_config_instantiates(make_cfg) -> None:
    cfg = make_cfg(["regularizer=instance_noise", "regularizer.instance_noise.sigma=0.2"])
    (reg,) = [instantiate(node) for node in group_members(cfg, "regularizer").values()]
    assert isinstance(reg, InstanceNoise) and reg.sigma == 0.2  # a plain number stays a number


def test_a_scheduled_sigma_from_the_command_line(make_cfg) -> None:
    cfg = make_cfg(
        ["regularizer=instance_noise", "regularizer.instance_noise.sigma={kind:linear,start:0.2,end:0.0}"]
    )
    (reg,) = [instantiate(node) for node in group_members(cfg, "regularizer").values()]
    assert reg.sigma.with_length(4).value_at(2) == pytest.approx(0.1)

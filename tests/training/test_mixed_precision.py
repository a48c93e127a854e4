"""Mixed precision against float32: float16 + simultaneous updates, the penalty's loss scaling, NaNs the scaler
cannot fix, and the approximate R1 under bf16. Real Trainers on CPU (float16 autocast and GradScaler work there)."""

from __future__ import annotations

import functools

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins import MixedPrecision
from torch import nn

from lightning_r1 import GAN, R1, ApproxR1
from lightning_r1.data import DiracDataModule, Ring8DataModule
from lightning_r1.errors import NonFiniteLossError
from lightning_r1.models.dirac import DiracDiscriminator, DiracGenerator
from lightning_r1.models.mlp import build_mlp
from lightning_r1.regularizers import DiscriminatorPass, input_gradient_sq_norm

QUIET = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)


def float16(growth_interval: int = 2000) -> list:
    """Lightning's float16 AMP plugin on CPU with a GradScaler whose scale grows every ``growth_interval`` steps."""
    scaler = torch.amp.GradScaler("cpu", growth_interval=growth_interval)
    return [MixedPrecision("16-mixed", "cpu", scaler=scaler)]


def dirac_run(plugins: list, iterations: int = 3) -> tuple[float, float]:
    L.seed_everything(0)
    sgd = functools.partial(torch.optim.SGD, lr=0.1)
    gan = GAN(DiracGenerator(1.0), DiracDiscriminator(1.0), latent_dim=1, loss="minimax", optimizer_g=sgd,
              optimizer_d=sgd, update="simultaneous", iterations=iterations, ema_half_life_images=0,
              diagnostics_every=0)  # fmt: skip
    trainer = L.Trainer(accelerator="cpu", callbacks=[R1(gamma=0.5)], plugins=plugins, **QUIET)
    trainer.fit(gan, datamodule=DiracDataModule(batch_size=4))
    return float(gan.generator.theta.detach()), float(gan.discriminator.psi.detach())


def test_float16_simultaneous_steps_equal_float32_while_the_scale_changes() -> None:
    """The scaler grows its scale after every step here (growth_interval=1), i.e. between G's and D's step: D's
    gradients, taken at the old scale, must still be unscaled by it (they were off by 2x before)."""
    assert dirac_run(float16(growth_interval=1)) == pytest.approx(dirac_run([]), abs=1e-6)


def test_penalty_does_not_overflow_float16_at_the_default_scale() -> None:
    """At the GradScaler's default 2^16, scaling the summed logits gave each logit a gradient of 65536 > float16's
    65504 (inf, so the first R1 was NaN). Scaled per logit as in the batch-mean loss, it is the float32 value."""
    lin = nn.Linear(3, 1).half()
    x = torch.randn(8, 3).half().requires_grad_(True)
    scaled = input_gradient_sq_norm(lin(x).squeeze(1), x, grad_scale=2.0**16)
    reference = input_gradient_sq_norm(lin.float()(x.float()).squeeze(1), x)
    assert torch.isfinite(scaled).all()
    torch.testing.assert_close(scaled, reference.detach(), rtol=2e-3, atol=0)


class NaNLogits(nn.Module):
    """A D whose logits are NaN: no loss scale can fix that."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * float("nan")


def test_a_nan_the_scaler_cannot_fix_is_reported_at_the_first_step() -> None:
    """It used to be reported only after 16 halvings of the scale (16 skipped iterations)."""
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    gan = GAN(models.generator, NaNLogits(), latent_dim=4, iterations=20, diagnostics_every=0)
    trainer = L.Trainer(accelerator="cpu", callbacks=[R1(gamma=1.0)], plugins=float16(), **QUIET)
    with pytest.raises(NonFiniteLossError, match=r"^iteration 0: train/d_loss is nan"):
        trainer.fit(gan, datamodule=Ring8DataModule(batch_size=8))


class SteepD(nn.Module):
    """A smooth D with large logits (~8), where bf16 stores a logit only to 1/32."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(10, 1)
        with torch.no_grad():
            self.lin.weight.fill_(0.05)
            self.lin.bias.fill_(8.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(x)) * 8.0 + self.lin(x)


def test_approx_r1_under_bf16_autocast_matches_exact_r1() -> None:
    """The finite difference D(x + σε) − D(x) is computed in float32; in bf16 it measured rounding noise (0.875 vs
    exact 0.060 with logits ~8)."""
    d = SteepD()
    x = torch.randn(512, 10, generator=torch.Generator().manual_seed(0))
    exact = R1(gamma=1.0)(d, x, x).item()
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d_pass = DiscriminatorPass.forward(d, x, x, real_grad=False, fake_grad=False)
        assert d_pass.d_real.dtype == torch.bfloat16  # the adversarial pass really is in bf16
        approx = ApproxR1(gamma=1.0, sigma=1e-2).penalty(d_pass).item()
    assert approx == pytest.approx(exact, rel=0.1)

"""R1 and R2: zero-centred gradient penalties on real and on generated data.

Mescheder, Geiger, Nowozin 2018, "Which Training Methods for GANs do actually Converge?", eq. (9) and (10):

    R1(psi) = gamma/2 · E_{x ~ p_D}    ||∇_x D_psi(x)||²
    R2(psi) = gamma/2 · E_{x ~ p_theta} ||∇_x D_psi(x)||²

The gradient is with respect to the discriminator's *input* x, not its weights psi. The expectation is a mean over
the batch; the squared norm sums over every non-batch dimension. Convention: gamma/2 as in the paper and StyleGAN2;
GAN_stability's ``reg_param`` has no 1/2, so its default 10 equals gamma = 20 here.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from torch import Tensor

from lightning_r1.functional import half_gamma_mean
from lightning_r1.regularizers.base import Regularizer, auto_gamma, strength_schedule
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass
from lightning_r1.schedules import Schedule


class R1(Regularizer):
    """Zero-centred gradient penalty on real data: ``gamma/2 · mean_i ||∇_x D(real_i)||²``.

    Args:
        gamma: penalty strength (>= 0): a number, a schedule over generator iterations (a
            :class:`~lightning_r1.schedules.Schedule` or its mapping, e.g. ``{kind: cosine, start: 1.0, end: 0.1}``;
            ``length`` defaults to the run's ``iterations``), or "auto" for StyleGAN2-ADA's 0.0002·resolution²/batch.
        every: lazy regularization interval k (weight × k on every k-th D step).
        lazy_correction: StyleGAN2's optimizer correction for ``every`` > 1.

    Raises:
        ValueError: ``gamma`` negative or NaN (at either end of its schedule), a bad schedule, ``every`` < 1.

    Example:
        >>> penalty = R1(gamma=10.0)(discriminator, real, fake)  # doctest: +SKIP
    """

    name = "r1"
    strength_name = "gamma"
    needs_real_grad = True
    reads = ("real",)
    side = "real"  # the batch whose input gradient is penalised

    def __init__(
        self, gamma: float | str | Schedule | dict = 10.0, every: int = 1, lazy_correction: bool = False
    ) -> None:
        super().__init__(every, lazy_correction)
        self.gamma = strength_schedule("gamma", gamma, allow_auto=True)
        self.resolved_auto: float | None = None  # gamma="auto", from the first real batch; checkpointed

    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        return d_pass.sq_norm(self.side)

    def formula(self, per_sample: Tensor, strength: float) -> Tensor:
        return half_gamma_mean(per_sample, strength)

    def penalty(self, d_pass: DiscriminatorPass, iteration: int = 0) -> Tensor:
        if self.gamma == "auto" and self.resolved_auto is None:
            self.resolved_auto = auto_gamma(d_pass.real)
        return super().penalty(d_pass, iteration)

    def strength_at(self, iteration: int) -> float:
        if self.gamma != "auto":
            return super().strength_at(iteration)
        if self.resolved_auto is None:
            raise RuntimeError(f"{self.name}: gamma='auto' is resolved from the first real batch")
        return self.resolved_auto

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.gamma != "auto":
            super().on_fit_start(trainer, pl_module)  # a schedule's length
            return
        shape = getattr(trainer.datamodule, "sample_shape", None)  # a user's datamodule may not say
        if shape is not None and len(shape) != 3:
            raise ValueError(
                f"{self.name}: gamma='auto' needs image data (0.0002·resolution²/batch), "
                f"but the dataset's samples have shape {tuple(shape)}; set gamma to a number"
            )

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "resolved_auto": self.resolved_auto}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.resolved_auto = state_dict["resolved_auto"]


class R2(R1):
    """Zero-centred gradient penalty on generated data: ``gamma/2 · mean_i ||∇_x D(fake_i)||²``.

    Same arguments as :class:`R1`. Used with R1 by R3GAN (Huang et al. 2024) to keep the fake-side gradient
    norms in check far from equilibrium.
    """

    name = "r2"
    needs_real_grad = False
    needs_fake_grad = True
    reads = ("fake",)
    side = "fake"

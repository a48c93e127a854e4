"""R1 and R2: zero-centred gradient penalties on real and on generated data.

Mescheder, Geiger, Nowozin 2018, "Which Training Methods for GANs do actually Converge?", eq. (9) and (10):

    R1(psi) = gamma/2 · E_{x ~ p_D}    ||∇_x D_psi(x)||²
    R2(psi) = gamma/2 · E_{x ~ p_theta} ||∇_x D_psi(x)||²

The gradient is with respect to the discriminator's *input* x, not its weights psi. The expectation is a mean over
the batch; the squared norm sums over every non-batch dimension. Convention: gamma/2 as in the paper and StyleGAN2;
GAN_stability's ``reg_param`` has no 1/2, so its default 10 equals gamma = 20 here.
"""

from __future__ import annotations

from torch import Tensor

from lightning_r1.regularizers.base import Regularizer
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass


class R1(Regularizer):
    """Zero-centred gradient penalty on real data: ``gamma/2 · mean_i ||∇_x D(real_i)||²``.

    Args:
        gamma: penalty strength (>= 0), or "auto" for StyleGAN2-ADA's 0.0002·resolution²/batch.
        every: lazy regularization interval k (weight × k on every k-th D step).
        schedule: a kind of :mod:`lightning_r1.schedules` (constant, linear, cosine, cosine_warmup), from ``gamma``
            to ``gamma_final``.
        gamma_final: end value of a non-constant schedule.
        schedule_iterations: length of the schedule in generator iterations (default: the run's ``iterations``).
        lazy_correction: StyleGAN2's optimizer correction for ``every`` > 1.
        schedule_warmup: ``cosine_warmup`` only: iterations of the linear warm-up from 0 to ``gamma``.
        schedule_hold: ``cosine_warmup`` only: iterations ``gamma`` is held before the cosine decay.

    Raises:
        ValueError: ``gamma`` negative or NaN, ``every`` < 1, unknown ``schedule``.

    Example:
        >>> penalty = R1(gamma=10.0)(discriminator, real, fake)  # doctest: +SKIP
    """

    name = "r1"
    coefficient = 0.5
    allows_auto = True
    needs_real_grad = True
    reads = ("real",)

    def __init__(
        self,
        gamma: float | str = 10.0,
        every: int = 1,
        schedule: str = "constant",
        gamma_final: float | None = None,
        schedule_iterations: int | None = None,
        lazy_correction: bool = False,
        schedule_warmup: int = 0,
        schedule_hold: int = 0,
    ) -> None:
        super().__init__(
            gamma, every, schedule, gamma_final, schedule_iterations, lazy_correction,
            schedule_warmup=schedule_warmup, schedule_hold=schedule_hold,
        )  # fmt: skip

    @property
    def gamma(self) -> float | str:
        return self.strength

    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        return d_pass.sq_norm("real")


class R2(R1):
    """Zero-centred gradient penalty on generated data: ``gamma/2 · mean_i ||∇_x D(fake_i)||²``.

    Same arguments as :class:`R1`. Used with R1 by R3GAN (Huang et al. 2024) to keep the fake-side gradient
    norms in check far from equilibrium.
    """

    name = "r2"
    needs_real_grad = False
    needs_fake_grad = True
    reads = ("fake",)

    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        return d_pass.sq_norm("fake")

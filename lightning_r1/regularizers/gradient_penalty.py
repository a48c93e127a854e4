"""Gradient penalties on interpolates between real and generated samples, for comparison with R1/R2.

WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. 3), one-centred:
    weight · E_{x̂} (||∇_x̂ D(x̂)|| − 1)²,   x̂ = eps·x_real + (1 − eps)·x_fake,  eps ~ U[0, 1] per sample.
Zero-centred GP (Thanh-Tung, Tran, Venkatesh 2019, "Improving Generalization and Stability of GANs"):
    weight · E_{x̂} ||∇_x̂ D(x̂)||².
Mescheder et al. (2018, §3.2) show WGAN-GP does not make the Dirac-GAN converge; R1/R2 do.
"""

from __future__ import annotations

from torch import Tensor

from lightning_r1.functional import centred_gradient_penalty, input_gradient_sq_norm, interpolate
from lightning_r1.regularizers.base import Regularizer, strength_schedule
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass
from lightning_r1.schedules import Schedule


def interpolate_sq_norm(d_pass: DiscriminatorPass) -> Tensor:
    """||∇_x̂ D(x̂_i)||² per sample; needs its own D forward on the interpolates."""
    x_hat = interpolate(d_pass.real, d_pass.fake)
    return input_gradient_sq_norm(d_pass.logits_of(x_hat), x_hat, grad_scale=d_pass.grad_scale)


class WGANGP(Regularizer):
    """One-centred gradient penalty on interpolates: ``weight · mean_i (||∇D(x̂_i)|| − 1)²``.

    Args:
        weight: penalty weight lambda (>= 0; the paper uses 10): a number or a schedule, as R1's ``gamma``.
        every, lazy_correction: as for :class:`~lightning_r1.R1`.

    Raises:
        ValueError: ``weight`` negative or NaN, a bad schedule, ``every`` < 1.
    """

    name = "wgan_gp"
    strength_name = "weight"
    reads = ()  # its own D forward on the interpolates: the plain callable runs no other
    needs_fake_batch = True
    center = 1.0  # the norm the penalty pulls ||∇D(x̂)|| to (functional.centred_gradient_penalty)

    def __init__(
        self, weight: float | Schedule | dict = 10.0, every: int = 1, lazy_correction: bool = False
    ) -> None:
        super().__init__(every, lazy_correction)
        self.weight = strength_schedule("weight", weight)

    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        return centred_gradient_penalty(interpolate_sq_norm(d_pass), self.center)


class ZeroGP(WGANGP):
    """Zero-centred gradient penalty on interpolates: ``weight · mean_i ||∇D(x̂_i)||²``. Same arguments as WGANGP."""

    name = "zero_gp"
    center = 0.0

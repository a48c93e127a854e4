"""Instance noise: Gaussian noise on everything the discriminator sees, real and generated.

Sønderby et al. 2017, "Amortised MAP Inference for Image Super-resolution", §3.1; Arjovsky & Bottou 2017,
"Towards Principled Methods for Training GANs", §3.2. Mescheder, Geiger, Nowozin 2018 (§3.1, Lemma 3.1 / Theorem 3.2)
show that it makes the Dirac-GAN converge: near the equilibrium it adds ``2 f''(0) σ²`` to the discriminator's
diagonal entry of the Jacobian, the same kind of damping as R1/R2 with ``gamma = -2 f''(0) σ²`` (``σ²/2`` for the
standard GAN loss). Unlike R1 it adds no term to the loss: it changes D's *inputs*.

    x_real + ε,  x_fake + ε',   ε, ε' ~ N(0, σ² I), drawn afresh for every D forward (D step and G step).

Penalties and diagnostics on a step with instance noise are taken where D is evaluated: at the *noisy* points
(R1 at x_real + ε, ``train/grad_norm_real`` likewise). That is the paper's noisy game (Mescheder et al. 2018,
§3.1: the noise defines a new data and generator distribution, and R1/R2 regularize D on those); to penalise
the clean points instead, use R1 without instance noise. See README "Scaling up" and docs/r1_explained.md.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_r1.distributed import randn_like_for_rank
from lightning_r1.regularizers.base import Regularizer
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass


class InstanceNoise(Regularizer):
    """Adds ``N(0, sigma²)`` noise to D's real and fake inputs in the D step and in the G step.

    The GAN calls :meth:`perturb` on both batches before every discriminator forward; gradients flow through the
    noisy fake batch to the generator (the noise is additive). ``sigma`` can follow the same schedules as R1's
    gamma (e.g. a cosine decay to ``sigma_final``), a common way to anneal instance noise.

    Args:
        sigma: noise standard deviation (>= 0; 0 disables the noise).
        schedule: a kind of :mod:`lightning_r1.schedules` (constant, linear, cosine, cosine_warmup), from ``sigma``
            to ``sigma_final`` over ``schedule_iterations``.
        sigma_final: end value of a non-constant schedule.
        schedule_iterations: length of the schedule in generator iterations (default: the run's ``iterations``).
        schedule_warmup, schedule_hold: ``cosine_warmup`` only, as for :class:`~lightning_r1.R1`.

    Raises:
        ValueError: ``sigma`` negative, infinite or NaN; unknown ``schedule``.

    Example:
        >>> noisy = InstanceNoise(sigma=0.1).perturb(torch.zeros(4, 2))  # doctest: +SKIP
    """

    name = "instance_noise"
    strength_name = "sigma"
    adds_penalty = False  # nothing joins the D loss; the GAN only calls perturb()
    reads = ()

    def __init__(
        self,
        sigma: float = 0.1,
        schedule: str = "constant",
        sigma_final: float | None = None,
        schedule_iterations: int | None = None,
        schedule_warmup: int = 0,
        schedule_hold: int = 0,
    ) -> None:
        super().__init__(
            sigma, 1, schedule, sigma_final, schedule_iterations, False,
            schedule_warmup=schedule_warmup, schedule_hold=schedule_hold,
        )  # fmt: skip

    @property
    def sigma(self) -> float:
        return float(self.strength)

    def perturb(self, x: Tensor) -> Tensor:
        """``x + sigma·N(0, I)`` with ``sigma`` at the current iteration (``x`` unchanged when it is 0)."""
        sigma = self.strength_at(self.iteration)
        if sigma == 0:
            return x
        return x + sigma * randn_like_for_rank(x)  # this rank's slice of one draw for the global batch

    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        """No penalty: zeros, so the plain-callable form ``InstanceNoise(s)(D, real, fake)`` returns 0."""
        return torch.zeros(d_pass.real.shape[0], device=d_pass.real.device, dtype=d_pass.real.dtype)

    def __repr__(self) -> str:
        return f"InstanceNoise(sigma={self.strength}, schedule={self.schedule})"

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

An input transform, not a penalty: it adds nothing to the loss, so it is no :class:`~lightning_r1.Regularizer`. It
stays selectable as ``regularizer=instance_noise`` (the config name every run so far used), so that it combines with
``augment=diffaug|ada`` (the ``augment`` group selects one member); the GAN collects it by its type.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from torch import Tensor

from lightning_r1.distributed import randn_like_for_rank
from lightning_r1.regularizers.base import require_gan_module, strength_schedule, with_run_length
from lightning_r1.schedules import Schedule, value_at


class InstanceNoise(L.Callback):
    """Adds ``N(0, sigma²)`` noise to D's real and fake inputs in the D step and in the G step.

    The GAN calls :meth:`perturb` on both batches before every discriminator forward (before the augmentation);
    gradients flow through the noisy fake batch to the generator (the noise is additive). ``sigma`` can follow a
    schedule, a common way to anneal instance noise.

    Args:
        sigma: noise standard deviation (>= 0; 0 disables the noise): a number, or a schedule over generator
            iterations (a :class:`~lightning_r1.schedules.Schedule` or its mapping, e.g. ``{kind: cosine, start: 0.1,
            end: 0.0}``; ``length`` defaults to the run's ``iterations``).

    Raises:
        ValueError: ``sigma`` negative, infinite or NaN (at either end of its schedule); a bad schedule.

    Example:
        >>> noisy = InstanceNoise(sigma=0.1).perturb(torch.zeros(4, 2))  # doctest: +SKIP
    """

    name = "instance_noise"

    def __init__(self, sigma: float | Schedule | dict = 0.1) -> None:
        self.sigma = strength_schedule("sigma", sigma)

    def perturb(self, x: Tensor, iteration: int = 0) -> Tensor:
        """``x + sigma·N(0, I)`` with ``sigma`` at generator iteration ``iteration`` (``x`` unchanged when it is 0)."""
        sigma = value_at(self.sigma, iteration)
        if sigma == 0:
            return x
        return x + sigma * randn_like_for_rank(x)  # this rank's slice of one draw for the global batch

    # ---- the training-loop side --------------------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        require_gan_module(
            "INSTANCE_NOISE",
            pl_module,
            "call `InstanceNoise(sigma).perturb(x)` on every D input in your training_step, or train lightning_r1.GAN",
        )

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.sigma = with_run_length(self.sigma, trainer, pl_module, self.name)

    @property
    def state_key(self) -> str:
        return self._generate_state_key(name=self.name)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore (checkpoints written while it was a regularizer hold its unused lazy counter)."""

    def __repr__(self) -> str:
        return f"InstanceNoise(sigma={self.sigma})"

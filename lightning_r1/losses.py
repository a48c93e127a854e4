"""Adversarial losses as small pure functions of discriminator logits.

Each loss is a pair: the discriminator's loss (to minimise over psi) and the generator's loss (to minimise over
theta). Every function returns a scalar: the mean over the batch. ``d_real`` and ``d_fake`` are raw logits of
shape ``[N]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor


class AdversarialLoss(NamedTuple):
    """The two halves of an adversarial objective.

    ``generator_reads_real``: the G half compares with D(real) (relativistic losses), so the G step runs D on the
    real batch too; otherwise ``g_loss`` is called with ``d_real=None`` and no D(real) is computed.
    """

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor, Tensor], Tensor]  # (d_fake, d_real)
    generator_reads_real: bool = False


# Non-saturating loss (Goodfellow et al. 2014, §3): D as in minimax, G maximises log D(G(z)).
def nonsaturating_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    return (F.softplus(-d_real) + F.softplus(d_fake)).mean()


def nonsaturating_g(d_fake: Tensor, d_real: Tensor) -> Tensor:
    return F.softplus(-d_fake).mean()


# Minimax loss, the paper's f(t) = -log(1 + e^-t) (Mescheder et al. 2018, eq. 1):
# L(theta, psi) = f(D(real)) + f(-D(fake)); D maximises L, G minimises it.
def minimax_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    return (F.softplus(-d_real) + F.softplus(d_fake)).mean()


def minimax_g(d_fake: Tensor, d_real: Tensor) -> Tensor:
    return -F.softplus(d_fake).mean()


# Hinge loss (Lim & Ye 2017; Miyato et al. 2018).
def hinge_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    return (F.relu(1.0 - d_real) + F.relu(1.0 + d_fake)).mean()


def hinge_g(d_fake: Tensor, d_real: Tensor) -> Tensor:
    return -d_fake.mean()


# Wasserstein loss (Arjovsky et al. 2017): D is a critic, no saturation.
def wasserstein_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    return (d_fake - d_real).mean()


def wasserstein_g(d_fake: Tensor, d_real: Tensor) -> Tensor:
    return -d_fake.mean()


# Relativistic pairing loss RpGAN (Jolicoeur-Martineau 2019; Huang et al. 2024, R3GAN eq. 2):
# D minimises softplus(D(fake) - D(real)), G minimises softplus(D(real) - D(fake)), paired sample by sample.
def relativistic_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    return F.softplus(d_fake - d_real).mean()


def relativistic_g(d_fake: Tensor, d_real: Tensor) -> Tensor:
    return F.softplus(d_real - d_fake).mean()


LOSSES: dict[str, AdversarialLoss] = {
    "nonsaturating": AdversarialLoss("nonsaturating", nonsaturating_d, nonsaturating_g),
    "minimax": AdversarialLoss("minimax", minimax_d, minimax_g),
    "hinge": AdversarialLoss("hinge", hinge_d, hinge_g),
    "wasserstein": AdversarialLoss("wasserstein", wasserstein_d, wasserstein_g),
    "relativistic": AdversarialLoss(
        "relativistic", relativistic_d, relativistic_g, generator_reads_real=True
    ),
}


def get_loss(name: str) -> AdversarialLoss:
    """Look a loss up by name.

    Raises:
        ValueError: if ``name`` is not one of :data:`LOSSES`.
    """
    if name not in LOSSES:
        raise ValueError(f"Expected `loss` to be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]


def needs_real_for_generator(loss: AdversarialLoss) -> bool:
    """Whether the G step must compute D(real) for this loss (its ``generator_reads_real``)."""
    return loss.generator_reads_real


__all__ = ["AdversarialLoss", "LOSSES", "get_loss", "needs_real_for_generator"]

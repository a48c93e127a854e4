"""Dirac-GAN: the smallest GAN that does not converge without a gradient penalty.

Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018, §2.
The generator is a point mass ``δ_θ``, the data a point mass ``δ_0`` and the discriminator linear,
``D(x) = ψ·x``. Its two scalar parameters make the training dynamics a 2-D vector field that
``lightning_r1``'s theory module analyses exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lightning_r1.checks import check_positive_int
from lightning_r1.models.pair import GANModels, check_finite_float


class DiracGenerator(nn.Module):
    """Point-mass generator ``G(z) = θ`` (ignores ``z``).

    Args:
        theta0: initial value of the scalar parameter ``theta``.
        latent_dim: size of the (ignored) latent; only used for the ``latent_dim`` attribute.
    """

    def __init__(self, theta0: float = 1.0, latent_dim: int = 1) -> None:
        super().__init__()
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.sample_shape: tuple[int, ...] = (1,)
        self.theta = nn.Parameter(torch.tensor(check_finite_float("theta0", theta0)))

    def forward(self, z: Tensor) -> Tensor:
        """Return ``theta`` repeated ``N = z.shape[0]`` times, shape ``[N, 1]``."""
        return self.theta.expand(z.shape[0], 1)


class DiracDiscriminator(nn.Module):
    """Linear discriminator without bias, ``D(x) = ψ·x``.

    No normalization of any kind (BatchNorm would couple samples and break per-sample R1 gradients).

    Args:
        psi0: initial value of the scalar parameter ``psi``.
    """

    def __init__(self, psi0: float = 1.0) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.tensor(check_finite_float("psi0", psi0)))

    def forward(self, x: Tensor) -> Tensor:
        """Return logits ``psi * x[:, 0]``, shape ``[N]``."""
        return self.psi * x[:, 0]


def build_dirac(theta0: float = 1.0, psi0: float = 1.0, latent_dim: int = 1) -> GANModels:
    """Build the Dirac-GAN pair.

    Args:
        theta0: initial generator parameter ``θ``.
        psi0: initial discriminator parameter ``ψ``.
        latent_dim: latent size the generator advertises (its input is ignored).

    Returns:
        ``GANModels(DiracGenerator, DiracDiscriminator)``.

    Raises:
        ValueError: if ``theta0``/``psi0`` are not finite or ``latent_dim`` is not a positive integer.
    """
    return GANModels(DiracGenerator(theta0, latent_dim), DiracDiscriminator(psi0))

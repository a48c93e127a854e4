"""Fully connected generator and discriminator for toy low-dimensional data (2-D mixtures).

The usual toy setup of the mode-collapse literature (e.g. Metz et al. 2017, Unrolled GANs; Lin et al. 2018,
PacGAN): a few ReLU hidden layers in G, LeakyReLU(0.2) in D.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor, nn

from lightning_r1.checks import check_positive_int
from lightning_r1.models.pair import GANModels
from lightning_r1.models.spectral_norm import spectral_norm_option


def _mlp(in_dim: int, hidden: int, layers: int, out_dim: int, act: Callable[[], nn.Module]) -> nn.Sequential:
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods += [nn.Linear(dim, hidden), act()]
        dim = hidden
    mods.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*mods)


class MLPGenerator(nn.Module):
    """``latent_dim → hidden (×layers, ReLU) → data_dim``, linear output.

    Args:
        latent_dim: latent size.
        data_dim: sample size.
        hidden: width of each hidden layer.
        layers: number of hidden layers.
    """

    def __init__(self, latent_dim: int, data_dim: int = 2, hidden: int = 128, layers: int = 3) -> None:
        super().__init__()
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        data_dim = check_positive_int("data_dim", data_dim)
        self.sample_shape: tuple[int, ...] = (data_dim,)
        self.net = _mlp(
            latent_dim,
            check_positive_int("hidden", hidden),
            check_positive_int("layers", layers),
            data_dim,
            nn.ReLU,
        )

    def forward(self, z: Tensor) -> Tensor:
        """Map ``z: [N, latent_dim]`` to samples ``[N, data_dim]``."""
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``data_dim → hidden (×layers, LeakyReLU 0.2) → 1`` logit.

    No BatchNorm/LayerNorm: batch statistics would couple samples and break per-sample R1 gradients.

    Args:
        data_dim: sample size.
        hidden: width of each hidden layer.
        layers: number of hidden layers.
    """

    def __init__(self, data_dim: int = 2, hidden: int = 128, layers: int = 3) -> None:
        super().__init__()
        self.net = _mlp(
            check_positive_int("data_dim", data_dim),
            check_positive_int("hidden", hidden),
            check_positive_int("layers", layers),
            1,
            partial(nn.LeakyReLU, 0.2),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Map ``x: [N, data_dim]`` to logits ``[N]``."""
        return self.net(x).squeeze(-1)


@spectral_norm_option  # model.spectral_norm=true: spectral norm on D (Miyato et al. 2018)
def build_mlp(
    latent_dim: int,
    data_dim: int = 2,
    hidden: int = 128,
    layers: int = 3,
    num_classes: int | None = None,
    d_hidden: int | None = None,
) -> GANModels:
    """Build an MLP generator/discriminator pair.

    Args:
        latent_dim: latent size.
        data_dim: sample size (2 for the toy mixtures).
        hidden: hidden width of G, and of D unless ``d_hidden`` is given.
        layers: hidden layers in both networks.
        num_classes: the conditional pair ``G(z, y)``, ``D(x, y)`` of :mod:`lightning_r1.models.conditional`
            (a label embedding concatenated to z, a projection D); None: the unconditional pair.
        d_hidden: D's hidden width when it differs from G's (None: ``hidden``).

    Returns:
        ``GANModels(MLPGenerator, MLPDiscriminator)`` (their conditional forms with ``num_classes``).

    Raises:
        ValueError: if any argument is not a positive integer (``num_classes``, ``d_hidden``: or None).
    """
    d_hidden = hidden if d_hidden is None else check_positive_int("d_hidden", d_hidden)
    if num_classes is not None:
        from lightning_r1.models import conditional as c  # imports this module: only when asked for

        return GANModels(
            c.ConditionalMLPGenerator(latent_dim, data_dim, hidden, layers, num_classes),
            c.ConditionalMLPDiscriminator(data_dim, d_hidden, layers, num_classes),
        )
    return GANModels(
        MLPGenerator(latent_dim, data_dim, hidden, layers), MLPDiscriminator(data_dim, d_hidden, layers)
    )

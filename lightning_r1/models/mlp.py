"""Fully connected generator and discriminator for toy low-dimensional data (2-D mixtures).

The usual toy setup of the mode-collapse literature (e.g. Metz et al. 2017, Unrolled GANs; Lin et al. 2018,
PacGAN): a few ReLU hidden layers in G, LeakyReLU(0.2) in D. Class-conditional with ``num_classes``
(docs/conditional.md): G takes ``[z, embed(y)]`` (Mirza & Osindero 2014), D adds the projection ``<embed(y), h>`` on
its last hidden layer (Miyato & Koyama 2018, eq. 3).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor, nn

from lightning_r1.checks import check_positive_int
from lightning_r1.models.conditional_layers import LabelEmbedding, Projection
from lightning_r1.models.pair import GANModels, gan_models


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
        num_classes: class-conditional when set: ``forward(z, y)`` feeds ``[z, embed(y)]`` (``latent_dim`` entries
            each) to the first layer.
    """

    def __init__(
        self,
        latent_dim: int,
        data_dim: int = 2,
        hidden: int = 128,
        layers: int = 3,
        num_classes: int | None = None,
    ) -> None:
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
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)
        self.label: LabelEmbedding | None = None
        if self.num_classes is not None:  # after the unconditional layers: the random draws keep their order
            self.label = LabelEmbedding(self.num_classes, latent_dim)
            self.net[0] = nn.Linear(2 * latent_dim, self.net[0].out_features)  # takes [z, embed(y)]

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Map ``z: [N, latent_dim]`` (and labels ``y: [N]`` when conditional) to samples ``[N, data_dim]``."""
        return self.net(z if self.label is None else self.label(z, y))


class MLPDiscriminator(nn.Module):
    """``data_dim → hidden (×layers, LeakyReLU 0.2) → 1`` logit.

    No BatchNorm/LayerNorm: batch statistics would couple samples and break per-sample R1 gradients.

    Args:
        data_dim: sample size.
        hidden: width of each hidden layer.
        layers: number of hidden layers.
        num_classes: class-conditional when set: ``forward(x, y)`` adds the projection ``<embed(y), h>`` on the
            last hidden layer ``h`` to the logit.
    """

    def __init__(
        self, data_dim: int = 2, hidden: int = 128, layers: int = 3, num_classes: int | None = None
    ) -> None:
        super().__init__()
        self.net = _mlp(
            check_positive_int("data_dim", data_dim),
            check_positive_int("hidden", hidden),
            check_positive_int("layers", layers),
            1,
            partial(nn.LeakyReLU, 0.2),
        )
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)
        self.projection = (
            None if self.num_classes is None else Projection(self.num_classes, self.net[-1].in_features)
        )

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Map ``x: [N, data_dim]`` (and labels ``y: [N]`` when conditional) to logits ``[N]``."""
        if self.projection is None:
            return self.net(x).squeeze(-1)
        h = self.net[:-1](x)  # the last hidden layer
        return self.net[-1](h).squeeze(-1) + self.projection(h, y)


def build_mlp(
    latent_dim: int,
    data_dim: int = 2,
    hidden: int = 128,
    layers: int = 3,
    num_classes: int | None = None,
    d_hidden: int | None = None,
    spectral_norm: bool = False,
) -> GANModels:
    """Build an MLP generator/discriminator pair.

    Args:
        latent_dim: latent size.
        data_dim: sample size (2 for the toy mixtures).
        hidden: hidden width of G, and of D unless ``d_hidden`` is given.
        layers: hidden layers in both networks.
        num_classes: the conditional pair ``G(z, y)``, ``D(x, y)`` (a label embedding concatenated to z, a
            projection D); None: the unconditional pair.
        d_hidden: D's hidden width when it differs from G's (None: ``hidden``).
        spectral_norm: spectral normalization of every D weight (Miyato et al. 2018; ``model.spectral_norm``).

    Returns:
        ``GANModels(MLPGenerator, MLPDiscriminator)``.

    Raises:
        ValueError: if any argument is not a positive integer (``num_classes``, ``d_hidden``: or None), or
            ``spectral_norm`` is not a boolean.
    """
    d_hidden = hidden if d_hidden is None else check_positive_int("d_hidden", d_hidden)
    return gan_models(
        MLPGenerator(latent_dim, data_dim, hidden, layers, num_classes),
        MLPDiscriminator(data_dim, d_hidden, layers, num_classes),
        spectral_norm,
    )

"""Layers that feed a class label to a generator or a discriminator; each family's file uses them where its
``num_classes`` is set (dcgan.py, resnet.py, mlp.py).

- :class:`ConditionalBatchNorm2d`: BatchNorm whose scale and shift are looked up per class (de Vries et al. 2017,
  "Modulating early visual processing by language"; the generator of Miyato & Koyama 2018).
- :class:`LabelEmbedding`: a learned embedding concatenated to the latent z (Mirza & Osindero 2014, "Conditional
  Generative Adversarial Nets"), for generators without BatchNorm.
- :class:`Projection`: the projection discriminator's label term ``<embed(y), h>`` (Miyato & Koyama 2018, "cGANs
  with Projection Discriminator", eq. 3: ``D(x, y) = lin(h) + <embed(y), h>``, ``h`` = D's last features). It holds
  no batch statistics: ``D(x_i, y_i)`` depends on sample i only, so R1/R2 stay per-sample penalties.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lightning_r1.checks import check_positive_int


class ConditionalBatchNorm2d(nn.Module):
    """``BN(x) · scale[y] + shift[y]``: batch statistics without an affine part, then a per-class affine.

    Args:
        channels: feature channels.
        num_classes: number of classes.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.scale = nn.Embedding(check_positive_int("num_classes", num_classes), channels)
        self.shift = nn.Embedding(num_classes, channels)
        nn.init.normal_(self.scale.weight, 1.0, 0.02)  # DCGAN's BatchNorm initialisation, per class
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Normalise ``x [N, C, H, W]`` and apply the affine of each sample's class ``y [N]``."""
        return self.norm(x) * self.scale(y)[:, :, None, None] + self.shift(y)[:, :, None, None]


class LabelEmbedding(nn.Module):
    """``[z, embed(y)]``: the latent with a learned class embedding appended.

    Args:
        num_classes: number of classes.
        dim: embedding size (the generator's first layer takes ``latent_dim + dim`` inputs).
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(
            check_positive_int("num_classes", num_classes), check_positive_int("dim", dim)
        )
        self.dim = dim

    def forward(self, z: Tensor, y: Tensor | None) -> Tensor:
        """``z [N, latent_dim]`` and labels ``y [N]`` → ``[N, latent_dim + dim]``."""
        if y is None:
            raise ValueError(
                "a class-conditional generator (num_classes set) needs the labels: call it as G(z, y)"
            )
        return torch.cat([z.flatten(1), self.embed(y).to(z.dtype)], dim=1)


class Projection(nn.Module):
    """The class term of a projection discriminator, ``<embed(y), h>`` per sample.

    Args:
        num_classes: number of classes.
        features: size of the feature vector ``h`` it is projected on.
    """

    def __init__(self, num_classes: int, features: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(check_positive_int("num_classes", num_classes), features)
        nn.init.xavier_uniform_(self.embed.weight)  # as the authors' code (sngan_projection) initialises it

    def forward(self, h: Tensor, y: Tensor | None) -> Tensor:
        """``h [N, *]`` (flattened to ``[N, features]``) and labels ``y [N]`` → ``[N]``."""
        if y is None:
            raise ValueError(
                "a class-conditional discriminator (num_classes set) needs the labels: call it as D(x, y)"
            )
        return (self.embed(y) * h.flatten(1)).sum(dim=1)

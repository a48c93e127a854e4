"""Class-conditional forms of the DCGAN, ResNet and MLP pairs: ``G(z, y)`` and ``D(x, y)``.

Each subclasses the unconditional network, so it keeps its architecture, initialisation and ``sample_shape``, and
adds the label path of :mod:`lightning_r1.models.conditional_layers`:

- generators: a class embedding concatenated to z (Mirza & Osindero 2014; GAN_stability's conditional ResNet), and
  where the network has BatchNorm (DCGAN) conditional BatchNorm too (Miyato & Koyama 2018). The embedding gives
  each class a distinct input from the first step; the per-class BatchNorm affine starts at (1, 0) and, moved by
  Adam at about lr per step, conditioned nothing in our first 250 MNIST iterations on its own (docs/conditional.md);
- discriminators: the projection discriminator ``D(x, y) = lin(h) + <embed(y), h>`` (Miyato & Koyama 2018, eq. 3),
  with ``lin`` the network's own output layer and ``h`` the features it reads; no batch statistics.

The builders (``build_dcgan``, ``build_resnet``, ``build_mlp``) return these when given ``num_classes``.
"""

from __future__ import annotations

from torch import Tensor, nn

from lightning_r1.models.conditional_layers import ConditionalBatchNorm2d, LabelEmbedding, Projection
from lightning_r1.models.dcgan import DCGANDiscriminator, DCGANGenerator
from lightning_r1.models.mlp import MLPDiscriminator, MLPGenerator
from lightning_r1.models.resnet import ResNetDiscriminator, ResNetGenerator, _actvn


class ConditionalDCGANGenerator(DCGANGenerator):
    """:class:`DCGANGenerator` fed ``[z, embed(y)]`` (``latent_dim`` entries each) with every BatchNorm made
    class-conditional (per-class scale N(1, 0.02), shift 0).

    Args:
        latent_dim, resolution, channels, width: as :class:`DCGANGenerator`.
        num_classes: number of classes.
    """

    def __init__(
        self, latent_dim: int, resolution: int = 32, channels: int = 3, width: int = 64, num_classes: int = 10
    ) -> None:
        super().__init__(latent_dim, resolution, channels, width)
        self.num_classes = num_classes
        self.label = LabelEmbedding(num_classes, latent_dim)
        first = self.net[0]
        self.net[0] = nn.ConvTranspose2d(2 * latent_dim, first.out_channels, 4, 1, 0, bias=False)
        nn.init.normal_(self.net[0].weight, 0.0, 0.02)  # DCGAN's initialisation, as the layer it replaces
        for i, layer in enumerate(self.net):
            if isinstance(layer, nn.BatchNorm2d):
                self.net[i] = ConditionalBatchNorm2d(layer.num_features, num_classes)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """Map ``z [N, latent_dim]`` and labels ``y [N]`` to images in ``[-1, 1]``."""
        h = self.label(z, y).view(z.shape[0], -1, 1, 1)
        for layer in self.net:
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class ConditionalDCGANDiscriminator(DCGANDiscriminator):
    """:class:`DCGANDiscriminator` with a projection on its last 4×4 feature map.

    Args:
        resolution, channels, width: as :class:`DCGANDiscriminator`.
        num_classes: number of classes.
    """

    def __init__(
        self, resolution: int = 32, channels: int = 3, width: int = 64, num_classes: int = 10
    ) -> None:
        super().__init__(resolution, channels, width)
        self.num_classes = num_classes
        self.projection = Projection(num_classes, self.net[-1].in_channels * 4 * 4)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """Images ``[N, C, H, W]`` and labels ``y [N]`` → logits ``[N]``."""
        h = self.net[:-1](x)
        return self.net[-1](h).view(x.shape[0]) + self.projection(h, y)


class ConditionalResNetGenerator(ResNetGenerator):
    """:class:`ResNetGenerator` fed ``[z, embed(y)]`` (the embedding has ``latent_dim`` entries).

    Args:
        latent_dim, resolution, channels, width, nf_max: as :class:`ResNetGenerator`.
        num_classes: number of classes.
    """

    def __init__(
        self,
        latent_dim: int,
        resolution: int = 32,
        channels: int = 3,
        width: int = 64,
        nf_max: int = 512,
        num_classes: int = 10,
    ) -> None:
        super().__init__(latent_dim, resolution, channels, width, nf_max)
        self.num_classes = num_classes
        self.label = LabelEmbedding(num_classes, latent_dim)
        self.fc = nn.Linear(latent_dim + latent_dim, self.fc.out_features)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """Map ``z [N, latent_dim]`` and labels ``y [N]`` to images in ``[-1, 1]``."""
        return super().forward(self.label(z, y))


class ConditionalResNetDiscriminator(ResNetDiscriminator):
    """:class:`ResNetDiscriminator` with a projection on its flattened last features.

    Args:
        resolution, channels, width, nf_max: as :class:`ResNetDiscriminator`.
        num_classes: number of classes.
    """

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        width: int = 64,
        nf_max: int = 512,
        num_classes: int = 10,
    ) -> None:
        super().__init__(resolution, channels, width, nf_max)
        self.num_classes = num_classes
        self.projection = Projection(num_classes, self.fc.in_features)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """Images ``[N, C, H, W]`` and labels ``y [N]`` → logits ``[N]``."""
        h = _actvn(self.resnet(self.conv_img(x)).flatten(1))
        return self.fc(h).view(x.shape[0]) + self.projection(h, y)


class ConditionalMLPGenerator(MLPGenerator):
    """:class:`MLPGenerator` fed ``[z, embed(y)]`` (the embedding has ``latent_dim`` entries).

    Args:
        latent_dim, data_dim, hidden, layers: as :class:`MLPGenerator`.
        num_classes: number of classes.
    """

    def __init__(
        self, latent_dim: int, data_dim: int = 2, hidden: int = 128, layers: int = 3, num_classes: int = 10
    ) -> None:
        super().__init__(latent_dim, data_dim, hidden, layers)
        self.num_classes = num_classes
        self.label = LabelEmbedding(num_classes, latent_dim)
        self.net[0] = nn.Linear(latent_dim + latent_dim, self.net[0].out_features)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """Map ``z [N, latent_dim]`` and labels ``y [N]`` to samples ``[N, data_dim]``."""
        return super().forward(self.label(z, y))


class ConditionalMLPDiscriminator(MLPDiscriminator):
    """:class:`MLPDiscriminator` with a projection on its last hidden layer.

    Args:
        data_dim, hidden, layers: as :class:`MLPDiscriminator`.
        num_classes: number of classes.
    """

    def __init__(self, data_dim: int = 2, hidden: int = 128, layers: int = 3, num_classes: int = 10) -> None:
        super().__init__(data_dim, hidden, layers)
        self.num_classes = num_classes
        self.projection = Projection(num_classes, self.net[-1].in_features)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """Samples ``[N, data_dim]`` and labels ``y [N]`` → logits ``[N]``."""
        h = self.net[:-1](x)
        return self.net[-1](h).squeeze(-1) + self.projection(h, y)

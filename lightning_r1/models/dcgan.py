"""DCGAN generator and discriminator for 32×32 and 64×64 images.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
Networks", ICLR 2016. The generator follows the paper (transposed convolutions, BatchNorm, ReLU, tanh output,
N(0, 0.02) initialisation). The discriminator keeps the strided convolutions and LeakyReLU(0.2) but drops
BatchNorm, as gradient-penalty work does (Gulrajani et al. 2017; Mescheder et al. 2018): batch statistics
couple the samples of a batch, so ``dD(x_i)/dx_i`` would not be a per-sample gradient and R1 would be wrong.

Without BatchNorm the discriminator keeps PyTorch's default (Kaiming-uniform) initialisation rather than the
paper's N(0, 0.02): on MNIST-5k at width 32 with R1 (gamma=10, Adam 2e-4, betas 0.5/0.999) the N(0, 0.02)
discriminator let the generator collapse to one mode for its first ~1000 iterations, while the default one gave
varied digit-like samples by iteration 750-1000.

Class-conditional with ``num_classes`` (docs/conditional.md): G takes ``[z, embed(y)]`` and every BatchNorm becomes
conditional BatchNorm (Miyato & Koyama 2018); D adds the projection ``<embed(y), h>`` on its last 4×4 feature map
(Miyato & Koyama 2018, eq. 3). The embedding gives each class a distinct input from the first step; the per-class
BatchNorm affine starts at (1, 0) and, moved by Adam at about lr per step, conditioned nothing in our first 250 MNIST
iterations on its own.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from lightning_r1.checks import check_positive_int
from lightning_r1.models.conditional_layers import ConditionalBatchNorm2d, LabelEmbedding, Projection
from lightning_r1.models.pair import GANModels, check_resolution, gan_models

SUPPORTED_RESOLUTIONS: tuple[int, ...] = (32, 64)


def _init_dcgan_(module: nn.Module) -> None:
    """DCGAN initialisation (used for the generator): conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """``z → 4×4 → … → resolution`` with ConvTranspose(4, stride 2) + BatchNorm + ReLU, tanh output.

    Channels halve at each upsampling, from ``width · resolution/8`` at 4×4 down to ``width`` before the
    last layer (e.g. 128→64→32→channels at width 32, resolution 32).

    Args:
        latent_dim: latent size.
        resolution: output side length, 32 or 64.
        channels: image channels.
        width: base channel count.
        num_classes: class-conditional when set: ``forward(z, y)``, ``[z, embed(y)]`` (``latent_dim`` entries each)
            into the first layer and every BatchNorm class-conditional (per-class scale N(1, 0.02), shift 0).
    """

    def __init__(
        self,
        latent_dim: int,
        resolution: int = 32,
        channels: int = 3,
        width: int = 64,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        resolution = check_resolution(resolution, SUPPORTED_RESOLUTIONS)
        channels = check_positive_int("channels", channels)
        width = check_positive_int("width", width)
        self.sample_shape: tuple[int, ...] = (channels, resolution, resolution)

        n_up = int(math.log2(resolution // 4))  # 3 for 32, 4 for 64
        ch = first = width * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, ch, 4, 1, 0, bias=False),  # 1×1 → 4×4
            nn.BatchNorm2d(ch),
            nn.ReLU(inplace=True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _init_dcgan_(self)
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)
        self.label: LabelEmbedding | None = None
        if self.num_classes is not None:  # after the unconditional layers: the random draws keep their order
            self.label = LabelEmbedding(self.num_classes, latent_dim)
            # the first layer takes [z, embed(y)]
            self.net[0] = nn.ConvTranspose2d(2 * latent_dim, first, 4, 1, 0, bias=False)
            nn.init.normal_(self.net[0].weight, 0.0, 0.02)
            for i, layer in enumerate(self.net):
                if isinstance(layer, nn.BatchNorm2d):
                    self.net[i] = ConditionalBatchNorm2d(layer.num_features, self.num_classes)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Map ``z: [N, latent_dim]`` (and labels ``y: [N]`` when conditional) to images
        ``[N, channels, resolution, resolution]`` in ``[-1, 1]``."""
        h = (z if self.label is None else self.label(z, y)).view(z.shape[0], -1, 1, 1)
        for layer in self.net:
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class DCGANDiscriminator(nn.Module):
    """``resolution → … → 4×4`` with Conv(4, stride 2) + LeakyReLU(0.2), then a 4×4 conv to one logit.

    No normalization layers (BatchNorm would break per-sample input gradients for R1/R2/WGAN-GP).

    Args:
        resolution: input side length, 32 or 64.
        channels: image channels.
        width: channels after the first convolution; doubled at each downsampling.
        num_classes: class-conditional when set: ``forward(x, y)`` adds the projection ``<embed(y), h>`` on the
            last 4×4 feature map ``h`` to the logit.
    """

    def __init__(
        self, resolution: int = 32, channels: int = 3, width: int = 64, num_classes: int | None = None
    ) -> None:
        super().__init__()
        resolution = check_resolution(resolution, SUPPORTED_RESOLUTIONS)
        channels = check_positive_int("channels", channels)
        ch = check_positive_int("width", width)
        n_down = int(math.log2(resolution // 4))
        layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1), nn.LeakyReLU(0.2)]
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.LeakyReLU(0.2)]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0))  # 4×4 → 1×1 logit
        self.net = nn.Sequential(*layers)  # PyTorch default init on purpose; see the module docstring
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)
        self.projection = None if self.num_classes is None else Projection(self.num_classes, ch * 4 * 4)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Map images ``[N, channels, resolution, resolution]`` (and labels ``y: [N]`` when conditional) to logits
        ``[N]``."""
        if self.projection is None:
            return self.net(x).view(x.shape[0])
        h = self.net[:-1](x)  # the last 4×4 feature map
        return self.net[-1](h).view(x.shape[0]) + self.projection(h, y)


def build_dcgan(
    latent_dim: int,
    resolution: int = 32,
    channels: int = 3,
    width: int = 64,
    num_classes: int | None = None,
    d_width: int | None = None,
    spectral_norm: bool = False,
) -> GANModels:
    """Build a DCGAN pair.

    Args:
        latent_dim: latent size.
        resolution: image side length, one of ``SUPPORTED_RESOLUTIONS`` (32, 64).
        channels: image channels.
        width: base channel count of both networks (64 as in the paper; 32 trains MNIST on a CPU).
        num_classes: the conditional pair ``G(z, y)``, ``D(x, y)`` (an embedding and conditional BatchNorm in G,
            a projection D); None: the unconditional pair.
        d_width: D's base channel count when it differs from G's (None: ``width``). D's parameters grow about with
            its width squared, and at one width D has fewer than G, so PacGAN Table 3's "D a quarter of G's size"
            is not ``width / 2``: at width 32 (32×32 RGB, latent 64) ``d_width=21`` gives D 0.246× G's parameters,
            ``d_width=16`` only 0.144× (``tests/models/test_models.py``).
        spectral_norm: spectral normalization of every D weight (Miyato et al. 2018; ``model.spectral_norm``).

    Returns:
        ``GANModels(DCGANGenerator, DCGANDiscriminator)``.

    Raises:
        ValueError: for an unsupported ``resolution``, a non-positive ``latent_dim``/``channels``/``width``/
            ``d_width``/``num_classes``, or a ``spectral_norm`` that is not a boolean.
    """
    d_width = width if d_width is None else check_positive_int("d_width", d_width)
    return gan_models(
        DCGANGenerator(latent_dim, resolution, channels, width, num_classes),
        DCGANDiscriminator(resolution, channels, d_width, num_classes),
        spectral_norm,
    )

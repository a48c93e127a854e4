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
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from lightning_r1.checks import check_positive_int
from lightning_r1.models.pair import GANModels, check_resolution
from lightning_r1.models.spectral_norm import spectral_norm_option

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
    """

    def __init__(self, latent_dim: int, resolution: int = 32, channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        resolution = check_resolution(resolution, SUPPORTED_RESOLUTIONS)
        channels = check_positive_int("channels", channels)
        width = check_positive_int("width", width)
        self.sample_shape: tuple[int, ...] = (channels, resolution, resolution)

        n_up = int(math.log2(resolution // 4))  # 3 for 32, 4 for 64
        ch = width * 2 ** (n_up - 1)
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

    def forward(self, z: Tensor) -> Tensor:
        """Map ``z: [N, latent_dim]`` to images ``[N, channels, resolution, resolution]`` in ``[-1, 1]``."""
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """``resolution → … → 4×4`` with Conv(4, stride 2) + LeakyReLU(0.2), then a 4×4 conv to one logit.

    No normalization layers (BatchNorm would break per-sample input gradients for R1/R2/WGAN-GP).

    Args:
        resolution: input side length, 32 or 64.
        channels: image channels.
        width: channels after the first convolution; doubled at each downsampling.
    """

    def __init__(self, resolution: int = 32, channels: int = 3, width: int = 64) -> None:
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

    def forward(self, x: Tensor) -> Tensor:
        """Map images ``[N, channels, resolution, resolution]`` to logits ``[N]``."""
        return self.net(x).view(x.shape[0])


@spectral_norm_option  # model.spectral_norm=true: spectral norm on D (Miyato et al. 2018)
def build_dcgan(
    latent_dim: int,
    resolution: int = 32,
    channels: int = 3,
    width: int = 64,
    num_classes: int | None = None,
    d_width: int | None = None,
) -> GANModels:
    """Build a DCGAN pair.

    Args:
        latent_dim: latent size.
        resolution: image side length, one of ``SUPPORTED_RESOLUTIONS`` (32, 64).
        channels: image channels.
        width: base channel count of both networks (64 as in the paper; 32 trains MNIST on a CPU).
        num_classes: the conditional pair ``G(z, y)``, ``D(x, y)`` of :mod:`lightning_r1.models.conditional`
            (conditional BatchNorm in G, a projection D); None: the unconditional pair.
        d_width: D's base channel count when it differs from G's (None: ``width``). D's parameters grow about with
            its width squared, and at one width D has fewer than G, so PacGAN Table 3's "D a quarter of G's size"
            is not ``width / 2``: at width 32 (32×32 RGB, latent 64) ``d_width=21`` gives D 0.246× G's parameters,
            ``d_width=16`` only 0.144× (``tests/models/test_models.py``).

    Returns:
        ``GANModels(DCGANGenerator, DCGANDiscriminator)`` (their conditional forms with ``num_classes``).

    Raises:
        ValueError: for an unsupported ``resolution`` or a non-positive ``latent_dim``/``channels``/``width``/
            ``d_width``.
    """
    d_width = width if d_width is None else check_positive_int("d_width", d_width)
    if num_classes is not None:
        from lightning_r1.models import conditional as c  # imports this module: only when asked for

        return GANModels(
            c.ConditionalDCGANGenerator(latent_dim, resolution, channels, width, num_classes),
            c.ConditionalDCGANDiscriminator(resolution, channels, d_width, num_classes),
        )
    return GANModels(
        DCGANGenerator(latent_dim, resolution, channels, width),
        DCGANDiscriminator(resolution, channels, d_width),
    )

"""ResNet generator and discriminator in the style of GAN_stability.

Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018
(code: github.com/LMescheder/GAN_stability, ``gan_training/models/resnet.py``). No normalization anywhere,
LeakyReLU(0.2) pre-activations, residual branches scaled by 0.1, a learned 1×1 shortcut (no bias) where the
channel count changes, nearest-neighbour upsampling in G and 3×3/stride-2 average pooling in D.
Class-conditional with ``num_classes`` (docs/conditional.md): G takes ``[z, embed(y)]`` (GAN_stability's conditional
generator), D adds the projection ``<embed(y), h>`` on its flattened last features (Miyato & Koyama 2018, eq. 3).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from lightning_r1.checks import check_positive_int
from lightning_r1.models.conditional_layers import LabelEmbedding, Projection
from lightning_r1.models.pair import GANModels, check_resolution, gan_models

_S0 = 4  # spatial size of the fully connected layer's feature map


def _actvn(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class ResnetBlock(nn.Module):
    """Pre-activation residual block ``x_s + 0.1 · conv(actvn(conv(actvn(x))))``.

    Args:
        fin: input channels.
        fout: output channels; a learned 1×1 shortcut is used when ``fin != fout``.
        fhidden: hidden channels (default ``min(fin, fout)``).
    """

    def __init__(self, fin: int, fout: int, fhidden: int | None = None) -> None:
        super().__init__()
        fhidden = min(fin, fout) if fhidden is None else fhidden
        self.conv_0 = nn.Conv2d(fin, fhidden, 3, padding=1)
        self.conv_1 = nn.Conv2d(fhidden, fout, 3, padding=1)
        self.conv_s = nn.Conv2d(fin, fout, 1, bias=False) if fin != fout else None

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block; spatial size is unchanged."""
        x_s = x if self.conv_s is None else self.conv_s(x)
        dx = self.conv_1(_actvn(self.conv_0(_actvn(x))))
        return x_s + 0.1 * dx


def _level_channels(width: int, level: int, nf_max: int) -> int:
    return min(width * 2**level, nf_max)


class ResNetGenerator(nn.Module):
    """``z → fc → 4×4 → [ResnetBlock, upsample]×log2(res/4) → ResnetBlock → conv3×3 → tanh``.

    Channels go from ``min(width · res/4, nf_max)`` at 4×4 down to ``width`` at full resolution.

    Args:
        latent_dim: latent size.
        resolution: output side length, a power of two ``>= 16``.
        channels: image channels.
        width: channels at full resolution (``nf`` in GAN_stability).
        nf_max: channel cap (``nf_max`` in GAN_stability).
        num_classes: class-conditional when set: ``forward(z, y)`` feeds ``[z, embed(y)]`` (``latent_dim`` entries
            each) to the fully connected layer.
    """

    def __init__(
        self,
        latent_dim: int,
        resolution: int = 32,
        channels: int = 3,
        width: int = 64,
        nf_max: int = 512,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        resolution = check_resolution(resolution)
        channels = check_positive_int("channels", channels)
        width = check_positive_int("width", width)
        nf_max = check_positive_int("nf_max", nf_max)
        self.sample_shape: tuple[int, ...] = (channels, resolution, resolution)

        n_layers = int(math.log2(resolution // _S0))
        self.nf0 = _level_channels(width, n_layers, nf_max)
        self.fc = nn.Linear(latent_dim, self.nf0 * _S0 * _S0)
        blocks: list[nn.Module] = []
        for i in range(n_layers):
            fin = _level_channels(width, n_layers - i, nf_max)
            fout = _level_channels(width, n_layers - i - 1, nf_max)
            blocks += [ResnetBlock(fin, fout), nn.Upsample(scale_factor=2)]
        nf_top = _level_channels(width, 0, nf_max)
        blocks.append(ResnetBlock(nf_top, nf_top))
        self.resnet = nn.Sequential(*blocks)
        self.conv_img = nn.Conv2d(nf_top, channels, 3, padding=1)
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)
        self.label: LabelEmbedding | None = None
        if self.num_classes is not None:  # after the unconditional layers: the random draws keep their order
            self.label = LabelEmbedding(self.num_classes, latent_dim)
            self.fc = nn.Linear(2 * latent_dim, self.fc.out_features)  # takes [z, embed(y)]

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Map ``z: [N, latent_dim]`` (and labels ``y: [N]`` when conditional) to images
        ``[N, channels, resolution, resolution]`` in ``[-1, 1]``."""
        out = self.fc(z if self.label is None else self.label(z, y)).view(z.shape[0], self.nf0, _S0, _S0)
        out = self.resnet(out)
        return self.conv_img(_actvn(out)).tanh()


class ResNetDiscriminator(nn.Module):
    """``conv3×3 → ResnetBlock → [avgpool, ResnetBlock]×log2(res/4) → fc`` to one logit.

    No normalization layers (BatchNorm would break per-sample input gradients for R1/R2/WGAN-GP).

    Args:
        resolution: input side length, a power of two ``>= 16``.
        channels: image channels.
        width: channels at full resolution; doubled at each downsampling up to ``nf_max``.
        nf_max: channel cap.
        num_classes: class-conditional when set: ``forward(x, y)`` adds the projection ``<embed(y), h>`` on the
            flattened last features ``h`` to the logit.
    """

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        width: int = 64,
        nf_max: int = 512,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        resolution = check_resolution(resolution)
        channels = check_positive_int("channels", channels)
        width = check_positive_int("width", width)
        nf_max = check_positive_int("nf_max", nf_max)

        n_layers = int(math.log2(resolution // _S0))
        self.nf0 = _level_channels(width, n_layers, nf_max)
        nf_top = _level_channels(width, 0, nf_max)
        self.conv_img = nn.Conv2d(channels, nf_top, 3, padding=1)
        blocks: list[nn.Module] = [ResnetBlock(nf_top, nf_top)]
        for i in range(n_layers):
            fin = _level_channels(width, i, nf_max)
            fout = _level_channels(width, i + 1, nf_max)
            blocks += [nn.AvgPool2d(3, stride=2, padding=1), ResnetBlock(fin, fout)]
        self.resnet = nn.Sequential(*blocks)
        self.fc = nn.Linear(self.nf0 * _S0 * _S0, 1)
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)
        self.projection = (
            None if self.num_classes is None else Projection(self.num_classes, self.fc.in_features)
        )

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Map images ``[N, channels, resolution, resolution]`` (and labels ``y: [N]`` when conditional) to logits
        ``[N]``."""
        h = _actvn(self.resnet(self.conv_img(x)).flatten(1))
        logit = self.fc(h).view(x.shape[0])
        return logit if self.projection is None else logit + self.projection(h, y)


def build_resnet(
    latent_dim: int,
    resolution: int = 32,
    channels: int = 3,
    width: int = 64,
    nf_max: int = 512,
    num_classes: int | None = None,
    spectral_norm: bool = False,
) -> GANModels:
    """Build a GAN_stability-style ResNet pair.

    Args:
        latent_dim: latent size.
        resolution: image side length, any power of two ``>= 16``.
        channels: image channels.
        width: channels at full resolution in both networks (``nf``).
        nf_max: channel cap in both networks.
        num_classes: the conditional pair ``G(z, y)``, ``D(x, y)`` (a label embedding concatenated to z, a
            projection D); None: the unconditional pair.
        spectral_norm: spectral normalization of every D weight (Miyato et al. 2018; ``model.spectral_norm``).

    Returns:
        ``GANModels(ResNetGenerator, ResNetDiscriminator)``.

    Raises:
        ValueError: for a bad ``resolution``, a non-positive ``latent_dim``/``channels``/``width``/``nf_max``/
            ``num_classes``, or a ``spectral_norm`` that is not a boolean.
    """
    return gan_models(
        ResNetGenerator(latent_dim, resolution, channels, width, nf_max, num_classes),
        ResNetDiscriminator(resolution, channels, width, nf_max, num_classes),
        spectral_norm,
    )

"""The R3GAN backbone: ConvNeXt-style residual generator and discriminator without normalization.

Huang, Gokaslan, Kuleshov & Tompkin, "The GAN is dead; long live the GAN! A Modern GAN Baseline", NeurIPS 2024,
§3 ("a roadmap to a new baseline", configs B–E) and Fig. 4, written here from the paper's description in plain
PyTorch (no custom CUDA ops):

- every stage is a few residual blocks ``x + reduce(act(grouped(act(expand(x)))))``: a 1×1 convolution widening
  the channels ``expansion`` times (inverted bottleneck), a grouped 3×3 convolution with ``cardinality`` groups,
  a 1×1 convolution back; leaky ReLU (0.2); no normalization anywhere (per-sample penalties need none);
- fix-up initialisation (Zhang et al. 2019): the last convolution of each residual branch starts at zero, the
  others at He's scale times ``L^(-1/4)`` for ``L`` blocks in the network (m = 3 layers per branch: L^(-1/(2m-2))),
  so every block starts as the identity and the network's output variance does not grow with depth;
- stages change resolution by bilinear resampling, and width by a 1×1 convolution: G upsamples after the
  convolution, D downsamples before it;
- G starts from a learned 4×4 basis scaled channel-wise by a linear map of z (the "generative basis"); D ends with
  a depthwise 4×4 convolution to a vector (the "discriminative basis") and a linear layer to the logit.

Departures from the paper: G ends with ``tanh`` like every image generator here (data in [-1, 1]); there is no
mixed precision by stage. Class-conditional (``num_classes``): G concatenates a learned class embedding to z, D's
logit is the projection ``⟨φ(x), embed(y)⟩`` (Miyato & Koyama 2018), both as R3GAN's code (brownvc/R3GAN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_r1.checks import check_positive_int
from lightning_r1.models.pair import GANModels, check_resolution, gan_models

_SLOPE = 0.2  # leaky ReLU


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, _SLOPE)


def _he_init(layer: nn.Conv2d | nn.Linear, leaky: bool = False, scale: float = 1.0) -> None:
    """He (MSR) normal initialisation times ``scale``, bias zero."""
    if leaky:
        nn.init.kaiming_normal_(layer.weight, a=_SLOPE, nonlinearity="leaky_relu")
    else:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="linear")
    with torch.no_grad():
        layer.weight.mul_(scale)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class InvertedBottleneck(nn.Module):
    """One residual block ``x + reduce(act(grouped(act(expand(x)))))`` (R3GAN §3, config E).

    Args:
        channels: input and output channels.
        cardinality: groups of the 3×3 convolution; must divide ``channels · expansion``.
        expansion: hidden channels per input channel.
        total_blocks: residual blocks in the whole network (``L`` of the fix-up scale ``L^(-1/4)``).
    """

    def __init__(self, channels: int, cardinality: int, expansion: int, total_blocks: int) -> None:
        super().__init__()
        hidden = channels * expansion
        self.expand = nn.Conv2d(channels, hidden, 1)
        self.grouped = nn.Conv2d(hidden, hidden, 3, padding=1, groups=cardinality)
        self.reduce = nn.Conv2d(hidden, channels, 1, bias=False)
        fixup = total_blocks ** (-1.0 / 4.0)  # L^(-1/(2m-2)) with m = 3 layers in the branch
        _he_init(self.expand, leaky=True, scale=fixup)
        _he_init(self.grouped, leaky=True, scale=fixup)
        nn.init.zeros_(self.reduce.weight)  # the branch starts at zero: the block starts as the identity

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block; shape unchanged."""
        return x + self.reduce(_act(self.grouped(_act(self.expand(x)))))


def bilinear_downsample(x: Tensor) -> Tensor:
    """Halve the resolution with the bilinear (triangle) filter ``[1, 3, 3, 1]/8`` per axis, zero-padded.

    A fixed depthwise convolution, so D's double backward (R1/R2) goes through it like any convolution.
    """
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=x.dtype, device=x.device) / 8.0
    kernel = (taps[:, None] * taps[None, :]).expand(x.shape[1], 1, 4, 4)
    return F.conv2d(x, kernel, stride=2, padding=1, groups=x.shape[1])


def bilinear_upsample(x: Tensor) -> Tensor:
    """Double the resolution with the same triangle filter, zero-padded, as R3GAN's upsampler (upfirdn2d: zeros
    inserted, then ``[1, 3, 3, 1]/4`` per axis): bilinear interpolation inside, the border pixels ``3/4`` of it
    (a transposed depthwise convolution; ``F.interpolate`` would replicate the border instead).
    """
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=x.dtype, device=x.device) / 4.0
    kernel = (taps[:, None] * taps[None, :]).expand(x.shape[1], 1, 4, 4)
    return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=x.shape[1])


def _stage_values(name: str, value: int | list[int], stages: int) -> list[int]:
    """One positive int per stage: a list of ``stages`` values, or one value for all."""
    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value] * stages
    if len(values) != stages:
        raise ValueError(
            f"Expected `{name}` to be one int or a list of {stages} (one per stage, 4×4 up to the resolution), "
            f"got {len(values)} values"
        )
    return [check_positive_int(name, v) for v in values]


def _check_groups(widths: list[int], cardinality: list[int], expansion: int) -> None:
    for width, groups in zip(widths, cardinality, strict=True):
        if (width * expansion) % groups:
            raise ValueError(
                f"Expected `cardinality` to divide `widths`·`expansion` in every stage, got {groups} for "
                f"{width}·{expansion} = {width * expansion}"
            )


class R3GANGenerator(nn.Module):
    """``z (+ class embedding) → 4×4 basis → [blocks, up]… → 1×1 conv → tanh``.

    Args:
        latent_dim: latent size.
        resolution: output side, a power of two ``>= 16``; ``log2(resolution) − 1`` stages (4×4 … resolution).
        channels: image channels.
        widths: channels per stage from 4×4 up (one int: all stages).
        blocks: residual blocks per stage (one int: all stages).
        cardinality: groups of each stage's 3×3 convolutions (one int: all stages).
        expansion: the inverted bottleneck's widening factor.
        num_classes: class-conditional when set: ``forward(z, y)`` with ``y`` int64 in ``[0, num_classes)``.
    """

    def __init__(
        self,
        latent_dim: int,
        resolution: int = 32,
        channels: int = 3,
        widths: int | list[int] = 64,
        blocks: int | list[int] = 1,
        cardinality: int | list[int] = 8,
        expansion: int = 2,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        resolution = check_resolution(resolution)
        channels = check_positive_int("channels", channels)
        expansion = check_positive_int("expansion", expansion)
        stages = int(math.log2(resolution)) - 1
        widths = _stage_values("widths", widths, stages)
        blocks = _stage_values("blocks", blocks, stages)
        cardinality = _stage_values("cardinality", cardinality, stages)
        _check_groups(widths, cardinality, expansion)
        self.sample_shape: tuple[int, ...] = (channels, resolution, resolution)
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)

        embed_dim = (
            0 if self.num_classes is None else latent_dim
        )  # R3GAN: the class embedding is as wide as z
        self.embed = None if self.num_classes is None else nn.Embedding(self.num_classes, embed_dim)
        self.basis = nn.Parameter(torch.randn(widths[0], 4, 4))
        self.basis_scale = nn.Linear(latent_dim + embed_dim, widths[0], bias=False)
        _he_init(self.basis_scale)
        total = sum(blocks)
        self.stages = nn.ModuleList()
        for s in range(stages):
            layers: list[nn.Module] = []
            if s > 0:
                layers.append(_Up(widths[s - 1], widths[s]))
            layers += [
                InvertedBottleneck(widths[s], cardinality[s], expansion, total) for _ in range(blocks[s])
            ]
            self.stages.append(nn.Sequential(*layers))
        self.to_image = nn.Conv2d(widths[-1], channels, 1)
        _he_init(self.to_image)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Map ``z: [N, latent_dim]`` (and labels ``y: [N]`` when conditional) to images in ``[-1, 1]``."""
        if self.embed is not None:
            if y is None:
                raise ValueError("R3GANGenerator(num_classes=...) needs the labels: call it as G(z, y)")
            z = torch.cat([z, self.embed(y)], dim=1)
        x = self.basis[None] * self.basis_scale(z)[:, :, None, None]
        for stage in self.stages:
            x = stage(x)
        return self.to_image(x).tanh()


class _Up(nn.Module):
    """G's transition: 1×1 convolution to the next width (when it changes), then bilinear ×2."""

    def __init__(self, fin: int, fout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(fin, fout, 1, bias=False) if fin != fout else None
        if self.conv is not None:
            _he_init(self.conv)

    def forward(self, x: Tensor) -> Tensor:
        return bilinear_upsample(x if self.conv is None else self.conv(x))


class _Down(nn.Module):
    """D's transition: bilinear ÷2, then a 1×1 convolution to the next width (when it changes)."""

    def __init__(self, fin: int, fout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(fin, fout, 1, bias=False) if fin != fout else None
        if self.conv is not None:
            _he_init(self.conv)

    def forward(self, x: Tensor) -> Tensor:
        x = bilinear_downsample(x)
        return x if self.conv is None else self.conv(x)


class R3GANDiscriminator(nn.Module):
    """``1×1 conv → [blocks, down]… → blocks → depthwise 4×4 → linear`` to one logit; conditional: the linear maps to
    ``width`` features φ and the logit is ``⟨φ, embed(y)⟩``, as R3GAN's code (no separate unconditional term).

    Args:
        resolution, channels, widths, blocks, cardinality, expansion, num_classes: as for :class:`R3GANGenerator`;
            the per-stage lists are given from 4×4 up, as G's, and used in reverse (D runs from the resolution
            down to 4×4).
    """

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        widths: int | list[int] = 64,
        blocks: int | list[int] = 1,
        cardinality: int | list[int] = 8,
        expansion: int = 2,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        resolution = check_resolution(resolution)
        channels = check_positive_int("channels", channels)
        expansion = check_positive_int("expansion", expansion)
        stages = int(math.log2(resolution)) - 1
        widths = _stage_values("widths", widths, stages)[::-1]
        blocks = _stage_values("blocks", blocks, stages)[::-1]
        cardinality = _stage_values("cardinality", cardinality, stages)[::-1]
        _check_groups(widths, cardinality, expansion)
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)

        self.from_image = nn.Conv2d(channels, widths[0], 1)
        _he_init(self.from_image)
        total = sum(blocks)
        self.stages = nn.ModuleList()
        for s in range(stages):
            layers: list[nn.Module] = [
                InvertedBottleneck(widths[s], cardinality[s], expansion, total) for _ in range(blocks[s])
            ]
            if s < stages - 1:
                layers.append(_Down(widths[s], widths[s + 1]))
            self.stages.append(nn.Sequential(*layers))
        width = widths[-1]
        self.basis = nn.Conv2d(width, width, 4, groups=width, bias=False)  # 4×4 → 1×1, one filter per channel
        _he_init(self.basis)
        self.embed: nn.Embedding | None = None
        if self.num_classes is None:
            self.logit = nn.Linear(width, 1)
            _he_init(self.logit)
        else:
            # R3GAN's conditional D (brownvc/R3GAN, Networks.py): the last linear maps φ to a class-embedding space
            # of the width, the logit is ⟨φ, embed(y)⟩ alone, and 1/√width is the embedding's initialisation gain
            # (MSR init of a one-hot linear: std = gain/√fan_in = 1/√(width·K)), not a factor in every forward,
            # so Adam moves the class term at the rate of every other weight.
            self.logit = nn.Linear(width, width, bias=False)
            _he_init(self.logit)
            self.embed = nn.Embedding(self.num_classes, width)
            nn.init.normal_(self.embed.weight, 0.0, 1.0 / math.sqrt(width * self.num_classes))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Map images ``[N, C, H, W]`` (and labels ``y: [N]`` when conditional) to logits ``[N]``."""
        h = self.from_image(x)
        for stage in self.stages:
            h = stage(h)
        phi = self.logit(self.basis(h).flatten(1))  # [N, 1], or [N, width] when conditional
        if self.embed is None:
            return phi.view(x.shape[0])
        if y is None:
            raise ValueError("R3GANDiscriminator(num_classes=...) needs the labels: call it as D(x, y)")
        return (phi * self.embed(y)).sum(
            1
        )  # projection (Miyato & Koyama 2018) as R3GAN's code: ⟨φ(x), embed(y)⟩


def build_r3gan(
    latent_dim: int,
    resolution: int = 32,
    channels: int = 3,
    widths: int | list[int] = 64,
    blocks: int | list[int] = 1,
    cardinality: int | list[int] = 8,
    expansion: int = 2,
    num_classes: int | None = None,
    spectral_norm: bool = False,
) -> GANModels:
    """Build an R3GAN pair (same widths, blocks and cardinality per stage in G and D, D's in reverse).

    Args:
        latent_dim: latent size (R3GAN: 64).
        resolution: image side, any power of two ``>= 16``.
        channels: image channels.
        widths: channels per stage from 4×4 up, or one for all (R3GAN CIFAR-10: 768 × 4 stages).
        blocks: residual blocks per stage, or one for all (R3GAN: 2).
        cardinality: 3×3 convolution groups per stage, or one for all (R3GAN CIFAR-10: 96).
        expansion: inverted-bottleneck factor (R3GAN: 2).
        num_classes: class-conditional when set (G(z, y), projection D(x, y)).
        spectral_norm: refused with a ``ValueError`` (``model.spectral_norm``): the fix-up initialisation zeroes a
            convolution per block, whose spectral norm is 0.

    Returns:
        ``GANModels(R3GANGenerator, R3GANDiscriminator)``.

    Raises:
        ValueError: naming the argument: a bad ``resolution``, a non-positive size, a per-stage list of the wrong
            length, a ``cardinality`` that does not divide ``widths · expansion``, or ``spectral_norm=True``.
    """
    kwargs = dict(widths=widths, blocks=blocks, cardinality=cardinality, expansion=expansion)
    return gan_models(
        R3GANGenerator(latent_dim, resolution, channels, num_classes=num_classes, **kwargs),
        R3GANDiscriminator(resolution, channels, num_classes=num_classes, **kwargs),
        spectral_norm,
    )

"""The R3GAN backbone (models/r3gan.py): what the paper's description fixes, checked independently — identity
blocks at initialisation, the fix-up scale, grouped-convolution parameter counts by hand, the bilinear filter
against torch's antialiased resize, stage widths, the conditional forms and argument checks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lightning_r1.models.r3gan import InvertedBottleneck, bilinear_downsample, bilinear_upsample, build_r3gan


def test_every_block_starts_as_the_identity() -> None:
    torch.manual_seed(0)
    block = InvertedBottleneck(channels=16, cardinality=4, expansion=2, total_blocks=8)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(x), x)


def test_fixup_scale_is_he_times_blocks_to_the_minus_quarter() -> None:
    torch.manual_seed(0)
    channels, blocks = 256, 16
    block = InvertedBottleneck(channels, cardinality=8, expansion=2, total_blocks=blocks)
    he_leaky = math.sqrt(2 / (1 + 0.2**2)) / math.sqrt(channels)  # fan-in of the 1×1 expansion
    assert block.expand.weight.std().item() == pytest.approx(he_leaky / blocks**0.25, rel=0.02)
    fan_in_grouped = (2 * channels // 8) * 9
    he_grouped = math.sqrt(2 / (1 + 0.2**2)) / math.sqrt(fan_in_grouped)
    assert block.grouped.weight.std().item() == pytest.approx(he_grouped / blocks**0.25, rel=0.02)
    assert torch.count_nonzero(block.reduce.weight) == 0


def test_block_parameters_counted_by_hand() -> None:
    c, e, g = 48, 2, 6
    h = c * e
    by_hand = (c * h + h) + (h * (h // g) * 9 + h) + h * c  # expand (+bias), grouped 3×3 (+bias), reduce
    block = InvertedBottleneck(c, cardinality=g, expansion=e, total_blocks=1)
    assert sum(p.numel() for p in block.parameters()) == by_hand


def test_downsampling_is_torchs_antialiased_bilinear_resize_away_from_the_border() -> None:
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    ours = bilinear_downsample(x)
    reference = F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
    assert ours.shape == (2, 3, 8, 8)
    torch.testing.assert_close(ours[..., 1:-1, 1:-1], reference[..., 1:-1, 1:-1])


def up_1d(rows: list[float]) -> list[float]:
    """R3GAN's upsampler along one axis (upfirdn2d: a zero after each sample, filter [1, 3, 3, 1]/4, zero-padded):
    out[2i] = (3·x[i] + x[i−1]) / 4, out[2i+1] = (3·x[i] + x[i+1]) / 4, with x = 0 outside."""
    at = lambda i: rows[i] if 0 <= i < len(rows) else 0.0  # noqa: E731
    return [v for i in range(len(rows)) for v in ((3 * at(i) + at(i - 1)) / 4, (3 * at(i) + at(i + 1)) / 4)]


def test_upsampling_zero_pads_the_border_as_r3gans_upfirdn2d() -> None:
    """The interior is bilinear interpolation; the border is 3/4 of it (F.interpolate replicated it, off by ~1)."""
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64)
    expected = torch.empty(1, 2, 10, 12, dtype=torch.float64)
    for c in range(2):
        wide = [up_1d(row) for row in x[0, c].tolist()]  # along the width, then the height
        expected[0, c] = torch.tensor(
            [up_1d(list(col)) for col in zip(*wide, strict=True)], dtype=torch.float64
        ).T
    torch.testing.assert_close(bilinear_upsample(x), expected, rtol=1e-12, atol=1e-12)
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(bilinear_upsample(x)[..., 1:-1, 1:-1], bilinear[..., 1:-1, 1:-1])


@pytest.mark.parametrize("resolution, stages", [(16, 3), (32, 4), (64, 5)])
def test_one_stage_per_resolution_from_4x4(resolution: int, stages: int) -> None:
    G, D = build_r3gan(8, resolution, 3, widths=8, cardinality=2)
    assert len(G.stages) == stages == len(D.stages)
    z = torch.randn(2, 8)
    x = G(z)
    assert x.shape == (2, 3, resolution, resolution) and x.abs().max() <= 1
    assert D(x).shape == (2,)


def test_per_stage_widths_run_from_4x4_up_in_g_and_down_in_d() -> None:
    G, D = build_r3gan(8, 32, 3, widths=[32, 16, 8, 4], cardinality=[4, 4, 2, 2], blocks=[2, 1, 1, 1])
    assert G.basis.shape == (32, 4, 4) and G.to_image.in_channels == 4
    assert D.from_image.out_channels == 4 and D.basis.in_channels == 32
    assert len(G.stages[0]) == 2 and len(D.stages[-1]) == 2  # the 4×4 stage's two blocks, in both


def test_conditional_d_embedding_has_r3gans_initialisation_gain() -> None:
    """1/√width is an initialisation gain (MSR init of a one-hot linear, std 1/√(width·K)), not a forward factor:
    the class term's gradient is φ itself, as for every other weight (it was φ/√width, ~28× slower at width 768)."""
    torch.manual_seed(0)
    _, D = build_r3gan(8, 16, 1, widths=64, cardinality=8, num_classes=100)
    std = float(D.embed.weight.std())
    assert abs(std - 1 / math.sqrt(64 * 100)) < 0.03 / math.sqrt(64 * 100)  # 6,400 draws: ±1.8 % is 2σ
    x, y = torch.randn(2, 1, 16, 16), torch.tensor([3, 7])
    D(x, y).sum().backward()
    h = D.from_image(x)
    for stage in D.stages:
        h = stage(h)
    phi = D.logit(D.basis(h).flatten(1)).detach()
    torch.testing.assert_close(D.embed.weight.grad[[3, 7]], phi)  # ∂logit/∂embed(y) = φ, no 1/√width


def test_conditional_forms_use_the_labels() -> None:
    torch.manual_seed(0)
    G, D = build_r3gan(8, 16, 1, widths=8, cardinality=2, num_classes=5)
    z, x = torch.randn(3, 8), torch.randn(3, 1, 16, 16)
    y0, y1 = torch.zeros(3, dtype=torch.int64), torch.ones(3, dtype=torch.int64)
    assert G(z, y0).shape == (3, 1, 16, 16) and not torch.equal(G(z, y0), G(z, y1))
    # R3GAN's code (Networks.py): logit = ⟨W·basis(h), embed(y)⟩ alone, with W: width → width and no bias
    h = D.from_image(x)
    for stage in D.stages:
        h = stage(h)
    features = F.conv2d(h, D.basis.weight, groups=8).flatten(1).double()  # the depthwise 4×4, written out
    phi = features @ D.logit.weight.double().T
    for y in (y0, y1, torch.tensor([4, 2, 0])):
        expected = (phi * D.embed.weight.double()[y]).sum(1)
        torch.testing.assert_close(D(x, y).double(), expected, rtol=1e-5, atol=1e-6)
    assert D.logit.bias is None and D.logit.weight.shape == (8, 8)
    with pytest.raises(ValueError, match=r"needs the labels"):
        D(x)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(resolution=24), r"`resolution` to be a power of two >= 16, got 24"),
        (dict(widths=[8, 8]), r"`widths` to be one int or a list of 4 .* got 2 values"),
        (dict(cardinality=3), r"`cardinality` to divide `widths`·`expansion` .* got 3 for 8·2 = 16"),
        (dict(blocks=0), r"`blocks`"),
        (dict(expansion=0), r"`expansion`"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, match: str) -> None:
    args = dict(latent_dim=8, resolution=32, channels=3, widths=8, cardinality=2) | kwargs
    with pytest.raises(ValueError, match=match):
        build_r3gan(**args)

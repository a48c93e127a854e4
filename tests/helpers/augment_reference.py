"""The augmentation ops written a second way (per-sample loops, padding and slicing), to test
lightning_r1.augment.ops against. Kept deliberately plain: no gathers, no broadcasting tricks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_r1.augment import AugmentDraw


def half_up(v: float) -> int:
    """Round halves up (DiffAugment's sizes: 4.5 → 5), not to even as ``round`` does."""
    return math.floor(v + 0.5)


def as_int(u: float, low: int, high: int) -> int:
    """Uniform in [0, 1) → integer in [low, high], counting the bins by hand."""
    bins = high - low + 1
    k = 0
    while k + 1 < bins and u >= (k + 1) / bins:
        k += 1
    return low + k


def one_sample(name: str, img: Tensor, u: Tensor) -> Tensor:
    """Op ``name`` on one image ``[C, H, W]`` with its uniforms ``u``."""
    c, h, w = img.shape
    if name == "xflip":
        return img[:, :, torch.arange(w - 1, -1, -1)] if u[0] < 0.5 else img
    if name == "brightness":
        return img + (u[0] - 0.5)
    if name == "saturation":
        grey = img.sum(0, keepdim=True) / c
        return grey + 2 * u[0] * (img - grey)
    if name == "contrast":
        mean = img.sum() / img.numel()
        return mean + (u[0] + 0.5) * (img - mean)
    if name == "translation":
        sh, sw = half_up(h / 8), half_up(w / 8)
        ty, tx = as_int(float(u[0]), -sh, sh), as_int(float(u[1]), -sw, sw)
        padded = F.pad(img, (sw, sw, sh, sh))  # zeros around
        return padded[:, sh - ty : sh - ty + h, sw - tx : sw - tx + w]
    if name == "cutout":
        size_h, size_w = half_up(h / 2), half_up(w / 2)
        cy, cx = as_int(float(u[0]), 0, h - size_h % 2), as_int(float(u[1]), 0, w - size_w % 2)
        keep = torch.ones(h, w)
        for y in range(cy - size_h // 2, cy - size_h // 2 + size_h):
            for x in range(cx - size_w // 2, cx - size_w // 2 + size_w):
                if 0 <= y < h and 0 <= x < w:
                    keep[y, x] = 0
        return img * keep
    raise KeyError(name)


def augment_by_hand(x: Tensor, ops: tuple[str, ...], draw: AugmentDraw) -> Tensor:
    """The whole augmentation of a batch, sample by sample, op by op."""
    out = []
    for i in range(x.shape[0]):
        img = x[i]
        for name in ops:
            if bool(draw.applied[name][i]):
                img = one_sample(name, img, draw.params[name][i])
        out.append(img)
    return torch.stack(out)

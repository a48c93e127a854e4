"""Differentiable per-sample image operations for D's input, each split into a *draw* and an *apply*.

The draw makes the random parameters for the global batch and slices this process's share
(:func:`lightning_r1.distributed.rand_for_rank`), so 1 and N processes augment alike; the apply is a deterministic,
differentiable function of the images and those parameters, so the same draw can be applied twice (the finite
difference of approximate R1 needs ``aug(x + σε)`` and ``aug(x)`` with one set of parameters).

The colour, translation and cutout ops follow DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training", §3 and its released ``DiffAugment_pytorch.py``), for images in [-1, 1]:

    brightness   x + (r − ½)                                  r ~ U[0, 1)
    saturation   (x − mean_c x) · 2r + mean_c x               (the channel mean; a no-op on one channel)
    contrast     (x − mean_{c,h,w} x) · (r + ½) + mean_{c,h,w} x
    translation  shift by integers in [−s, s] each axis, s = round(size/8), zero fill
    cutout       zero a square of side round(size/2) at a random centre (clipped at the border)

``xflip`` (mirror with probability ½) is the first op of StyleGAN2-ADA's pipeline (Karras et al. 2020,
"Training Generative Adversarial Networks with Limited Data", App. B).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from lightning_r1.distributed import rand_for_rank

TRANSLATION_RATIO = 1 / 8  # DiffAugment's translation: up to 1/8 of the image size
CUTOUT_RATIO = 1 / 2  # DiffAugment's cutout: a square of half the image size


def _per_sample(values: Tensor) -> Tensor:
    """``[N]`` → ``[N, 1, 1, 1]`` to broadcast over an image batch."""
    return values.view(-1, 1, 1, 1)


def brightness(x: Tensor, u: Tensor) -> Tensor:
    """Add ``u − ½`` to every pixel of each sample (``u`` ``[N, 1]`` in [0, 1))."""
    return x + _per_sample(u[:, 0] - 0.5).to(x.dtype)


def saturation(x: Tensor, u: Tensor) -> Tensor:
    """Scale each pixel's deviation from its channel mean by ``2u``."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * _per_sample(2 * u[:, 0]).to(x.dtype) + mean


def contrast(x: Tensor, u: Tensor) -> Tensor:
    """Scale each sample's deviation from its image mean by ``u + ½``."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _per_sample(u[:, 0] + 0.5).to(x.dtype) + mean


def xflip(x: Tensor, u: Tensor) -> Tensor:
    """Mirror left-right the samples whose ``u < ½``."""
    return torch.where(_per_sample(u[:, 0] < 0.5), x.flip(-1), x)


def _integers(u: Tensor, low: int, high: int) -> Tensor:
    """Map uniforms in [0, 1) to integers in ``[low, high]`` (inclusive)."""
    return (u * (high - low + 1)).floor().long().clamp(max=high - low) + low


def translation(x: Tensor, u: Tensor) -> Tensor:
    """Shift each sample by whole pixels, up to ``TRANSLATION_RATIO`` of its size per axis; vacated pixels are 0.

    ``u`` ``[N, 2]``: the vertical and horizontal shifts. Implemented as a gather, so it is differentiable in ``x``.
    """
    n, c, h, w = x.shape
    sy = _integers(u[:, 0], -int(h * TRANSLATION_RATIO + 0.5), int(h * TRANSLATION_RATIO + 0.5))
    sx = _integers(u[:, 1], -int(w * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5))
    rows = torch.arange(h, device=x.device).view(1, h) - sy.view(n, 1)  # source row of each output row
    cols = torch.arange(w, device=x.device).view(1, w) - sx.view(n, 1)
    inside = ((rows >= 0) & (rows < h)).view(n, 1, h, 1) & ((cols >= 0) & (cols < w)).view(n, 1, 1, w)
    rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    shifted = x.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w))
    shifted = shifted.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))
    return shifted * inside.to(x.dtype)


def cutout(x: Tensor, u: Tensor) -> Tensor:
    """Zero a square of side ``round(CUTOUT_RATIO · size)`` per sample; ``u`` ``[N, 2]`` places its centre."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    cy = _integers(u[:, 0], 0, h - size_h % 2)  # DiffAugment's offsets: 0 .. size + (1 − side % 2) − 1
    cx = _integers(u[:, 1], 0, w - size_w % 2)
    ys = torch.arange(h, device=x.device).view(1, h) - (cy.view(n, 1) - size_h // 2)
    xs = torch.arange(w, device=x.device).view(1, w) - (cx.view(n, 1) - size_w // 2)
    in_h = ((ys >= 0) & (ys < size_h)).view(n, 1, h, 1)
    in_w = ((xs >= 0) & (xs < size_w)).view(n, 1, 1, w)
    return x * (~(in_h & in_w)).to(x.dtype)


@dataclass(frozen=True)
class Op:
    """One augmentation: how many uniforms each sample draws, and the differentiable apply."""

    draws: int
    apply: Callable[[Tensor, Tensor], Tensor]


OPS: dict[str, Op] = {
    "xflip": Op(1, xflip),
    "brightness": Op(1, brightness),
    "saturation": Op(1, saturation),
    "contrast": Op(1, contrast),
    "translation": Op(2, translation),
    "cutout": Op(2, cutout),
}


def draw_uniforms(
    n: int, count: int, device: torch.device | str | None, dtype: torch.dtype | None = None
) -> Tensor:
    """``[n, count]`` uniforms (of ``dtype``) for this rank, sliced from one draw for the global batch."""
    return rand_for_rank(n, count, device=device, dtype=dtype)

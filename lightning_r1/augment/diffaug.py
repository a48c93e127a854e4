"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): the same
differentiable ops on real and generated images, on every sample, in every D pass."""

from __future__ import annotations

from collections.abc import Sequence

from lightning_r1.augment.base import Augment


class DiffAugment(Augment):
    """DiffAugment (Zhao et al. 2020): every op on every sample, every step (``p = 1``).

    Args:
        ops: op names, in order; DiffAugment's policy "color,translation,cutout" by default.

    Raises:
        ValueError: an unknown op name.
    """

    name = "diffaug"

    def __init__(
        self, ops: Sequence[str] = ("brightness", "saturation", "contrast", "translation", "cutout")
    ) -> None:
        super().__init__(ops, p=1.0)

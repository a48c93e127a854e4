"""Differentiable augmentation of the discriminator's inputs (DiffAugment, ADA); see docs/augmentation.md."""

from lightning_r1.augment.ada import ADA, ada_update
from lightning_r1.augment.base import Augment, AugmentDraw
from lightning_r1.augment.diffaug import DiffAugment
from lightning_r1.augment.ops import OPS

__all__ = ["ADA", "Augment", "AugmentDraw", "DiffAugment", "OPS", "ada_update"]

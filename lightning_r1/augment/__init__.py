"""Transforms of the discriminator's inputs: differentiable augmentation (DiffAugment, ADA; docs/augmentation.md)
and instance noise."""

from lightning_r1.augment.ada import ADA, ada_update
from lightning_r1.augment.base import Augment, AugmentDraw
from lightning_r1.augment.diffaug import DiffAugment
from lightning_r1.augment.instance_noise import InstanceNoise
from lightning_r1.augment.ops import OPS

__all__ = ["ADA", "Augment", "AugmentDraw", "DiffAugment", "InstanceNoise", "OPS", "ada_update"]

"""lightning_r1: GAN training with exact gradient-penalty regularizers on PyTorch Lightning.

from lightning_r1 import GAN, R1, R2, WGANGP, ZeroGP
"""

__version__ = "0.1.0"  # the one place the version is written: pyproject.toml reads it, --version prints it

from lightning_r1.augment import InstanceNoise
from lightning_r1.gan import GAN
from lightning_r1.regularizers import R1, R2, WGANGP, ApproxR1, ApproxR2, Regularizer, ZeroGP

__all__ = ["GAN", "R1", "R2", "WGANGP", "ZeroGP", "ApproxR1", "ApproxR2", "InstanceNoise", "Regularizer"]

"""Gradient-penalty regularizers: Lightning callbacks that are also plain callables."""

from lightning_r1.regularizers.approx_r1 import ApproxR1
from lightning_r1.regularizers.approx_r2 import ApproxR2
from lightning_r1.regularizers.base import Regularizer
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass, input_gradient_sq_norm
from lightning_r1.regularizers.gradient_penalty import WGANGP, ZeroGP
from lightning_r1.regularizers.lecam import LeCam
from lightning_r1.regularizers.r1 import R1, R2

__all__ = [
    "R1",
    "R2",
    "WGANGP",
    "ZeroGP",
    "ApproxR1",
    "ApproxR2",
    "LeCam",
    "Regularizer",
    "DiscriminatorPass",
    "input_gradient_sq_norm",
]

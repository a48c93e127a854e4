"""Generator/discriminator families; each ``build_*`` returns a :class:`GANModels` pair."""

from lightning_r1.models.dcgan import DCGANDiscriminator, DCGANGenerator, build_dcgan
from lightning_r1.models.dirac import DiracDiscriminator, DiracGenerator, build_dirac
from lightning_r1.models.mlp import MLPDiscriminator, MLPGenerator, build_mlp
from lightning_r1.models.pair import GANModels
from lightning_r1.models.r3gan import R3GANDiscriminator, R3GANGenerator, build_r3gan
from lightning_r1.models.resnet import ResnetBlock, ResNetDiscriminator, ResNetGenerator, build_resnet

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DiracDiscriminator",
    "DiracGenerator",
    "GANModels",
    "MLPDiscriminator",
    "MLPGenerator",
    "R3GANDiscriminator",
    "R3GANGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "ResnetBlock",
    "build_dcgan",
    "build_dirac",
    "build_mlp",
    "build_r3gan",
    "build_resnet",
]

"""The generator/discriminator pair returned by every model builder, plus shared argument checks.

Every builder in :mod:`lightning_r1.models` (``build_dirac``, ``build_mlp``, ``build_dcgan``, ``build_resnet``,
``build_r3gan``) returns a :class:`GANModels`, so a Hydra config ``model=<family>`` yields both networks in one
object; those with a ``spectral_norm`` parameter return :func:`gan_models`, which applies it to D.

Conventions shared by all families:

- Generators map ``z: [N, latent_dim]`` to samples ``[N, *sample_shape]`` and expose ``latent_dim`` and
  ``sample_shape``; image generators end with ``tanh`` (range ``[-1, 1]``).
- Class-conditional with ``num_classes``: ``G(z, y)`` and ``D(x, y)``, ``y`` int64 labels in ``[0, num_classes)``;
  each family conditions inside its own file (the label layers are in :mod:`lightning_r1.models.conditional_layers`).
- Discriminators map ``[N, *sample_shape]`` to raw logits ``[N]`` (1-D). They never use BatchNorm: batch
  statistics couple the samples, so ``dD(x_i)/dx_i`` would no longer be a per-sample gradient and R1/R2 would
  penalize the wrong quantity. All of them support double backward (``create_graph=True``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from torch import nn

from lightning_r1.models.spectral_norm import apply_spectral_norm


class GANModels(NamedTuple):
    """A generator and a discriminator built together by one builder.

    Attributes:
        generator: maps latents ``[N, latent_dim]`` to samples ``[N, *sample_shape]``.
        discriminator: maps samples ``[N, *sample_shape]`` to logits ``[N]``.
    """

    generator: nn.Module
    discriminator: nn.Module


def gan_models(generator: nn.Module, discriminator: nn.Module, spectral_norm: bool = False) -> GANModels:
    """A builder's return value: the pair, with every weight of D spectral-normalized when ``spectral_norm``
    (``model.spectral_norm=true``; :func:`~lightning_r1.models.spectral_norm.apply_spectral_norm`); G is left as
    it is, as in Miyato et al. 2018.

    Raises:
        ValueError: ``spectral_norm`` not a boolean; D with no layer to normalize, or a zero-initialised one.
    """
    if not isinstance(spectral_norm, bool):
        raise ValueError(f"Expected `spectral_norm` to be true or false, got {spectral_norm!r}")
    return GANModels(generator, apply_spectral_norm(discriminator) if spectral_norm else discriminator)


def check_finite_float(name: str, value: object) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number.

    Raises:
        ValueError: if ``value`` is not a finite int/float.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Expected `{name}` to be a finite float, got {value!r}")
    return float(value)


def check_resolution(value: object, supported: Sequence[int] | None = None) -> int:
    """Validate an image resolution.

    Args:
        value: the resolution (side length in pixels).
        supported: the allowed values; ``None`` means any power of two ``>= 16``.

    Raises:
        ValueError: naming ``resolution``, the value and what was expected.
    """
    if supported is not None:
        if isinstance(value, bool) or value not in tuple(supported):
            raise ValueError(f"Expected `resolution` to be one of {tuple(supported)}, got {value!r}")
        return int(value)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, int) or value < 16 or value & (value - 1):
        raise ValueError(f"Expected `resolution` to be a power of two >= 16, got {value!r}")
    return value

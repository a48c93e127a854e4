"""Spectral normalization of the discriminator as a model option (``model.spectral_norm=true``).

Miyato, Kataoka, Koyama, Yoshida 2018, "Spectral Normalization for Generative Adversarial Networks", eq. (8):
every weight W of D is used as W / σ(W), σ(W) its largest singular value, estimated by one power iteration per
forward (the paper's Algorithm 1), which bounds D's Lipschitz constant layer by layer: the classic alternative to
a gradient penalty. Applied (by the builders' ``spectral_norm`` keyword, :func:`spectral_norm_option`) to every
convolution, linear layer and embedding of D with ``torch.nn.utils.parametrizations.spectral_norm``; the embedding
is a conditional D's projection (``<embed(y), h>``), which SNGAN-projection normalizes too (Miyato & Koyama 2018,
"cGANs with Projection Discriminator": the class embedding ``V`` is spectral-normalized like every other weight), so
D stays Lipschitz-bounded in its class term. The power-iteration vectors are buffers, so checkpoints keep them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from lightning_r1.models.pair import GANModels

NORMALIZED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral-normalize the weight of every convolution, linear layer and embedding of ``module`` (in place).

    Returns:
        ``module``.

    Raises:
        ValueError: when ``module`` has no such layer (nothing would be normalized), or one whose weight is all
            zeros (its normalized weight would be NaN).
    """
    layers = [(n, m) for n, m in module.named_modules() if isinstance(m, NORMALIZED) and hasattr(m, "weight")]
    if not layers:
        raise ValueError(
            f"model.spectral_norm: {type(module).__name__} has no convolution or linear layer to normalize"
        )
    zero = [name for name, layer in layers if not bool(layer.weight.detach().any())]
    if zero:  # σ(0) = 0: W / σ(W) would be NaN from the first forward
        raise ValueError(
            f"model.spectral_norm: {type(module).__name__} initialises {zero[0]}.weight to zero (e.g. R3GAN's fix-up "
            "initialisation), whose spectral norm is 0, so W/σ(W) is undefined; use model.spectral_norm=false"
        )
    for _, layer in layers:
        spectral_norm(layer)
    return module


def spectral_norm_option(builder: Callable[..., GANModels]) -> Callable[..., GANModels]:
    """Give a model builder the keyword ``spectral_norm: bool = False`` (the config's ``model.spectral_norm``).

    With it true, the built discriminator is spectral-normalized (:func:`apply_spectral_norm`); G is left as it is,
    as in Miyato et al. 2018. The builder itself is unchanged, so ``instantiate(cfg.model)`` builds both forms.

    Raises:
        ValueError: ``spectral_norm`` not a boolean.
    """

    @functools.wraps(builder)
    def build(*args: Any, spectral_norm: bool = False, **kwargs: Any) -> GANModels:
        if not isinstance(spectral_norm, bool):
            raise ValueError(f"Expected `spectral_norm` to be true or false, got {spectral_norm!r}")
        models = builder(*args, **kwargs)
        if spectral_norm:
            apply_spectral_norm(models.discriminator)
        return models

    signature = inspect.signature(builder)
    option = inspect.Parameter(
        "spectral_norm", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=bool
    )
    build.__signature__ = signature.replace(parameters=[*signature.parameters.values(), option])  # type: ignore[attr-defined]
    return build

"""Spectral normalization of the discriminator as a model option (``model.spectral_norm=true``).

Miyato, Kataoka, Koyama, Yoshida 2018, "Spectral Normalization for Generative Adversarial Networks", eq. (8):
every weight W of D is used as W / σ(W), σ(W) its largest singular value, estimated by one power iteration per
forward (the paper's Algorithm 1), which bounds D's Lipschitz constant layer by layer: the classic alternative to
a gradient penalty. Applied to every convolution and linear layer of D by
``torch.nn.utils.parametrizations.spectral_norm``; the power-iteration vectors are buffers, so checkpoints keep them.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from lightning_r1.models.pair import GANModels

NORMALIZED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral-normalize the weight of every convolution and linear layer of ``module`` (in place).

    Returns:
        ``module``.

    Raises:
        ValueError: when ``module`` has no such layer (nothing would be normalized).
    """
    layers = [m for m in module.modules() if isinstance(m, NORMALIZED) and hasattr(m, "weight")]
    if not layers:
        raise ValueError(
            f"model.spectral_norm: {type(module).__name__} has no convolution or linear layer to normalize"
        )
    for layer in layers:
        spectral_norm(layer)
    return module


def split_spectral_norm(node: Any) -> tuple[Any, bool]:
    """The model config without its ``spectral_norm`` key (the builders do not take it), and that key's value.

    Raises:
        ValueError: ``model.spectral_norm`` not a boolean.
    """
    if not isinstance(node, DictConfig) or "spectral_norm" not in node:
        return node, False
    flag = node.spectral_norm
    if not isinstance(flag, bool):
        raise ValueError(f"Expected `model.spectral_norm` to be true or false, got {flag!r}")
    rest = OmegaConf.to_container(node, resolve=True)  # resolved while still attached (${gan.latent_dim})
    del rest["spectral_norm"]
    return OmegaConf.create(rest), flag


def with_spectral_norm(models: GANModels, enabled: bool) -> GANModels:
    """``models`` with D spectral-normalized when ``enabled`` (G is left as it is, as in Miyato et al. 2018)."""
    if enabled:
        apply_spectral_norm(models.discriminator)
    return models

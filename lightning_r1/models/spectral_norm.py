"""Spectral normalization of the discriminator as a model option (``model.spectral_norm=true``).

Miyato, Kataoka, Koyama, Yoshida 2018, "Spectral Normalization for Generative Adversarial Networks", eq. (8):
every weight W of D is used as W / σ(W), σ(W) its largest singular value, estimated by one power iteration per
forward (the paper's Algorithm 1), which bounds D's Lipschitz constant layer by layer: the classic alternative to
a gradient penalty. Applied once, by the builders' ``spectral_norm`` parameter (their last line,
:func:`lightning_r1.models.pair.gan_models`), to every convolution, linear layer and embedding of D with
``torch.nn.utils.parametrizations.spectral_norm``; the embedding is a conditional D's projection (``<embed(y), h>``),
which SNGAN-projection normalizes too (Miyato & Koyama 2018, "cGANs with Projection Discriminator": the class
embedding ``V`` is spectral-normalized like every other weight), so D stays Lipschitz-bounded in its class term. The power-iteration vectors are buffers, so checkpoints keep them.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

NORMALIZED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral-normalize the weight of every convolution, linear layer and embedding of ``module`` (in place).

    Returns:
        ``module``.

    Raises:
        ValueError: when ``module`` has no such layer (nothing would be normalized), or one whose weight is all
            zeros (its normalized weight would be NaN).
    """
    layers = [(n, m) for n, m in module.named_modules() if isinstance(m, NORMALIZED)]
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

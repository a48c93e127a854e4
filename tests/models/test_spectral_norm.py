"""model.spectral_norm (Miyato et al. 2018): every D weight divided by its largest singular value."""

from __future__ import annotations

import inspect

import pytest
import torch

from lightning_r1.models import build_mlp, build_r3gan, build_resnet
from lightning_r1.models.dcgan import build_dcgan
from lightning_r1.models.spectral_norm import apply_spectral_norm

R3GAN_TINY = {"resolution": 16, "channels": 3, "widths": 8, "blocks": 1, "cardinality": 2}


def test_every_weight_of_d_has_unit_spectral_norm_after_power_iterations() -> None:
    torch.manual_seed(0)
    d = apply_spectral_norm(build_dcgan(latent_dim=8, resolution=32, channels=1, width=8).discriminator)
    x = torch.randn(2, 1, 32, 32)
    for _ in range(50):  # one power iteration per forward in training mode
        d(x)
    layers = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert layers
    for layer in layers:
        w = layer.weight.detach().reshape(layer.weight.shape[0], -1)  # the normalized weight, as used
        assert torch.linalg.matrix_norm(w, ord=2) == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize("family", ["dcgan", "resnet", "mlp"])
def test_every_weight_of_a_conditional_d_embedding_included_has_spectral_norm_at_most_one(
    family: str,
) -> None:
    """SNGAN-projection (Miyato & Koyama 2018) normalizes the class embedding too; it had σ ≈ 1.5 unnormalized."""
    torch.manual_seed(0)
    build, kwargs, shape = {
        "dcgan": (build_dcgan, {"resolution": 32, "channels": 1, "width": 8}, (1, 32, 32)),
        "resnet": (build_resnet, {"resolution": 32, "channels": 1, "width": 8}, (1, 32, 32)),
        "mlp": (build_mlp, {"data_dim": 2, "hidden": 16, "layers": 2}, (2,)),
    }[family]
    d = build(latent_dim=8, num_classes=5, spectral_norm=True, **kwargs).discriminator
    x, y = torch.randn(4, *shape), torch.arange(4) % 5
    for _ in range(300):  # one power iteration per forward in training mode (a ResNet conv needs ~200)
        d(x, y)
    weights = {
        name: m.weight.detach()  # the normalized weight, as used
        for name, m in d.named_modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear | torch.nn.Embedding)
    }
    assert any(isinstance(m, torch.nn.Embedding) for m in d.modules())
    for name, w in weights.items():
        sigma = torch.linalg.svdvals(w.reshape(w.shape[0], -1).double())[0]  # independent: a full SVD
        assert float(sigma) <= 1.0 + 1e-2, name


def test_spectral_norm_refuses_a_d_with_a_zero_initialised_weight() -> None:
    """R3GAN's fix-up initialisation zeroes each block's last convolution: σ = 0 made every logit NaN."""
    with pytest.raises(
        ValueError, match=r"model.spectral_norm: R3GANDiscriminator initialises stages\.0\.0\.reduce"
    ):
        build_r3gan(latent_dim=8, num_classes=5, spectral_norm=True, **R3GAN_TINY)


def test_the_builders_take_the_option_and_leave_g_and_the_default_alone() -> None:
    plain = build_dcgan(latent_dim=8, resolution=32, channels=1, width=8)
    normed = build_dcgan(latent_dim=8, resolution=32, channels=1, width=8, spectral_norm=True)
    assert not any("parametrizations" in k for k in plain.discriminator.state_dict())
    assert any("parametrizations" in k for k in normed.discriminator.state_dict())
    assert not any("parametrizations" in k for k in normed.generator.state_dict())
    assert "spectral_norm" in inspect.signature(build_dcgan).parameters
    with pytest.raises(ValueError, match="`spectral_norm` to be true or false"):
        build_dcgan(latent_dim=8, spectral_norm="yes")

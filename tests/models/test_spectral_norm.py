"""model.spectral_norm (Miyato et al. 2018): every D weight divided by its largest singular value."""

from __future__ import annotations

import inspect

import pytest
import torch

from lightning_r1.models.dcgan import build_dcgan
from lightning_r1.models.spectral_norm import apply_spectral_norm


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


def test_the_builders_take_the_option_and_leave_g_and_the_default_alone() -> None:
    plain = build_dcgan(latent_dim=8, resolution=32, channels=1, width=8)
    normed = build_dcgan(latent_dim=8, resolution=32, channels=1, width=8, spectral_norm=True)
    assert not any("parametrizations" in k for k in plain.discriminator.state_dict())
    assert any("parametrizations" in k for k in normed.discriminator.state_dict())
    assert not any("parametrizations" in k for k in normed.generator.state_dict())
    assert "spectral_norm" in inspect.signature(build_dcgan).parameters
    with pytest.raises(ValueError, match="`spectral_norm` to be true or false"):
        build_dcgan(latent_dim=8, spectral_norm="yes")

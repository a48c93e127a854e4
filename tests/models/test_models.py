"""Tests for lightning_r1.models: shapes, double backward (R1), Dirac-GAN values, argument checks, configs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from conftest import REPO_ROOT
from lightning_r1.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    DiracDiscriminator,
    DiracGenerator,
    GANModels,
    MLPDiscriminator,
    MLPGenerator,
    ResNetDiscriminator,
    ResNetGenerator,
    build_dcgan,
    build_dirac,
    build_mlp,
    build_resnet,
)
from lightning_r1.models.r3gan import build_r3gan

MODEL_CONF_DIR = REPO_ROOT / "conf" / "model"
LATENT = 8
BATCH = 3

# name -> (builder producing a small pair, expected sample shape)
FAMILIES: dict[str, tuple[Callable[[], GANModels], tuple[int, ...]]] = {
    "dirac": (lambda: build_dirac(theta0=0.5, psi0=-2.0, latent_dim=LATENT), (1,)),
    "mlp": (lambda: build_mlp(LATENT, data_dim=2, hidden=16, layers=2), (2,)),
    "dcgan32": (lambda: build_dcgan(LATENT, resolution=32, channels=1, width=8), (1, 32, 32)),
    "dcgan64": (lambda: build_dcgan(LATENT, resolution=64, channels=3, width=4), (3, 64, 64)),
    "resnet16": (lambda: build_resnet(LATENT, resolution=16, channels=3, width=4, nf_max=16), (3, 16, 16)),
    "resnet32": (lambda: build_resnet(LATENT, resolution=32, channels=1, width=4, nf_max=8), (1, 32, 32)),
    "r3gan16": (lambda: build_r3gan(LATENT, resolution=16, channels=3, widths=8, cardinality=4), (3, 16, 16)),
    "r3gan32": (
        lambda: build_r3gan(LATENT, 32, 1, widths=[8, 8, 4, 4], blocks=[1, 2, 1, 1], cardinality=2),
        (1, 32, 32),
    ),
}


@pytest.fixture(params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest) -> tuple[GANModels, tuple[int, ...]]:
    torch.manual_seed(0)
    build, shape = FAMILIES[request.param]
    return build(), shape


def test_shapes(family: tuple[GANModels, tuple[int, ...]]) -> None:
    (G, D), shape = family
    assert G.latent_dim == LATENT
    assert tuple(G.sample_shape) == shape
    x = G(torch.randn(BATCH, LATENT))
    assert x.shape == (BATCH, *shape)
    logits = D(x)
    assert logits.shape == (BATCH,)  # 1-D raw logits
    assert torch.isfinite(logits).all()
    if len(shape) == 3:  # image generators end with tanh
        assert x.abs().max() <= 1.0


def test_discriminators_have_no_batchnorm(family: tuple[GANModels, tuple[int, ...]]) -> None:
    (_, D), _ = family
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_r1_double_backward(family: tuple[GANModels, tuple[int, ...]]) -> None:
    (_, D), shape = family
    real = torch.randn(BATCH, *shape, requires_grad=True)
    out = D(real)
    (grad,) = torch.autograd.grad(out.sum(), real, create_graph=True)
    penalty = grad.pow(2).flatten(1).sum(1).mean()
    penalty.backward()
    grads = [p.grad for p in D.parameters() if p.grad is not None]
    assert grads, "R1 penalty produced no weight gradients"
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_r1_is_per_sample(family: tuple[GANModels, tuple[int, ...]]) -> None:
    """dD(x_i)/dx_j == 0 for i != j: D treats samples independently (train mode)."""
    (_, D), shape = family
    x = torch.randn(2, *shape, requires_grad=True)
    (grad,) = torch.autograd.grad(D(x)[0], x)
    assert torch.count_nonzero(grad[1]) == 0


def test_dirac_exact_values() -> None:
    G, D = build_dirac(theta0=0.7, psi0=-1.5)
    assert isinstance(G, DiracGenerator) and isinstance(D, DiracDiscriminator)
    assert [n for n, _ in G.named_parameters()] == ["theta"]
    assert [n for n, _ in D.named_parameters()] == ["psi"]
    z = torch.randn(4, 1)
    torch.testing.assert_close(G(z), torch.full((4, 1), 0.7))
    x = torch.tensor([[2.0], [-1.0], [0.0]])
    torch.testing.assert_close(D(x), torch.tensor([-3.0, 1.5, 0.0]))
    # R1 of the Dirac-GAN is psi^2 per sample; its gradient w.r.t. psi is 2 psi
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    grad.pow(2).sum(1).mean().backward()
    torch.testing.assert_close(D.psi.grad, torch.tensor(-3.0))
    # the generator gradient flows to theta
    D(G(torch.randn(5, 1))).sum().backward()
    torch.testing.assert_close(G.theta.grad, torch.tensor(5 * -1.5))


def test_direct_classes() -> None:
    assert DCGANGenerator(4, 32, 3, 8)(torch.randn(2, 4)).shape == (2, 3, 32, 32)
    assert DCGANDiscriminator(64, 1, 4)(torch.randn(2, 1, 64, 64)).shape == (2,)
    assert MLPGenerator(4)(torch.randn(2, 4)).shape == (2, 2)
    assert MLPDiscriminator(3, 8, 1)(torch.randn(2, 3)).shape == (2,)
    assert ResNetGenerator(4, 16, 1, 4, 8)(torch.randn(2, 4)).shape == (2, 1, 16, 16)
    assert ResNetDiscriminator(16, 1, 4, 8)(torch.randn(2, 1, 16, 16)).shape == (2,)


@pytest.mark.parametrize(
    ("build", "kwargs", "name"),
    [
        (build_dcgan, {"latent_dim": 8, "resolution": 48}, "resolution"),
        (build_dcgan, {"latent_dim": 8, "resolution": 128}, "resolution"),
        (build_dcgan, {"latent_dim": 8, "width": 0}, "width"),
        (build_dcgan, {"latent_dim": 8, "d_width": 0}, "d_width"),
        (build_dcgan, {"latent_dim": 0}, "latent_dim"),
        (build_dcgan, {"latent_dim": 8, "channels": -1}, "channels"),
        (build_resnet, {"latent_dim": 8, "resolution": 8}, "resolution"),
        (build_resnet, {"latent_dim": 8, "resolution": 48}, "resolution"),
        (build_resnet, {"latent_dim": 8, "width": -3}, "width"),
        (build_resnet, {"latent_dim": 2.5}, "latent_dim"),
        (build_mlp, {"latent_dim": -1}, "latent_dim"),
        (build_mlp, {"latent_dim": 2, "hidden": 0}, "hidden"),
        (build_mlp, {"latent_dim": 2, "layers": 0}, "layers"),
        (build_mlp, {"latent_dim": 2, "d_hidden": -4}, "d_hidden"),
        (build_dirac, {"latent_dim": 0}, "latent_dim"),
        (build_dirac, {"theta0": float("nan")}, "theta0"),
        (build_dirac, {"psi0": "a"}, "psi0"),
    ],
)
def test_bad_arguments(build: Callable[..., GANModels], kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        build(**kwargs)


def _parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("conditional", [False, True])
def test_a_separate_discriminator_width_changes_only_d(conditional: bool) -> None:
    classes = 10 if conditional else None
    same = build_dcgan(64, 32, 3, 32, num_classes=classes)
    quarter = build_dcgan(64, 32, 3, 32, num_classes=classes, d_width=21)
    assert _parameter_count(quarter.generator) == _parameter_count(same.generator)
    # PacGAN Table 3's "D a quarter of G's size", counted in parameters
    assert 0.18 < _parameter_count(quarter.discriminator) / _parameter_count(quarter.generator) < 0.3
    mlp = build_mlp(16, 2, 256, 3, num_classes=classes, d_hidden=64)
    widths = {m.out_features for m in mlp.discriminator.modules() if isinstance(m, nn.Linear)}
    assert 256 not in widths and 64 in widths
    assert 256 in {m.out_features for m in mlp.generator.modules() if isinstance(m, nn.Linear)}


def test_the_documented_d_to_g_parameter_ratios_of_d_width() -> None:
    """dcgan.py / conf/model/dcgan.yaml: at width 32, d_width=21 is the quarter-size D and width/2 = 16 is not."""
    ratios = {}
    for d_width in (16, 21):
        models = build_dcgan(64, 32, 3, 32, d_width=d_width)
        ratios[d_width] = _parameter_count(models.discriminator) / _parameter_count(models.generator)
    assert round(ratios[16], 3) == 0.144 and round(ratios[21], 3) == 0.246


def test_dcgan_resolution_error_lists_supported() -> None:
    with pytest.raises(ValueError, match=r"\(32, 64\), got 48"):
        build_dcgan(8, resolution=48)


@pytest.mark.parametrize("path", sorted(MODEL_CONF_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_model_configs_instantiate(path: Path) -> None:
    context = OmegaConf.create(
        {"dataset": {"resolution": 16, "channels": 1}, "gan": {"latent_dim": 8, "num_classes": None}}
    )
    cfg = OmegaConf.merge(context, {"model": OmegaConf.load(path)})
    if "width" in cfg.model:
        cfg.model.width = 4  # keep the test fast
    if "nf_max" in cfg.model:
        cfg.model.nf_max = 16
    if "widths" in cfg.model:
        cfg.model.widths, cfg.model.cardinality = 8, 4
    if path.stem == "dcgan":
        cfg.dataset.resolution = 32
    G, D = hydra.utils.instantiate(cfg.model)
    assert G.latent_dim == 8
    x = G(torch.randn(2, 8))
    assert x.shape == (2, *G.sample_shape)
    assert D(x).shape == (2,)


def test_all_families_have_configs() -> None:
    assert {p.stem for p in MODEL_CONF_DIR.glob("*.yaml")} >= {"dirac", "mlp", "dcgan", "resnet"}


def test_dirac_config_cli_keys() -> None:
    cfg = OmegaConf.merge(
        {"gan": {"latent_dim": 1}},
        {"model": OmegaConf.load(MODEL_CONF_DIR / "dirac.yaml")},
        OmegaConf.from_dotlist(["model.theta0=1", "model.psi0=1"]),
    )
    G, D = hydra.utils.instantiate(cfg.model)
    assert G.theta.item() == 1.0 and D.psi.item() == 1.0


@pytest.mark.parametrize(
    ("build", "kwargs", "shape"),
    [
        (build_dcgan, {"resolution": 32, "channels": 1, "width": 4}, (1, 32, 32)),
        (build_resnet, {"resolution": 16, "channels": 1, "width": 4, "nf_max": 8}, (1, 16, 16)),
        (build_mlp, {"hidden": 8, "layers": 1}, (2,)),
    ],
    ids=["dcgan", "resnet", "mlp"],
)
def test_a_conditional_pair_called_without_labels_says_so(
    build: Callable[..., GANModels], kwargs: dict, shape: tuple[int, ...]
) -> None:
    G, D = build(LATENT, num_classes=3, **kwargs)
    with pytest.raises(ValueError, match=r"needs the labels: call it as G\(z, y\)"):
        G(torch.randn(2, LATENT))
    with pytest.raises(ValueError, match=r"needs the labels: call it as D\(x, y\)"):
        D(torch.randn(2, *shape))
    assert D(G(torch.randn(2, LATENT), torch.tensor([0, 2])), torch.tensor([0, 2])).shape == (2,)

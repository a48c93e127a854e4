"""Every penalty against an independent computation: closed forms on a linear D, per-sample autograd on a conv D,
finite differences on the weight gradient."""

from __future__ import annotations

import math
import subprocess
import sys

import lightning as L
import pytest
import torch
from torch import nn

from conftest import REPO_ROOT, TOY
from lightning_r1 import GAN, R1, R2, WGANGP, ZeroGP
from lightning_r1.data import Ring8DataModule
from lightning_r1.models.mlp import build_mlp
from lightning_r1.regularizers.base import apply_lazy_correction, auto_gamma
from lightning_r1.regularizers.gradient_penalty import interpolate
from lightning_r1.schedules import Schedule


class LinearD(nn.Module):
    """D(x) = w·vec(x) + b: its input gradient is w everywhere, so every penalty has a closed form."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(math.prod(shape), dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b


def small_conv_d() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.Softplus(),  # smooth, so second derivatives are non-trivial
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 1),
    ).double()


SHAPE = (2, 8, 8)


def batches(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, *SHAPE, generator=g, dtype=torch.float64), torch.randn(
        n, *SHAPE, generator=g, dtype=torch.float64
    )


# ---- closed forms on a linear discriminator --------------------------------------------------------------------
@pytest.mark.parametrize("gamma", [0.0, 0.5, 10.0])
def test_r1_r2_linear_d_closed_form(gamma: float) -> None:
    d = LinearD(SHAPE)
    real, fake = batches()
    expected = gamma / 2 * d.w.detach().square().sum()
    torch.testing.assert_close(R1(gamma=gamma)(d, real, fake).detach(), expected)
    torch.testing.assert_close(R2(gamma=gamma)(d, real, fake).detach(), expected)


@pytest.mark.parametrize("weight", [1.0, 10.0])
def test_gradient_penalties_linear_d_closed_form(weight: float) -> None:
    d = LinearD(SHAPE)
    real, fake = batches()
    norm = d.w.detach().norm()
    torch.testing.assert_close(WGANGP(weight=weight)(d, real, fake).detach(), weight * (norm - 1) ** 2)
    torch.testing.assert_close(ZeroGP(weight=weight)(d, real, fake).detach(), weight * norm**2)


# ---- a conv discriminator against per-sample autograd by hand ----------------------------------------------------
def per_sample_sq_norms(d: nn.Module, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """||∇_x D(x_i)||² computed one sample at a time (no batching tricks)."""
    norms = []
    for xi in x:
        xi = xi[None].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(d(xi).squeeze(), xi, create_graph=create_graph)
        norms.append(sum(v * v for v in g.reshape(-1)))
    return torch.stack(norms)


@pytest.mark.parametrize("reg_cls, which", [(R1, "real"), (R2, "fake")])
def test_r1_r2_conv_d_match_per_sample_autograd(reg_cls: type, which: str) -> None:
    d = small_conv_d()
    real, fake = batches()
    gamma = 3.0
    ours = reg_cls(gamma=gamma)(d, real, fake)
    by_hand = gamma / 2 * per_sample_sq_norms(d, real if which == "real" else fake, create_graph=True).mean()
    torch.testing.assert_close(ours, by_hand)
    # weight gradients agree too: the penalty is differentiable w.r.t. D's weights, never detached
    params = list(
        d.parameters()
    )  # the last bias cannot change an input gradient: its gradient is 0 (materialised)
    g_ours = torch.autograd.grad(ours, params, allow_unused=True, materialize_grads=True)
    g_hand = torch.autograd.grad(by_hand, params, allow_unused=True, materialize_grads=True)
    assert any(g.abs().sum() > 0 for g in g_ours)
    for a, b in zip(g_ours, g_hand, strict=True):
        torch.testing.assert_close(a, b)


def test_r1_weight_gradient_matches_finite_differences() -> None:
    d = small_conv_d()
    real, fake = batches(3)
    r1 = R1(gamma=2.0)
    weight = d[0].weight
    (grad,) = torch.autograd.grad(r1(d, real, fake), weight)
    eps = 1e-6
    for index in [(0, 0, 1, 1), (3, 1, 0, 2), (2, 0, 2, 0)]:
        with torch.no_grad():
            weight[index] += eps
        up = r1(d, real, fake).item()
        with torch.no_grad():
            weight[index] -= 2 * eps
        down = r1(d, real, fake).item()
        with torch.no_grad():
            weight[index] += eps
        assert grad[index].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("reg_cls, center", [(WGANGP, 1.0), (ZeroGP, 0.0)])
def test_interpolate_penalties_conv_d_match_by_hand(reg_cls: type, center: float) -> None:
    d = small_conv_d()
    real, fake = batches()
    torch.manual_seed(7)
    ours = reg_cls(weight=4.0)(d, real, fake)
    torch.manual_seed(7)  # the same eps draw
    x_hat = interpolate(real, fake).detach()
    norms = per_sample_sq_norms(d, x_hat, create_graph=True).sqrt()
    torch.testing.assert_close(ours, 4.0 * (norms - center).square().mean())


def test_interpolates_use_one_eps_per_sample() -> None:
    real, fake = torch.zeros(64, *SHAPE), torch.ones(64, *SHAPE)
    x_hat = interpolate(real, fake)
    per_sample = x_hat.flatten(1)
    # every coordinate of a sample shares its eps (here x̂ = 1 − eps), and eps differs across samples in [0, 1]
    torch.testing.assert_close(per_sample, per_sample[:, :1].expand_as(per_sample))
    assert per_sample[:, 0].std() > 0.1
    assert per_sample.min() >= 0 and per_sample.max() <= 1


# ---- lazy regularization, schedules, auto gamma --------------------------------------------------------------------
def test_lazy_every_k_is_due_on_every_kth_step() -> None:
    r1 = R1(gamma=1.0, every=4)
    assert [r1.next_d_step() for _ in range(10)] == [True, False, False, False] * 2 + [True, False]


def test_cosine_schedule_hits_both_ends() -> None:
    r1 = R1(gamma={"kind": "cosine", "start": 10.0, "end": 1.0, "length": 100})
    assert r1.strength_at(0) == pytest.approx(10.0)
    assert r1.strength_at(50) == pytest.approx(5.5)
    assert r1.strength_at(100) == pytest.approx(1.0)
    assert r1.strength_at(1000) == pytest.approx(1.0)
    assert R1(gamma=3.0).strength_at(500) == 3.0
    assert R1(gamma=Schedule("linear", 2.0, 0.0, 10)).strength_at(5) == 1.0  # a Schedule object as is


def test_schedule_changes_the_penalty_value() -> None:
    d = LinearD(SHAPE)
    real, fake = batches()
    r1 = R1(gamma={"kind": "cosine", "start": 10.0, "end": 2.0, "length": 10})
    torch.testing.assert_close(r1(d, real, fake, iteration=10).detach(), 1.0 * d.w.detach().square().sum())
    torch.testing.assert_close(r1(d, real, fake).detach(), 5.0 * d.w.detach().square().sum())  # iteration 0


def test_auto_gamma_is_stylegan2_ada_heuristic() -> None:
    real = torch.zeros(32, 3, 64, 64)
    assert auto_gamma(real) == pytest.approx(0.0002 * 64**2 / 32)
    r1 = R1(gamma="auto")
    d = LinearD((3, 64, 64))
    value = r1(d, real.double(), real.double())
    torch.testing.assert_close(value.detach(), 0.0002 * 64**2 / 32 / 2 * d.w.detach().square().sum())
    with pytest.raises(ValueError, match="image batches"):
        auto_gamma(torch.zeros(8, 2))


def test_lazy_optimizer_correction_matches_stylegan2() -> None:
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.002, betas=(0.0, 0.99))
    apply_lazy_correction(opt, every=16)
    ratio = 16 / 17
    assert opt.param_groups[0]["lr"] == pytest.approx(0.002 * ratio)
    assert opt.param_groups[0]["betas"][1] == pytest.approx(0.99**ratio)


def test_state_round_trip() -> None:
    r1 = R1(gamma="auto", every=3)
    for _ in range(5):
        r1.next_d_step()
    r1.resolved_auto = 0.25
    copy = R1(gamma="auto", every=3)
    copy.load_state_dict(r1.state_dict())
    assert (copy.d_steps_seen, copy.resolved_auto) == (5, 0.25)
    assert "iteration" not in r1.state_dict()  # the GAN's Progress keeps the one iteration
    copy.load_state_dict(
        {"d_steps_seen": 2, "iteration": 7, "resolved_auto": None}
    )  # an earlier checkpoint's
    assert copy.d_steps_seen == 2
    assert R1().state_key != R2().state_key


# ---- argument checks ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: R1(gamma=-1.0), "Expected `gamma` to be a non-negative float or 'auto', got -1.0"),
        (lambda: R1(gamma=float("nan")), "`gamma`.*got nan"),
        (lambda: R2(gamma="big"), "`gamma`.*got 'big'"),
        (lambda: WGANGP(weight=-0.1), "Expected `weight` to be a non-negative float, got -0.1"),
        (lambda: ZeroGP(weight="auto"), "`weight`"),
        (lambda: R1(every=0), "Expected `every` to be an integer >= 1, got 0"),
        (lambda: R1(every=1.5), "`every`"),
        (
            lambda: R1(gamma={"kind": "step", "start": 1.0}),
            "Expected `gamma.kind` to be one of \\['constant', 'linear', 'cosine', 'cosine_warmup'\\], got 'step'",
        ),
        (
            lambda: R1(gamma={"kind": "cosine", "start": 1.0, "end": 0.1, "warmup": 5}),
            "`gamma.warmup` and `gamma.hold`",
        ),
        (
            lambda: R1(gamma={"kind": "cosine_warmup", "start": 1.0, "end": 0.1, "length": 10, "hold": 10}),
            "`gamma.warmup` \\+ `gamma.hold` < `gamma.length`",
        ),
        (lambda: R1(gamma={"kind": "cosine", "start": 1.0}), "`gamma.end`"),
        (
            lambda: R1(gamma={"kind": "cosine", "start": -1.0, "end": 0.0}),
            "`gamma.start` to be a non-negative",
        ),
        (
            lambda: WGANGP(weight={"kind": "linear", "start": 1.0, "end": 0.1, "lenght": 5}),
            "unknown field `lenght`",
        ),
    ],
)
def test_bad_arguments_raise_naming_the_argument(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


# ---- the training-loop side: schedule length, lazy correction, argument names -----------------------------------
def _fit_ring(callbacks: list, **trainer_kwargs) -> None:
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, diagnostics_every=0)  # iterations=None
    trainer = L.Trainer(accelerator="cpu", callbacks=callbacks, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, **trainer_kwargs)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=8))


def test_cosine_schedule_takes_its_length_from_max_steps() -> None:
    """GAN(iterations=None) trained with max_steps: the decay spans max_steps / (d_steps + 1) iterations (it used
    to stay constant silently)."""
    r1 = R1(gamma={"kind": "cosine", "start": 1.0, "end": 0.0})
    _fit_ring([r1], max_steps=20)
    assert r1.gamma.length == 10
    assert r1.strength_at(10) == 0.0 and r1.strength_at(5) == pytest.approx(0.5)


def test_cosine_schedule_without_any_length_raises_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"r1\.gamma\.length: a schedule needs the run's length"):
        _fit_ring(
            [R1(gamma={"kind": "cosine", "start": 1.0, "end": 0.0})], max_epochs=1, limit_train_batches=2
        )


def test_lazy_correction_with_different_intervals_is_refused() -> None:
    with pytest.raises(ValueError, match=r"share one `every`.*got \[2, 4\]"):
        _fit_ring([R1(every=2, lazy_correction=True), R2(every=4, lazy_correction=True)], max_steps=4)


def test_a_misspelt_argument_names_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"R1: unexpected argument `gama` \(did you mean `gamma`\?\); valid "
                                        r"arguments: gamma, every, lazy_correction"):  # fmt: skip
        R1(gama=5)
    with pytest.raises(TypeError, match=r"WGANGP: unexpected argument `lambda_`; valid arguments: weight"):
        WGANGP(lambda_=10)


def test_lazy_correction_is_applied_once_on_a_resumed_run(tmp_path) -> None:
    """The correction happens when D's optimizer is built, before Lightning restores the (already corrected) state."""
    lazy = lambda: [R1(gamma=1.0, every=4, lazy_correction=True)]  # noqa: E731
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, diagnostics_every=0, iterations=4)
    quiet = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                 enable_checkpointing=False)  # fmt: skip
    trainer = L.Trainer(callbacks=lazy(), **quiet)
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=8))
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    gan.iterations = 8
    resumed = L.Trainer(callbacks=lazy(), **quiet)
    resumed.fit(gan, datamodule=Ring8DataModule(batch_size=8), ckpt_path=tmp_path / "half.ckpt")
    group = gan.optimizers()[1].optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(2e-4 * 4 / 5) and group["betas"] == pytest.approx(
        (0.0, 0.99 ** (4 / 5))
    )


# ---- the schedule form through the real CLI ------------------------------------------------------------------------
def test_a_bad_strength_schedule_is_one_line_exit_2_before_training(tmp_path) -> None:
    """``regularizer.r1.gamma={kind: step, ...}``: one line naming the field, exit 2, nothing trained."""
    run_dir = tmp_path / "run"
    quick = ["trainer.enable_progress_bar=false", "samples_every=0", "checkpoint_every=0", "iterations=2"]
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), *TOY, *quick, "regularizer.r1.gamma={kind:step,start:1.0}",
         f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(
        "lightning_r1: error: regularizer.r1: Expected `gamma.kind` to be one of ['constant'"
    )
    assert not (run_dir / "checkpoints").exists()


def test_a_scheduled_gamma_from_an_override_is_built_once_and_read_at_the_iteration(make_cfg) -> None:
    """The override as composed by Hydra, built by the app's one construction (``build.instantiate_node``)."""
    from lightning_r1.build import instantiate_node

    cfg = make_cfg(["regularizer=[r1,r2]", "regularizer.r1.gamma={kind:linear,start:2.0,end:0.0,length:4}"])
    r1 = instantiate_node(cfg.regularizer.r1, "regularizer.r1")
    r2 = instantiate_node(cfg.regularizer.r2, "regularizer.r2")
    assert [r1.strength_at(i) for i in (0, 2, 4)] == [2.0, 1.0, 0.0] and r2.gamma == 10.0


def test_an_earlier_versions_saved_config_is_upgraded_to_the_schedule_form() -> None:
    """A checkpoint written before the one schedule form carries `schedule`, `gamma_final`, ... beside the strength
    (and `p_final`, ... beside ADA's p): reading it rewrites them, so the run still resumes with the same values."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from lightning_r1.resume import saved_config

    old = {
        "regularizer": {
            "r1": {"_target_": "lightning_r1.R1", "gamma": 2.0, "every": 1, "schedule": "cosine_warmup",
                   "gamma_final": 0.2, "schedule_iterations": 20, "schedule_warmup": 4, "schedule_hold": 0,
                   "lazy_correction": False},
            "wgan_gp": {"_target_": "lightning_r1.WGANGP", "weight": 10.0, "every": 1, "schedule": "constant",
                        "weight_final": None, "schedule_iterations": None, "schedule_warmup": 0, "schedule_hold": 0,
                        "lazy_correction": False},
            "instance_noise": {"_target_": "lightning_r1.regularizers.InstanceNoise", "sigma": 0.1,
                               "schedule": "linear", "sigma_final": 0.0, "schedule_iterations": 10,
                               "schedule_warmup": 0, "schedule_hold": 0},
        },
        "augment": {"_target_": "lightning_r1.augment.ADA", "target": None, "p": 0.0, "p_final": 0.55,
                    "p_ramp_iterations": 10, "p_schedule": "cosine"},
    }  # fmt: skip
    cfg = saved_config({"lightning_r1_config": OmegaConf.to_yaml(OmegaConf.create(old))})
    r1, gp = instantiate(cfg.regularizer.r1), instantiate(cfg.regularizer.wgan_gp)
    assert [r1.strength_at(i) for i in (0, 2, 4, 20)] == pytest.approx([0.0, 1.0, 2.0, 0.2])  # as before
    assert gp.weight == 10.0 and "schedule" not in cfg.regularizer.wgan_gp
    assert OmegaConf.to_container(cfg.regularizer.instance_noise) == {
        "_target_": "lightning_r1.augment.InstanceNoise",
        "sigma": {"kind": "linear", "start": 0.1, "end": 0.0, "length": 10, "warmup": 0, "hold": 0},
    }
    ada = instantiate(cfg.augment)
    assert ada.p_schedule.with_length(10).value_at(5) == pytest.approx(0.275)

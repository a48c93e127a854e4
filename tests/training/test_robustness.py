"""Nothing a user saved is lost: non-finite guard, exact resume, SIGTERM checkpoint; mixed-precision penalty math."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from conftest import REPO_ROOT, TOY, compose_config
from lightning_r1 import GAN, R1
from lightning_r1.app import train
from lightning_r1.data import Ring8DataModule
from lightning_r1.errors import NonFiniteLossError
from lightning_r1.models.mlp import build_mlp
from lightning_r1.regularizers import input_gradient_sq_norm


class NaNOnStep(R1):
    """R1 whose penalty turns NaN on one D step (0-based), to exercise the guard with the real training loop."""

    name = "nan_r1"

    def __init__(self, bad_step: int) -> None:
        super().__init__(gamma=1.0)
        self.bad_step = bad_step

    def per_sample(self, d_pass):
        values = super().per_sample(d_pass)
        return values * float("nan") if self.d_steps_seen - 1 == self.bad_step else values


def fit_toy(tmp_path: Path, callbacks: list, **gan_kwargs) -> GAN:
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, **gan_kwargs)
    trainer = L.Trainer(callbacks=callbacks, logger=False, enable_progress_bar=False, accelerator="cpu",
                        enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))
    return gan


def test_nan_stops_naming_iteration_and_term_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_train_steps=4, save_top_k=-1
    )  # every 2 iterations
    with pytest.raises(NonFiniteLossError, match=r"iteration 5: train/nan_r1 is nan"):
        fit_toy(tmp_path, [NaNOnStep(bad_step=5), ckpt], iterations=10)
    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert saved == ["epoch=0-step=4.ckpt", "epoch=0-step=8.ckpt"]  # nothing written after the NaN
    state = torch.load(tmp_path / "ckpt" / saved[-1], weights_only=False)
    assert state["lightning_r1"]["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_skip_policy_skips_and_counts(tmp_path: Path) -> None:
    gan = fit_toy(tmp_path, [NaNOnStep(bad_step=3)], iterations=8, skip_nonfinite=True)
    assert gan.iteration == 8 and gan.nonfinite_skips == 1
    assert all(torch.isfinite(p).all() for p in gan.parameters())


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]


@pytest.mark.parametrize(
    "data",
    [
        TOY,
        # a conv run on images: slow; the toy case keeps resume-is-bitwise in the default run
        pytest.param(
            ["dataset=mnist_5k", "model.width=8", "gan.latent_dim=8", "batch_size=16"], marks=pytest.mark.slow
        ),
    ],
    ids=["ring8", "mnist_5k"],
)
def test_resumed_run_ends_bitwise_equal(tmp_path: Path, data: list[str]) -> None:
    """Stop half-way (checkpoint at iteration 4 of 8), resume from it: same final weights, EMA and optimizers."""
    common = [
        *data,
        "iterations=8",
        "regularizer=[r1,r2]",
        "regularizer.r1.every=3",
        "gan.diagnostics_every=2",
    ]
    full = compose_config([*common, "checkpoint_every=4"], tmp_path / "full")
    train(full)
    half = tmp_path / "full" / "checkpoints" / "iter_4.ckpt"
    resumed = compose_config([*common, f"ckpt_path={half}"], tmp_path / "resumed")
    train(resumed)
    a, b = final_weights(tmp_path / "full"), final_weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    opt_a = torch.load(tmp_path / "full" / "checkpoints" / "last.ckpt", weights_only=False)[
        "optimizer_states"
    ]
    opt_b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)[
        "optimizer_states"
    ]
    for sa, sb in zip(opt_a, opt_b, strict=True):
        for pa, pb in zip(sa["state"].values(), sb["state"].values(), strict=True):
            assert torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])


def test_sigterm_saves_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = [sys.executable, str(REPO_ROOT / "train.py"), *TOY, "iterations=100000", "samples_every=5",
            "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while not (run_dir / "samples" / "iter_000010.png").exists():
        assert proc.poll() is None and time.time() < deadline, "training did not start"
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=False)
    stopped_at = state["lightning_r1"]["iteration"]
    assert stopped_at >= 10
    resumed = compose_config(
        [*TOY, f"iterations={stopped_at + 3}", f"ckpt_path={ckpt}"], tmp_path / "resumed"
    )
    train(resumed)
    assert final_weights(tmp_path / "resumed") and (tmp_path / "resumed" / "summary.json").exists()
    assert (
        torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)["lightning_r1"][
            "iteration"
        ]
        == stopped_at + 3
    )


# ---- mixed precision ---------------------------------------------------------------------------------------------
def test_loss_scaling_rescues_float16_input_gradients() -> None:
    """AMP recipe for gradient penalties: scale outputs before autograd.grad, unscale, norm in float32."""
    x = torch.full((4, 3), 0.5, dtype=torch.float16, requires_grad=True)
    out = (x * 1e-4 * 1e-4).sum(dim=1)  # d out / d x = 1e-8: below float16's smallest subnormal (6e-8)
    lost = input_gradient_sq_norm(out, x)
    rescued = input_gradient_sq_norm(out, x, grad_scale=2.0**12)
    assert torch.all(lost == 0)
    assert rescued.dtype == torch.float32
    torch.testing.assert_close(rescued, torch.full((4,), 3 * 1e-16), rtol=0.1, atol=0)


def test_grad_scale_is_exact_in_float32() -> None:
    lin = torch.nn.Linear(5, 1)
    x = torch.randn(8, 5, requires_grad=True)
    out = lin(x).squeeze(1)
    torch.testing.assert_close(
        input_gradient_sq_norm(out, x, grad_scale=1024.0), input_gradient_sq_norm(out, x)
    )


def test_bf16_mixed_run_matches_float32_penalties_closely(tmp_path: Path) -> None:
    metrics = {}
    for precision in ("32-true", "bf16-mixed"):
        cfg = compose_config([*TOY, "iterations=4", "regularizer=[r1,r2]", f"trainer.precision={precision}",
                              "gan.diagnostics_every=1"], tmp_path / precision)  # fmt: skip
        train(cfg)
        metrics[precision] = final_weights(tmp_path / precision)
    for key, value in metrics["32-true"].items():
        assert torch.isfinite(metrics["bf16-mixed"][key]).all()
        if value.is_floating_point() and "discriminator" in key:
            torch.testing.assert_close(metrics["bf16-mixed"][key], value, atol=0.05, rtol=0.05)

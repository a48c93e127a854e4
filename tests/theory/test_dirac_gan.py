"""The Dirac-GAN trained by the real GAN module and a real Trainer behaves as lightning_r1.theory predicts.

Runs are tiny (one scalar per player, SGD, h = 0.1, a few hundred iterations), so each takes a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from lightning_r1 import GAN, R1, WGANGP, InstanceNoise
from lightning_r1.app import train
from lightning_r1.callbacks import TrajectoryRecorder
from lightning_r1.data import DiracDataModule
from lightning_r1.models.dirac import build_dirac
from lightning_r1.report.dirac import load_sweep, rates_figure
from lightning_r1.theory import (
    DiracSetup,
    contraction,
    jacobian,
    log_distance_slope,
    simulate,
    step_matrix,
)

LR = 0.1


def run_dirac(
    tmp_path: Path,
    callbacks: list,
    iterations: int,
    loss: str = "minimax",
    update: str = "simultaneous",
    batch_size: int = 1,
    start: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Train the Dirac-GAN with SGD(h = LR); rows (theta, psi), row 0 = the start."""
    models = build_dirac(theta0=start[0], psi0=start[1])
    sgd = lambda params: torch.optim.SGD(params, lr=LR)  # noqa: E731
    gan = GAN(models.generator, models.discriminator, latent_dim=1, loss=loss, optimizer_g=sgd, optimizer_d=sgd,
              update=update, iterations=iterations, ema_half_life_images=0, diagnostics_every=0)  # fmt: skip
    recorder = TrajectoryRecorder(tmp_path / "trajectory.csv", figure=False)
    trainer = L.Trainer(callbacks=[*callbacks, recorder], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(gan, datamodule=DiracDataModule(batch_size=batch_size))
    rows = np.array(recorder.rows)
    assert rows.shape == (iterations + 1, 3) and (rows[:, 0] == np.arange(iterations + 1)).all()
    return rows[:, 1:]


def distance(trajectory: np.ndarray) -> np.ndarray:
    return np.hypot(trajectory[:, 0], trajectory[:, 1])


def slope_tolerance(setup: DiracSetup, window: int) -> float:
    """How far the fitted slope of log||x_k|| may sit from log ρ, ρ = max|1 + hλ|.

    Linearised, x_k = V Λ^k V⁻¹ x_0. With a complex pair, |Λ^k| = ρ^k exactly, so log||x_k|| - k·log ρ stays in an
    interval of width log cond(V) (the rotation in a non-orthogonal eigenbasis). A least-squares slope over ``window``
    points of a residual confined to width δ is off by at most 1.5·δ/window. With real eigenvalues the same bound
    holds once the fast mode has died out (its weight (ρ₂/ρ₁)^50 < 1e-3 at the start of our tail). The extra 1e-3
    covers the non-linear terms (σ(θψ) = 1/2 + θψ/4 + ..., relative size < 1e-2 on the tail) and float32.
    """
    eigvecs = np.linalg.eig(step_matrix(jacobian(setup), LR))[1]
    return 1.5 * np.log(np.linalg.cond(eigvecs)) / window + 1e-3


@pytest.mark.parametrize("gamma", [0.3, 1.5, 3.0])  # below and above the critical gamma = 2 f'(0) = 1
def test_r1_converges_at_the_predicted_rate(tmp_path: Path, gamma: float) -> None:
    iterations, tail = 250, 50
    measured = run_dirac(tmp_path, [R1(gamma)], iterations)
    setup = DiracSetup(gamma=gamma)
    # the sign conventions of the code and of the theory module agree: same trajectory, step by step
    np.testing.assert_allclose(measured, simulate(setup, 1.0, 1.0, LR, iterations), atol=1e-5)
    predicted = np.log(contraction(setup, LR))
    assert predicted < 0
    slope = log_distance_slope(measured, start=tail)
    assert abs(slope - predicted) <= slope_tolerance(setup, iterations + 1 - tail), (slope, predicted)
    assert distance(measured)[-1] < 0.15 * distance(measured)[0]


def test_r2_through_the_app_matches_theory(make_cfg) -> None:
    """``experiment=dirac_r2`` (R2, gamma 0.3) with gamma overridden to 0.7: CSV, PNG and the predicted rate."""
    iterations, tail = 250, 50
    cfg = make_cfg(["experiment=dirac_r2", "regularizer.r2.gamma=0.7", f"iterations={iterations}",
                    "model.theta0=1", "model.psi0=1", f"optim.lr={LR}"])  # fmt: skip
    train(cfg)
    run_dir = Path(cfg.run_dir)
    table = np.loadtxt(run_dir / "trajectory.csv", delimiter=",", skiprows=1)
    assert (run_dir / "trajectory.png").stat().st_size > 10_000
    measured = table[:, 1:]
    setup = DiracSetup(gamma=0.7)
    np.testing.assert_allclose(measured, simulate(setup, 1.0, 1.0, LR, iterations), atol=1e-5)
    slope = log_distance_slope(measured, start=tail)
    assert abs(slope - np.log(contraction(setup, LR))) <= slope_tolerance(setup, iterations + 1 - tail)


def test_r1_at_the_critical_gamma_through_the_app(make_cfg, tmp_path: Path) -> None:
    """γ = 1 (the repeated eigenvalue, docs/dirac_gan.md): the app's run is the theory's, and it decays like k·ρ^k.

    A fit of ρ to the run reads above ρ = 0.95; the rates report's "linearised run" column explains it: the same fit
    on ρ^k (x₀ + (kh/ρ) N x₀), N = J + I/2 (N² = 0), computed here by hand.
    """
    iterations = 300
    cfg = make_cfg(["experiment=dirac_r1", "regularizer.r1.gamma=1", f"iterations={iterations}", "model.theta0=1",
                    "model.psi0=1", f"optim.lr={LR}", "trainer.enable_progress_bar=false"])  # fmt: skip
    train(cfg)
    measured = np.loadtxt(Path(cfg.run_dir) / "trajectory.csv", delimiter=",", skiprows=1)[:, 1:]
    np.testing.assert_allclose(measured, simulate(DiracSetup(gamma=1.0), 1.0, 1.0, LR, iterations), atol=1e-5)
    rho, k = 1 - LR / 2, np.arange(iterations + 1)
    nil_x0 = np.array([[0.5, 0.5], [-0.5, -0.5]]) @ np.array([1.0, 1.0])
    by_hand = rho ** k[:, None] * (np.array([1.0, 1.0]) + (k * LR / rho)[:, None] * nil_x0)
    row = rates_figure(load_sweep(Path(cfg.run_dir)), tmp_path / "rates.png").splitlines()[-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "1" and float(cells[1]) == pytest.approx(rho, abs=1e-5)
    assert float(cells[4]) == pytest.approx(np.exp(log_distance_slope(by_hand, start=50)), abs=1e-5)
    assert rho < float(cells[4]) < float(cells[2])  # k·ρ^k reads above ρ; the non-linear start a little more
    assert distance(measured)[-1] == pytest.approx(2.93e-5, rel=0.02)  # ρ^300·√2 would be 2.9e-7


def test_no_penalty_simultaneous_spirals_out(tmp_path: Path) -> None:
    # ||x + h v||² = ||x||² + h²||v||² because x·v = θψσ - ψθσ = 0: the distance grows at every single step
    measured = run_dirac(tmp_path, [], 100)
    dist = distance(measured)
    assert (np.diff(dist) > 0).all()
    assert contraction(DiracSetup(), LR) == pytest.approx(np.sqrt(1 + LR**2 / 4))
    assert dist[-1] > 1.05 * dist[0]


def test_no_penalty_alternating_stays_in_a_band(tmp_path: Path) -> None:
    # the alternating step has determinant 1 and |trace| < 2: eigenvalues on the unit circle (neither in nor out)
    assert contraction(DiracSetup(), LR, "alternating") == pytest.approx(1.0, abs=1e-12)
    iterations = 400  # > 3 turns around the equilibrium (a turn takes ~2π/(h f'(0)) ≈ 126 iterations)
    measured = run_dirac(tmp_path, [], iterations, update="alternating")
    np.testing.assert_allclose(
        measured, simulate(DiracSetup(), 1.0, 1.0, LR, iterations, "alternating"), atol=1e-4
    )
    dist = distance(measured)
    assert 0.95 * dist[0] < dist.min() and dist.max() < 1.02 * dist[0]
    assert abs(log_distance_slope(measured)) < 1e-4  # no trend


def test_wgan_gp_does_not_converge(tmp_path: Path) -> None:
    """WGAN loss + WGAN-GP (weight 1): the trajectory never comes near (0, 0).

    From (1, 1) it slides to (2·weight, 0+), where the penalty's push away from ψ = 0 balances the adversarial pull.
    Once |ψ| < 1e-6 (where WGANGP floors the gradient norm, so the push vanishes) it is thrown across to
    (-2·weight, 0-), and back: a cycle at distance >= 1.15 (theory: lightning_r1.theory.simulate; there is no
    Jacobian to linearise).
    """
    iterations = 300
    measured = run_dirac(tmp_path, [WGANGP(1.0)], iterations, loss="wasserstein")
    theory = simulate(DiracSetup.method("wgan_gp", 1.0), 1.0, 1.0, LR, iterations)
    # after ~130 iterations float32 and float64 cross |ψ| = 1e-6 a step apart; compare before that
    np.testing.assert_allclose(measured[:120], theory[:120], atol=1e-4)
    dist = distance(measured)
    assert dist[20:].min() > 1.0
    assert measured[:, 0].max() > 1.9 and measured[:, 0].min() < -1.9  # thrown from one side to the other


def test_instance_noise_converges(tmp_path: Path) -> None:
    """sigma = 1 damps like R1 with gamma = sigma²/2 (predicted factor 0.976/step); the noise leaves a small jitter."""
    setup = DiracSetup(sigma=1.0)
    assert contraction(setup, LR) < 0.98
    torch.manual_seed(0)
    measured = run_dirac(tmp_path, [InstanceNoise(1.0)], 250, batch_size=16)
    dist = distance(measured)
    assert dist[-50:].mean() < 0.2 * dist[0]
    assert dist[-50:].max() < 0.5 * dist[0]

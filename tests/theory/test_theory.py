"""lightning_r1.theory: the Dirac-GAN's vector field, Jacobian, eigenvalues and predicted rates (docs/dirac_gan.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT
from lightning_r1.theory import (
    F_PRIME_0,
    F_SECOND_0,
    DiracSetup,
    NotDifferentiableError,
    alternating_invariant,
    contraction,
    critical_gamma,
    eigenvalues,
    jacobian,
    jacobian_closed_form,
    linearised_trajectory,
    r1_eigenvalues,
    simulate,
    step_matrix,
    vector_field,
)
from lightning_r1.theory.figures import (
    data_space_figure,
    eigenvalue_figure,
    fields_figure,
    save_trajectory_figure,
)

RNG = np.random.default_rng(0)


def sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def test_minimax_field_in_closed_form() -> None:
    """Our sign (D high on real): v = (ψσ(θψ), -θσ(θψ) - γψ)."""
    theta, psi = RNG.normal(size=(2, 50))
    v_theta, v_psi = vector_field(theta, psi, DiracSetup(gamma=0.7))
    np.testing.assert_allclose(v_theta, psi * sigmoid(theta * psi), atol=1e-12)
    np.testing.assert_allclose(v_psi, -theta * sigmoid(theta * psi) - 0.7 * psi, atol=1e-12)


def test_field_is_the_papers_under_psi_to_minus_psi() -> None:
    """Mescheder et al. write L = f(ψθ) + f(0), D maximising: v_paper = (-ψ f'(θψ), θ f'(θψ)), f'(t) = σ(-t)."""
    theta, psi = RNG.normal(size=(2, 50))
    v_theta, v_psi = vector_field(theta, -psi, DiracSetup())
    f_prime = sigmoid(-theta * psi)
    np.testing.assert_allclose(v_theta, -psi * f_prime, atol=1e-12)
    np.testing.assert_allclose(-v_psi, theta * f_prime, atol=1e-12)  # d(-ψ)/dt


@pytest.mark.parametrize("gamma, sigma", [(0.0, 0.0), (0.3, 0.0), (2.0, 0.0), (0.0, 0.8), (0.5, 1.5)])
def test_jacobian_matches_the_closed_form(gamma: float, sigma: float) -> None:
    expected = jacobian_closed_form(gamma, sigma)
    np.testing.assert_allclose(jacobian(DiracSetup(gamma=gamma, sigma=sigma)), expected, atol=1e-8)
    assert expected[1, 1] == pytest.approx(-gamma - sigma**2 / 2)  # 2 f''(0) σ² = -σ²/2


def test_no_penalty_eigenvalues_are_plus_minus_i_half() -> None:
    np.testing.assert_allclose(eigenvalues(DiracSetup()), [-0.5j, 0.5j], atol=1e-9)
    # same at the equilibrium for the non-saturating loss; WGAN's f'(0) = 1
    np.testing.assert_allclose(eigenvalues(DiracSetup(loss="nonsaturating")), [-0.5j, 0.5j], atol=1e-9)
    np.testing.assert_allclose(eigenvalues(DiracSetup(loss="wasserstein")), [-1j, 1j], atol=1e-9)


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.999, 1.001, 1.5, 3.0])
def test_r1_eigenvalues(gamma: float) -> None:
    closed = r1_eigenvalues(gamma)
    np.testing.assert_allclose(eigenvalues(DiracSetup(gamma=gamma)), closed, atol=1e-6)
    np.testing.assert_allclose(closed.sum(), -gamma)  # trace
    np.testing.assert_allclose(closed.prod(), F_PRIME_0**2)  # determinant
    assert (closed.real < 0).all()
    # complex below the critical γ = 2 f'(0) = 1, real above
    assert (abs(closed.imag) > 0).all() == (gamma < critical_gamma())


def test_instance_noise_eigenvalues_follow_the_paper() -> None:
    sigma = 1.2  # f''(0)σ² ± sqrt(f''(0)²σ⁴ - f'(0)²)
    a = F_SECOND_0 * sigma**2
    root = np.sqrt(complex(a**2 - F_PRIME_0**2))
    np.testing.assert_allclose(
        eigenvalues(DiracSetup(sigma=sigma)), np.sort_complex([a - root, a + root]), atol=1e-6
    )


def test_instance_noise_field_is_the_mean_over_the_noise() -> None:
    """Gauss-Hermite expectation vs Monte Carlo over (ε_real, ε_fake) at a few points."""
    rng = np.random.default_rng(1)
    eps_r, eps_f = rng.normal(size=(2, 400_000))
    for theta, psi in [(0.7, -0.4), (-1.0, 1.3)]:
        sigma = 0.9
        x_fake = theta + sigma * eps_f
        mc_theta = np.mean(psi * sigmoid(psi * x_fake))
        mc_psi = np.mean(sigma * eps_r * sigmoid(-psi * sigma * eps_r) - x_fake * sigmoid(psi * x_fake))
        v = vector_field(theta, psi, DiracSetup(sigma=sigma))
        np.testing.assert_allclose(v, (mc_theta, mc_psi), atol=5e-3)


def test_wgan_gp_has_no_jacobian() -> None:
    setup = DiracSetup.method("wgan_gp", 1.0)
    assert setup.loss == "wasserstein"
    with pytest.raises(NotDifferentiableError, match="not differentiable.*psi=0|psi=0.*not differentiable"):
        jacobian(setup)
    with pytest.raises(NotDifferentiableError):
        contraction(setup, 0.1)
    # the field jumps across ψ = 0 by 4·weight (the penalty pushes ψ away from 0 on both sides)
    _, above = vector_field(0.0, 1e-3, setup)
    _, below = vector_field(0.0, -1e-3, setup)
    assert float(above - below) == pytest.approx(4.0, abs=1e-2)


def test_simultaneous_factor_is_max_abs_one_plus_h_lambda() -> None:
    h = 0.1
    for gamma in (0.0, 0.3, 1.5):
        lam = r1_eigenvalues(gamma)
        assert contraction(DiracSetup(gamma=gamma), h) == pytest.approx(np.abs(1 + h * lam).max(), abs=1e-7)
    # complex pair: |1 + hλ|² = 1 - hγ + h² f'(0)²: simultaneous GD needs γ > h f'(0)² to converge
    assert contraction(DiracSetup(gamma=0.3), h) ** 2 == pytest.approx(1 - h * 0.3 + h**2 * 0.25, abs=1e-7)
    assert contraction(DiracSetup(), h) > 1 > contraction(DiracSetup(gamma=0.03), h)


def test_alternating_without_penalty_is_area_preserving() -> None:
    step = step_matrix(jacobian(DiracSetup()), 0.1, "alternating")
    assert np.linalg.det(step) == pytest.approx(1.0)
    assert contraction(DiracSetup(), 0.1, "alternating") == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="`update`"):
        step_matrix(step, 0.1, "sometimes")


@pytest.mark.parametrize("f1, lr", [(0.5, 0.1), (1.0, 0.1), (0.5, 0.7)])
def test_alternating_steps_conserve_a_tilted_quadratic_form(f1: float, lr: float) -> None:
    """docs/dirac_gan.md: alternating steps keep θ² + ψ² - h f'(0) θψ constant (linearised), not the distance."""
    a = lr * f1  # the step by hand: ψ' = ψ - aθ, then θ' = θ + aψ'
    step = np.array([[1.0, a], [0.0, 1.0]]) @ np.array([[1.0, 0.0], [-a, 1.0]])
    np.testing.assert_allclose(
        step, step_matrix(np.array([[0.0, f1], [-f1, 0.0]]), lr, "alternating"), atol=1e-15
    )
    # independent: the symmetric S with Mᵀ S M = S, from the null space of S ↦ Mᵀ S M - S (basis E11, E12+E21, E22)
    basis = [np.array([[1.0, 0], [0, 0]]), np.array([[0, 1.0], [1.0, 0]]), np.array([[0, 0], [0, 1.0]])]
    system = np.stack([(step.T @ b @ step - b).ravel() for b in basis], axis=1)
    null = np.linalg.svd(system)[2][-1]
    s_null = sum(c * b for c, b in zip(null / null[0], basis, strict=True))
    np.testing.assert_allclose(alternating_invariant(f1, lr), s_null, atol=1e-12)
    np.testing.assert_allclose(alternating_invariant(f1, lr), [[1, -a / 2], [-a / 2, 1]], atol=0)
    # iterating the linear map: Q constant to rounding, while the distance swings by the ellipse's axis ratio
    x = np.array([1.0, 1.0])
    traj = [x]
    for _ in range(2000):
        traj.append(step @ traj[-1])
    traj = np.array(traj)
    q = np.einsum("ki,ij,kj->k", traj, alternating_invariant(f1, lr), traj)
    np.testing.assert_allclose(q, q[0], rtol=1e-11)
    dist = np.hypot(*traj.T)
    expected_ratio = np.sqrt((1 + a / 2) / (1 - a / 2))
    assert dist.max() / dist.min() == pytest.approx(expected_ratio, rel=1e-3)


def test_alternating_run_from_one_one_swings_as_the_ellipse_says() -> None:
    """The non-linear run of docs/dirac_gan.md's table: distance 1.376-1.415, no trend; Q exact only near (0, 0)."""
    s = alternating_invariant(F_PRIME_0, 0.1)
    swing = {}
    for start in (1.0, 0.1, 0.01):
        traj = simulate(DiracSetup(), start, start, 0.1, 400, "alternating")
        dist = np.hypot(*traj.T)
        q = np.einsum("ki,ij,kj->k", traj, s, traj)
        swing[start] = (dist.max() / dist.min() - 1, q.max() / q.min() - 1)
        assert swing[start][0] == pytest.approx(np.sqrt(1.025 / 0.975) - 1, rel=0.15)  # the ellipse's 2.5 %
    assert swing[0.01][1] < 1e-5 and swing[0.1][1] < 1e-3  # Q's drift is the σ(θψ) non-linearity: ∝ start²
    traj = simulate(DiracSetup(), 1.0, 1.0, 0.1, 300, "alternating")
    dist = np.hypot(*traj.T)
    assert dist.min() == pytest.approx(1.376, abs=1e-3) and dist.max() == pytest.approx(1.415, abs=1e-3)


def test_repeated_root_at_the_critical_gamma_decays_like_k_rho_k() -> None:
    """γ = 2 f'(0) = 1: J = -I/2 + N with N = [[1/2, 1/2], [-1/2, -1/2]], N² = 0, so (I + hJ)^k = ρ^k I + kρ^(k-1) hN.

    The distance is ρ^k ‖x₀ + (kh/ρ) N x₀‖ ~ k·ρ^k (ρ = 1 - h/2 = 0.95), not ρ^k: a fitted factor reads above ρ.
    """
    h, rho, k = 0.1, 0.95, np.arange(301)
    nil = np.array([[0.5, 0.5], [-0.5, -0.5]])
    np.testing.assert_allclose(nil @ nil, 0, atol=0)
    np.testing.assert_allclose(jacobian_closed_form(1.0), -0.5 * np.eye(2) + nil, atol=0)
    r1 = DiracSetup(gamma=1.0)
    assert contraction(r1, h) == pytest.approx(rho, abs=1e-7)
    x0 = np.array([1.0, 1.0])
    closed = rho ** k[:, None] * (x0 + (k * h / rho)[:, None] * (nil @ x0))
    np.testing.assert_allclose(linearised_trajectory(r1, 1.0, 1.0, h, 300), closed, rtol=1e-6, atol=1e-15)
    # the project's exact (non-linear) dynamics follow it from a start near the equilibrium
    tiny = simulate(r1, 1e-4, 1e-4, h, 300)
    np.testing.assert_allclose(tiny, 1e-4 * closed, rtol=1e-5, atol=1e-20)
    # from (1, 1), once the non-linear start is over: distance = ρ^k (a + b k), i.e. distance / ρ^k grows by the
    # same amount every step (a straight line in k), where two distinct eigenvalues would level it off
    dist = np.hypot(*simulate(r1, 1.0, 1.0, h, 300).T)
    growth = np.diff(dist / rho**k)[150:]
    assert growth.min() > 0 and growth.max() / growth.min() < 1.01
    # docs/dirac_gan.md's numbers: 2.9e-5 after 300 steps where ρ^k·‖x₀‖ says 2.9e-7
    assert dist[300] == pytest.approx(2.93e-5, rel=0.01) and rho**300 * np.sqrt(2) == pytest.approx(
        2.93e-7, rel=0.01
    )


def test_simulate_spirals_out_and_in() -> None:
    out = np.hypot(*simulate(DiracSetup(), iterations=50).T)
    assert (np.diff(out) > 0).all()
    into = np.hypot(*simulate(DiracSetup(gamma=0.5), iterations=200).T)
    assert into[-1] < 0.02 * into[0]


def test_method_names() -> None:
    assert DiracSetup.method("r2", 0.4) == DiracSetup(gamma=0.4)
    assert DiracSetup.method("zero_gp", 0.4) == DiracSetup(gamma=0.8)
    assert DiracSetup.method("instance_noise", 2.0).sigma == 2.0
    with pytest.raises(ValueError, match="`name`"):
        DiracSetup.method("consensus")


def test_figures_are_written(tmp_path: Path) -> None:
    traj = simulate(DiracSetup(gamma=0.5), iterations=20)
    png = save_trajectory_figure(tmp_path / "t.png", traj, DiracSetup(gamma=0.5), lr=0.1)
    eig = eigenvalue_figure(tmp_path / "e.png")
    assert png.stat().st_size > 10_000 and eig.stat().st_size > 10_000


def test_data_space_and_fields_figures_are_written(tmp_path: Path) -> None:
    strip = data_space_figure(tmp_path / "d.png", frames=(0, 5, 10))
    fields = fields_figure(tmp_path / "f.png", iterations=20)
    assert strip.stat().st_size > 10_000 and fields.stat().st_size > 10_000


def test_wgan_gp_stalls_at_two_lambda_without_the_norm_floor(monkeypatch) -> None:
    """docs/r1_explained.md: the exact dynamics stall at (2λ, 0⁺); the cycle comes from WGANGP's norm floor."""
    import lightning_r1.theory.dirac as dirac

    setup = DiracSetup.method("wgan_gp", 1.0)
    with_floor = simulate(setup, 1.0, 1.0, 0.1, 300)
    assert with_floor[150, 1] < -1.0 and with_floor[-1, 0] == pytest.approx(-2.0, abs=1e-3)  # thrown across
    monkeypatch.setattr(dirac, "GP_NORM_FLOOR", 0.0)
    exact = simulate(setup, 1.0, 1.0, 0.1, 300)
    assert exact[100:, 0] == pytest.approx(2.0, abs=1e-4)  # θ stays at 2λ
    assert (exact[100:, 1] > 0).all() and exact[-1, 1] < 1e-12  # ψ → 0 from above, never crosses


# ---- the figure scripts of docs/r1_explained.md (scripts/figures/), at toy sizes, so they keep working ----------
SCRIPTS = REPO_ROOT / "scripts" / "figures"


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"figure_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manifold_script_separates_tangent_and_normal_parts(tmp_path: Path) -> None:
    manifold = _script("manifold")
    numbers = manifold.figure(tmp_path / "m.png", gamma=1.0, perturb=20, steps=60)
    assert (tmp_path / "m.png").stat().st_size > 10_000
    # the perturbation is a slope across the circle; R1 removes it much faster than the GAN loss alone
    assert numbers["start"]["normal"] > 3 * numbers["start"]["tangent"]
    held = numbers["held"]
    assert held["with R1, γ=1"]["normal"] < 0.2 * held["without R1"]["normal"]
    # a radial D has no tangent part and a normal part equal to its slope
    radial = lambda x: 0.7 * x.norm(dim=1)  # noqa: E731
    _, tangent, normal = manifold.components(radial, np.linspace(0, 2 * np.pi, 16, endpoint=False))
    np.testing.assert_allclose(tangent, 0, atol=1e-6)
    np.testing.assert_allclose(normal, 0.7, atol=1e-6)


def test_force_script_moves_samples_along_grad_x_d() -> None:
    force = _script("force")
    fake = np.array([[0.5, 0.0], [-1.0, 0.1]])
    along = force.generator_step(lambda x: 2.0 * x[:, 0], fake)
    across = force.generator_step(lambda x: 2.0 * x[:, 1], fake)
    assert (along[:, 0] > 0).all() and np.allclose(along[:, 1], 0)
    assert (across[:, 1] > 0).all() and np.allclose(across[:, 0], 0)


def test_mnist_gradient_script_runs(tmp_path: Path, capsys) -> None:
    import json

    _script("mnist_input_gradients").main(
        ["--iterations", "2", "--digits", "3", "--out", str(tmp_path / "g.png")]
    )
    out = capsys.readouterr().out
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["always_background_pixels"] > 0 and (tmp_path / "g.png").stat().st_size > 10_000
    assert set(summary) >= {"without R1", "with R1, γ=10"}
    assert all(v["grad_norm_real"] > 0 for k, v in summary.items() if k.startswith("with"))

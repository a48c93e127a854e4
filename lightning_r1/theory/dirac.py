"""The Dirac-GAN's training dynamics, exactly: vector field, Jacobian at the equilibrium, predicted rates.

Mescheder, Geiger, Nowozin 2018, "Which Training Methods for GANs do actually Converge?", §2-3. Generator
``G = δ_θ``, data ``δ_0``, discriminator ``D(x) = ψ·x``. Gradient descent on both players is the discrete version
of the flow ``(θ, ψ)' = v(θ, ψ)`` with ``v = (-∂L_G/∂θ, -∂L_D/∂ψ)``, each player descending its own loss.

Sign convention (this project's, checked against the real ``GAN`` module by tests/theory/test_dirac_gan.py): D is *high on
real*, ``L_D = softplus(-D(real)) + softplus(D(fake))`` and minimax ``L_G = -softplus(D(fake))``, with
``D(real) = ψ·0 = 0`` and ``D(fake) = ψθ``. Then, with ``f'(0) = 1/2``::

    v(θ, ψ) = (ψ·σ(θψ), -θ·σ(θψ) - γψ),       J(0, 0) = [[0, f'(0)], [-f'(0), -γ]]

The paper writes D's sign the other way (``L = f(ψθ) + f(0)``, D maximising it): its Jacobian is
``[[0, -f'(0)], [f'(0), -γ]]``. The two systems are the same under ``ψ → -ψ``; eigenvalues, rates and
convergence are identical, only the direction of rotation in the (θ, ψ) plane flips.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from lightning_r1.losses import AdversarialLoss, get_loss

F_PRIME_0 = 0.5  # f'(0) of f(t) = -log(1 + e^-t), the standard GAN loss
F_SECOND_0 = -0.25  # f''(0)
UPDATES = ("simultaneous", "alternating")
GP_NORM_FLOOR = 1e-6  # WGANGP takes sqrt(clamp_min(||∇D||², 1e-12)): its penalty is flat for |ψ| < 1e-6


class NotDifferentiableError(ValueError):
    """The vector field has no Jacobian at the equilibrium (WGAN-GP)."""


@dataclass(frozen=True)
class DiracSetup:
    """What acts on the Dirac-GAN: the adversarial loss and the regularizers' strengths.

    Attributes:
        loss: a name in :data:`lightning_r1.losses.LOSSES`.
        gamma: total zero-centred penalty strength on ψ. R1 and R2 coincide here (``∇_x D = ψ`` at every x, so
            each is ``gamma/2 · ψ²``); with both, use the sum of their gammas. ZeroGP(weight) is ``gamma = 2·weight``.
        sigma: instance-noise standard deviation (expected dynamics over the noise).
        gp_weight: WGAN-GP weight: ``weight · (|ψ| - 1)²``, which has a kink at ψ = 0.
    """

    loss: str = "minimax"
    gamma: float = 0.0
    sigma: float = 0.0
    gp_weight: float = 0.0

    @classmethod
    def method(cls, name: str, strength: float = 0.0, loss: str | None = None) -> DiracSetup:
        """``method("r1", 0.5)``, ``method("instance_noise", 1.0)``, ``method("wgan_gp", 1.0)``, ``method("none")``.

        WGAN-GP defaults to the Wasserstein loss (as in the paper, §3.2), the others to minimax.
        """
        default_loss = "wasserstein" if name == "wgan_gp" else "minimax"
        keys = {"none": None, "r1": "gamma", "r2": "gamma", "r1+r2": "gamma", "zero_gp": "gamma",
                "instance_noise": "sigma", "wgan_gp": "gp_weight"}  # fmt: skip
        if name not in keys:
            raise ValueError(f"Expected `name` to be one of {sorted(keys)}, got {name!r}")
        setup = cls(loss=loss or default_loss)
        if keys[name] is not None:
            value = 2.0 * strength if name == "zero_gp" else strength
            setup = replace(setup, **{keys[name]: float(value)})
        return setup


def _hermite(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights of E_{ε ~ N(0, 1)}[g(ε)] ≈ Σ w_k g(x_k) (Gauss-Hermite, probabilists' version)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return torch.tensor(x), torch.tensor(w / w.sum())


def vector_field(
    theta, psi, setup: DiracSetup = DiracSetup(), quadrature: int = 24
) -> tuple[np.ndarray, ...]:
    """The update direction ``v(θ, ψ) = (-∂L_G/∂θ, -∂L_D/∂ψ)`` at every point of the broadcast ``theta, psi``.

    Derivatives come from the project's own loss functions (:mod:`lightning_r1.losses`) by autograd, so the field
    is the one the ``GAN`` module follows (float64). With instance noise, the expectation over the noise on both
    inputs (Gauss-Hermite quadrature), i.e. the mean update of stochastic gradient descent.

    Returns:
        ``(v_theta, v_psi)``, numpy arrays of the broadcast shape.
    """
    loss: AdversarialLoss = get_loss(setup.loss)
    th, ps = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (theta, psi))
    th, ps = torch.broadcast_tensors(th, ps)
    shape = th.shape
    th, ps = th.reshape(-1, 1), ps.reshape(-1, 1)
    if setup.sigma > 0:
        nodes, weights = _hermite(quadrature)
        eps_real = nodes.repeat_interleave(quadrature)[None]
        eps_fake = nodes.repeat(quadrature)[None]
        weight = torch.outer(weights, weights).reshape(1, -1)
    else:
        eps_real = eps_fake = torch.zeros(1, 1, dtype=torch.float64)
        weight = torch.ones(1, 1, dtype=torch.float64)
    x_real = (setup.sigma * eps_real).expand(th.shape[0], -1)  # data at 0, plus noise
    x_fake = th + setup.sigma * eps_fake
    d_real = (ps * x_real).detach().requires_grad_(True)
    d_fake = (ps * x_fake).detach().requires_grad_(True)
    n = d_real.numel()  # losses are batch means: scale by n to get per-element derivatives
    g_real, g_fake = torch.autograd.grad(
        n * loss.d_loss(d_real.reshape(-1), d_fake.reshape(-1)), [d_real, d_fake]
    )
    d_fake_g = (ps * x_fake).detach().requires_grad_(True)
    (g_gen,) = torch.autograd.grad(
        n * loss.g_loss(d_fake_g.reshape(-1), d_real.detach().reshape(-1)), [d_fake_g]
    )
    # chain rule through D(x) = ψx: ∂D/∂ψ = x, ∂D(fake)/∂θ = ψ
    dl_dpsi = (weight * (g_real * x_real + g_fake * x_fake)).sum(1, keepdim=True)
    dl_dtheta = (weight * g_gen * ps).sum(1, keepdim=True)
    dl_dpsi = dl_dpsi + setup.gamma * ps  # gamma/2 · ψ²: R1 and R2 (∇_x D = ψ everywhere)
    # weight · (|ψ| - 1)², with gradient_penalty.py's floor on the norm (no push where |ψ| < 1e-6)
    outside_floor = (ps.abs() > GP_NORM_FLOOR).to(ps.dtype)
    dl_dpsi = dl_dpsi + 2 * setup.gp_weight * (ps.abs() - 1) * ps.sign() * outside_floor
    return (-dl_dtheta).reshape(shape).numpy(), (-dl_dpsi).reshape(shape).numpy()


def jacobian_closed_form(
    gamma: float = 0.0, sigma: float = 0.0, f1: float = F_PRIME_0, f2: float = F_SECOND_0
):
    """``J(0, 0) = [[0, f'(0)], [-f'(0), -gamma + 2 f''(0) σ²]]`` in this project's sign convention.

    R1/R2 add ``-gamma`` and instance noise ``2 f''(0) σ²`` (= ``-σ²/2`` for the standard loss) to D's diagonal entry
    (Mescheder et al. 2018, Lemma 3.1 and Theorems 3.2/4.1, with ψ → -ψ).
    """
    return np.array([[0.0, f1], [-f1, -gamma + 2.0 * f2 * sigma**2]])


def jacobian(setup: DiracSetup = DiracSetup(), step: float = 1e-5) -> np.ndarray:
    """Jacobian of :func:`vector_field` at the equilibrium (0, 0), rows ``(v_θ, v_ψ)``, columns ``(θ, ψ)``.

    Central differences of the exact field (error ~1e-10), so it holds for every loss in ``LOSSES``.

    Raises:
        NotDifferentiableError: with WGAN-GP (``gp_weight > 0``): its penalty ``weight·(|ψ| - 1)²`` has a kink at
            ψ = 0, where ∂/∂ψ jumps from ``+2·weight`` to ``-2·weight``; the field is discontinuous there, so no
            linearisation (and no eigenvalue argument) exists at the equilibrium — no proof either way; the paper
            (§3.2) shows that WGAN-GP with finitely many critic steps need not converge on the Dirac-GAN.
    """
    if setup.gp_weight > 0:
        raise NotDifferentiableError(
            "WGAN-GP has no Jacobian at the Dirac-GAN's equilibrium psi=0: its penalty weight*(|psi|-1)^2 is not "
            f"differentiable there (d/dpsi jumps from +{2 * setup.gp_weight:g} to -{2 * setup.gp_weight:g}), so "
            "the vector field is discontinuous at (0, 0)"
        )
    cols = []
    for dt, dp in ((step, 0.0), (0.0, step)):
        plus = np.array(vector_field(dt, dp, setup))
        minus = np.array(vector_field(-dt, -dp, setup))
        cols.append((plus - minus) / (2 * step))
    return np.stack(cols, axis=1)


def eigenvalues(setup: DiracSetup = DiracSetup()) -> np.ndarray:
    """Eigenvalues of :func:`jacobian` (complex, sorted by real part). Raises like :func:`jacobian`."""
    return np.sort_complex(np.linalg.eigvals(jacobian(setup)).astype(complex))


def r1_eigenvalues(gamma: float, f1: float = F_PRIME_0) -> np.ndarray:
    """Closed form with R1/R2: ``-gamma/2 ± sqrt(gamma²/4 - f'(0)²)``; complex below, real above ``2 f'(0)``."""
    root = np.sqrt(complex(gamma**2 / 4 - f1**2))
    return np.sort_complex(np.array([-gamma / 2 - root, -gamma / 2 + root]))


def critical_gamma(f1: float = F_PRIME_0) -> float:
    """``2 f'(0)`` (= 1): below it the eigenvalues are a complex pair (spiral), above they are real (no rotation)."""
    return 2.0 * f1


def step_matrix(jac: np.ndarray, lr: float, update: str = "simultaneous") -> np.ndarray:
    """Linearisation of one gradient-descent iteration around (0, 0) for learning rate ``lr``.

    ``simultaneous``: ``I + h J``. ``alternating`` (D step first, then G with the new ψ, as ``GAN`` does):
    ``ψ' = ψ + h(J₂₁θ + J₂₂ψ)``, ``θ' = θ + h(J₁₁θ + J₁₂ψ')``.
    """
    if update not in UPDATES:
        raise ValueError(f"Expected `update` to be one of {list(UPDATES)}, got {update!r}")
    eye = np.eye(2)
    if update == "simultaneous":
        return eye + lr * jac
    d_step = np.array([[1.0, 0.0], [lr * jac[1, 0], 1.0 + lr * jac[1, 1]]])
    g_step = np.array([[1.0 + lr * jac[0, 0], lr * jac[0, 1]], [0.0, 1.0]])
    return g_step @ d_step


def alternating_invariant(f1: float = F_PRIME_0, lr: float = 0.1) -> np.ndarray:
    """The quadratic form ``Q(x) = xᵀ S x`` that alternating steps keep constant without a penalty (linearised).

    With ``a = h f'(0)`` the linearised alternating step is ``ψ' = ψ - aθ``, then ``θ' = θ + aψ'`` (:func:`step_matrix`).
    Expanding ``θ'² + ψ'² - aθ'ψ'`` gives back ``θ² + ψ² - aθψ`` exactly, so ``S = [[1, -a/2], [-a/2, 1]]``
    (``Mᵀ S M = S``; the step is a symplectic Euler step, which conserves a modified energy, not ``θ² + ψ²``). The
    level sets are ellipses tilted by 45°: the distance to (0, 0) swings between ``sqrt(Q/(1 + a/2))`` and
    ``sqrt(Q/(1 - a/2))`` every half turn. With a penalty (γ > 0) ``det M < 1`` and no form is conserved.
    """
    a = lr * f1
    return np.array([[1.0, -a / 2], [-a / 2, 1.0]])


def linearised_trajectory(
    setup: DiracSetup = DiracSetup(),
    theta0: float = 1.0,
    psi0: float = 1.0,
    lr: float = 0.1,
    iterations: int = 300,
    update: str = "simultaneous",
) -> np.ndarray:
    """``x_k = M^k x_0`` with ``M = step_matrix(jacobian(setup))``: :func:`simulate` without the non-linear terms.

    Its distance decays like ``ρ^k`` (ρ = :func:`contraction`) when M has two distinct eigenvalues, but like
    ``k·ρ^k`` at a repeated one (γ = 2 f'(0), where M is a Jordan block): fitting ``ρ`` to a finite run then reads
    a factor above ``ρ``. Rows ``(θ, ψ)``, row 0 = the start. Raises like :func:`jacobian`.
    """
    step = step_matrix(jacobian(setup), lr, update)
    out = np.empty((iterations + 1, 2))
    out[0] = theta0, psi0
    for k in range(1, iterations + 1):
        out[k] = step @ out[k - 1]
    return out


def contraction(setup: DiracSetup = DiracSetup(), lr: float = 0.1, update: str = "simultaneous") -> float:
    """Predicted per-iteration factor on the distance to (0, 0): spectral radius of :func:`step_matrix`.

    For simultaneous GD this is ``max |1 + h λ|`` over the Jacobian's eigenvalues λ. Below 1: converges locally;
    above 1: spirals out; exactly 1 (alternating GD without penalty): neither. Raises like :func:`jacobian`.
    """
    return float(np.abs(np.linalg.eigvals(step_matrix(jacobian(setup), lr, update))).max())


def simulate(
    setup: DiracSetup = DiracSetup(),
    theta0: float = 1.0,
    psi0: float = 1.0,
    lr: float = 0.1,
    iterations: int = 300,
    update: str = "simultaneous",
) -> np.ndarray:
    """Deterministic gradient descent on :func:`vector_field` (float64); rows ``(θ, ψ)``, row 0 = the start.

    The GAN module's updates in float32 follow it to ~1e-6; with instance noise this is the *mean* dynamics.
    """
    if update not in UPDATES:
        raise ValueError(f"Expected `update` to be one of {list(UPDATES)}, got {update!r}")
    out = np.empty((iterations + 1, 2))
    theta, psi = float(theta0), float(psi0)
    out[0] = theta, psi
    for k in range(1, iterations + 1):
        v_theta, v_psi = vector_field(theta, psi, setup)
        if update == "simultaneous":
            theta, psi = theta + lr * float(v_theta), psi + lr * float(v_psi)
        else:
            psi = psi + lr * float(v_psi)
            theta = theta + lr * float(vector_field(theta, psi, setup)[0])
        out[k] = theta, psi
    return out


def log_distance_slope(trajectory: np.ndarray, start: int = 0) -> float:
    """Least-squares slope of ``log ||(θ, ψ)|| = log(θ² + ψ²)/2`` against the iteration, from row ``start`` on."""
    tail = np.asarray(trajectory, dtype=np.float64)[start:]
    logs = 0.5 * np.log(np.square(tail).sum(axis=1))
    return float(np.polyfit(np.arange(len(logs)), logs, 1)[0])

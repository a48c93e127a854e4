"""Figures of the Dirac-GAN theory: gradient vector fields with trajectories, eigenvalue paths over gamma.

    python -m lightning_r1.theory.figures --out docs/figures

writes ``dirac_fields.png`` (the field with and without R1, and the other methods, each with a gradient-descent
trajectory from (1, 1)), ``dirac_r1_vs_none.png`` (two of them side by side), ``dirac_eigenvalues.png`` (the
Jacobian's eigenvalues and the predicted per-step factor as gamma goes from 0 to 3·f'(0)) and
``dirac_data_space.png`` (the same runs seen in data space: the line D(x) = ψx and the generator's point, frame by
frame). Everything is computed from :mod:`lightning_r1.theory.dirac`, in the project's
sign convention (D high on real).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lightning_r1.plotting import subplots
from lightning_r1.theory.dirac import (
    F_PRIME_0,
    DiracSetup,
    NotDifferentiableError,
    contraction,
    critical_gamma,
    jacobian_closed_form,
    r1_eigenvalues,
    simulate,
    step_matrix,
    vector_field,
)


def describe(setup: DiracSetup) -> str:
    """A short label: loss and active regularizer strengths."""
    parts = [setup.loss]
    if setup.gamma:
        parts.append(f"R1/R2 γ={setup.gamma:g}")
    if setup.sigma:
        parts.append(f"noise σ={setup.sigma:g} (mean dynamics)")
    if setup.gp_weight:
        parts.append(f"WGAN-GP λ={setup.gp_weight:g}")
    if len(parts) == 1:
        parts.append("no penalty")
    return ", ".join(parts)


def predicted_rate_label(setup: DiracSetup, lr: float, update: str) -> str:
    try:
        rate = contraction(setup, lr, update)
    except NotDifferentiableError:
        return "no Jacobian at (0,0)"
    return f"predicted factor/step {rate:.4f}"


def plot_field(
    ax,
    setup: DiracSetup,
    trajectory: np.ndarray | None = None,
    lim: float = 2.0,
    label: str = "gradient descent",
) -> None:
    """Streamlines of ``v(θ, ψ)`` on ``[-lim, lim]²`` (colour: speed), the trajectory on top, the equilibrium."""
    grid = np.linspace(-lim, lim, 41)
    theta, psi = np.meshgrid(grid, grid)
    v_theta, v_psi = vector_field(theta, psi, setup)
    speed = np.hypot(v_theta, v_psi)
    ax.streamplot(
        grid, grid, v_theta, v_psi, color=speed, cmap="Greys", density=0.9, linewidth=0.7, arrowsize=0.8
    )
    if trajectory is not None:
        traj = np.asarray(trajectory)
        ax.plot(traj[:, 0], traj[:, 1], color="tab:red", lw=1.2, label=label)
        ax.plot(*traj[0], "o", color="tab:red", ms=5, label="start")
        ax.plot(*traj[-1], "s", color="tab:blue", ms=5, label="end")
    ax.plot(0, 0, marker="*", color="gold", mec="k", ms=12, label="equilibrium (0, 0)", ls="none")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("θ (generator: G = δ_θ)")
    ax.set_ylabel("ψ (discriminator: D(x) = ψx)")


def save_trajectory_figure(
    path: str | Path,
    trajectory: np.ndarray,
    setup: DiracSetup,
    lr: float | None = None,
    update: str = "simultaneous",
    lim: float = 2.0,
) -> Path:
    """One panel: the field of ``setup`` and a measured trajectory (used by the run directory's trajectory.png)."""
    path = Path(path)
    fig, ax = subplots(figsize=(5, 5), dpi=110)
    plot_field(
        ax,
        setup,
        trajectory,
        lim=max(lim, float(np.abs(trajectory).max()) * 1.05),
        label="measured trajectory",
    )
    dist = float(np.hypot(*np.asarray(trajectory)[-1]))
    title = f"{describe(setup)}, {update}"
    if lr is not None:
        title += f", h={lr:g}\n{predicted_rate_label(setup, lr, update)}; final distance {dist:.3g}"
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


FIELD_PANELS: list[tuple[DiracSetup, str]] = [
    (DiracSetup(), "simultaneous"),
    (DiracSetup(gamma=0.3), "simultaneous"),
    (DiracSetup(gamma=3.0), "simultaneous"),
    (DiracSetup(), "alternating"),
    (DiracSetup(sigma=1.0), "simultaneous"),
    (DiracSetup.method("wgan_gp", 1.0), "simultaneous"),
]


def fields_figure(path: str | Path, lr: float = 0.1, iterations: int = 300, lim: float = 2.5) -> Path:
    """Six panels: no penalty (simultaneous, alternating), R1 below/above the critical gamma, noise, WGAN-GP.

    ``lim`` 2.5 keeps WGAN-GP's stall point (2λ, 0⁺) = (2, 0) inside its panel.
    """
    fig, axes = subplots(2, 3, figsize=(13, 9), dpi=100)
    for ax, (setup, update) in zip(axes.flat, FIELD_PANELS, strict=True):
        traj = simulate(setup, 1.0, 1.0, lr, iterations, update)
        plot_field(ax, setup, traj, lim=lim)
        if setup.gp_weight:
            stall = 2 * setup.gp_weight
            ax.annotate(f"stalls at (2λ, 0⁺) = ({stall:g}, 0⁺),\nthen thrown to (−{stall:g}, 0⁻) by the norm floor",
                        (stall, 0.0), xytext=(-0.4, 1.3), fontsize=8, arrowprops=dict(arrowstyle="->", lw=0.8))  # fmt: skip
        dist = float(np.hypot(*traj[-1]))
        ax.set_title(
            f"{describe(setup)}, {update}\n{predicted_rate_label(setup, lr, update)}; "
            f"distance after {iterations}: {dist:.3g}",
            fontsize=9,
        )
    axes.flat[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"Dirac-GAN gradient vector fields and gradient descent from (1, 1), h = {lr:g}")
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def r1_field_figure(path: str | Path, gamma: float = 0.3, lr: float = 0.1, iterations: int = 300) -> Path:
    """Two panels for the explanation page: the same start without and with R1."""
    fig, axes = subplots(1, 2, figsize=(10, 5), dpi=100)
    for ax, setup in zip(axes, (DiracSetup(), DiracSetup(gamma=gamma)), strict=True):
        traj = simulate(setup, 1.0, 1.0, lr, iterations)
        plot_field(ax, setup, traj)
        ax.set_title(f"{'with R1, γ=' + format(gamma, 'g') if setup.gamma else 'without R1'}: "
                     f"distance {np.hypot(*traj[0]):.2f} → {np.hypot(*traj[-1]):.3g} in {iterations} steps",
                     fontsize=9)  # fmt: skip
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def data_space_figure(
    path: str | Path,
    gamma: float = 0.3,
    lr: float = 0.1,
    frames: tuple[int, ...] = (0, 10, 20, 30, 45, 60, 90, 150),
) -> Path:
    """A strip of frames in data space: the line D(x) = ψx and the generator's point θ, without and with R1.

    The same simultaneous gradient-descent runs from (1, 1) as :func:`r1_field_figure`. The arrow on the generated
    point is its update direction v_θ = ψ·σ(θψ): the force D's input gradient ∂D/∂x = ψ exerts through G's backprop.
    """
    iterations = max(frames)
    runs = [(DiracSetup(), "without R1"), (DiracSetup(gamma=gamma), f"with R1, γ={gamma:g}")]
    fig, axes = subplots(len(runs), len(frames), figsize=(2.1 * len(frames), 2.3 * len(runs) + 0.5),
                             dpi=100, sharex=True, sharey=True, squeeze=False)  # fmt: skip
    xs = np.array([-2.0, 2.0])
    for row, (setup, name) in enumerate(runs):
        traj = simulate(setup, 1.0, 1.0, lr, iterations)
        for col, k in enumerate(frames):
            ax = axes[row, col]
            theta, psi = traj[k]
            v_theta = float(vector_field(theta, psi, setup)[0])
            ax.axhline(0, color="grey", lw=0.6)
            ax.axvline(0, color="grey", lw=0.6)
            ax.plot(xs, psi * xs, color="0.35", lw=1.8, label="D(x) = ψx")
            ax.plot(0, 0, "o", color="tab:blue", ms=8, label="real data (x = 0)")
            ax.plot(theta, 0, "o", color="tab:orange", ms=8, label="generated (x = θ)")
            if abs(v_theta) > 1e-3:
                ax.annotate("", (theta + v_theta, 0.35), (theta, 0.35), annotation_clip=False,
                            arrowprops=dict(arrowstyle="->", color="tab:orange", lw=2))  # fmt: skip
            ax.set_title(f"iteration {k}: θ={theta:.2f}, ψ={psi:.2f}", fontsize=8)
            ax.set_xlim(-2, 2)
            ax.set_ylim(-1.6, 1.6)
            if col == 0:
                ax.set_ylabel(f"{name}\nD(x) (logit)", fontsize=9)
            if row == len(runs) - 1:
                ax.set_xlabel("x (data space)", fontsize=8)
    axes[0, 0].legend(loc="lower left", fontsize=7)
    fig.suptitle("The Dirac-GAN in data space (simultaneous GD, h = 0.1, from θ = ψ = 1). Orange arrow: the force on "
                 "the generated sample, v_θ = ψ·σ(θψ), in data units", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def eigenvalue_figure(path: str | Path, lr: float = 0.1, gamma_max: float = 3 * F_PRIME_0) -> Path:
    """Eigenvalues of J(0,0) with R1 as gamma goes 0 → ``gamma_max``, and the predicted factor max|1 + hλ|."""
    gammas = np.linspace(0.0, gamma_max, 301)
    eig = np.array([r1_eigenvalues(g) for g in gammas])
    crit = critical_gamma()
    fig, (ax1, ax2) = subplots(1, 2, figsize=(12, 5), dpi=100)
    for branch in range(2):
        sc = ax1.scatter(eig[:, branch].real, eig[:, branch].imag, c=gammas, cmap="viridis", s=6)
    fig.colorbar(sc, ax=ax1, label="γ")
    for g in (0.0, crit / 2, crit, gamma_max):
        lam = r1_eigenvalues(g)
        ax1.plot(lam.real, lam.imag, "kx", ms=7)
        ax1.annotate(
            f"γ={g:g}", (lam[1].real, lam[1].imag), textcoords="offset points", xytext=(5, 5), fontsize=8
        )
    ax1.axvline(0, color="grey", lw=0.6)
    ax1.axhline(0, color="grey", lw=0.6)
    ax1.set_xlabel("Re λ (negative: the continuous flow contracts)")
    ax1.set_ylabel("Im λ (non-zero: it rotates)")
    ax1.set_title("Eigenvalues of the Jacobian at (0,0): −γ/2 ± sqrt(γ²/4 − f'(0)²)")

    def radius(gamma: float, update: str) -> float:
        return float(np.abs(np.linalg.eigvals(step_matrix(jacobian_closed_form(gamma), lr, update))).max())

    rates = np.array([radius(g, "simultaneous") for g in gammas])
    ax2.plot(gammas, rates, label=f"simultaneous GD, h={lr:g}: max|1 + hλ|")
    alt = np.array([radius(g, "alternating") for g in gammas])
    ax2.plot(gammas, alt, "--", label="alternating GD: spectral radius of the step")
    ax2.axhline(1.0, color="grey", lw=0.6)
    ax2.axvline(crit, color="k", ls=":", label=f"critical γ = 2 f'(0) = {crit:g}")
    ax2.set_xlabel("γ")
    ax2.set_ylabel("predicted factor on the distance per iteration")
    ax2.set_title("Below 1: converges; fastest near the critical γ")
    ax2.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="docs/figures", help="output folder")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate h of the predicted rates")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for written in (
        fields_figure(out / "dirac_fields.png", lr=args.lr),
        r1_field_figure(out / "dirac_r1_vs_none.png", lr=args.lr),
        eigenvalue_figure(out / "dirac_eigenvalues.png", lr=args.lr),
        data_space_figure(out / "dirac_data_space.png", lr=args.lr),
    ):
        print(written)


if __name__ == "__main__":
    main()

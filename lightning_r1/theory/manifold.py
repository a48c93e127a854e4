"""What "D's gradient orthogonal to the data manifold" means, measured: ∇_x D on a circle, split into its tangent
and normal parts, with and without R1.

    OMP_NUM_THREADS=1 python -m lightning_r1.theory.manifold --out docs/figures/manifold_gradients.png

Data: the unit circle (a 1-D manifold in 2-D; 360 modes with std 0.002). The real ``GAN`` module and ``R1`` callback
train MLPs; then at real points x = (cos a, sin a), ``∇_x D`` splits into a tangent part (along the circle, direction
(-sin a, cos a)) and a normal part (across it, direction x). Also: the Dirac-GAN's ``∇_x D = ψ`` at its data point,
where every direction is normal to the (0-dimensional) manifold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lightning_r1 import GAN, R1  # noqa: E402
from lightning_r1.data.toy import GaussianMixtureDataModule, ring_modes  # noqa: E402
from lightning_r1.models.mlp import build_mlp  # noqa: E402
from lightning_r1.theory.dirac import DiracSetup, simulate  # noqa: E402


def train_on_circle(gamma: float, iterations: int, seed: int = 0) -> GAN:
    """A small MLP GAN on the unit circle (non-saturating loss, Adam), with R1(gamma) when gamma > 0."""
    L.seed_everything(seed, verbose=False)
    models = build_mlp(latent_dim=8, data_dim=2, hidden=64, layers=2)
    adam = lambda params: torch.optim.Adam(params, lr=5e-4, betas=(0.0, 0.99))  # noqa: E731
    gan = GAN(models.generator, models.discriminator, latent_dim=8, optimizer_g=adam, optimizer_d=adam,
              iterations=iterations, diagnostics_every=0)  # fmt: skip
    trainer = L.Trainer(callbacks=[R1(gamma)] if gamma > 0 else [], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(gan, datamodule=GaussianMixtureDataModule(ring_modes(360), std=0.002, batch_size=128))
    return gan


def split_gradient(discriminator: torch.nn.Module, angles: np.ndarray) -> tuple[np.ndarray, ...]:
    """Points on the circle, ∇_x D there, and its tangent and normal components (signed scalars)."""
    x = torch.tensor(np.stack([np.cos(angles), np.sin(angles)], 1), dtype=torch.float32, requires_grad=True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x)
    g = grad.numpy()
    normal_dir = x.detach().numpy()
    tangent_dir = np.stack([-normal_dir[:, 1], normal_dir[:, 0]], 1)
    return normal_dir, g, (g * tangent_dir).sum(1), (g * normal_dir).sum(1)


def figure(path: str | Path, gamma: float = 1.0, iterations: int = 800) -> list[str]:
    """Three panels (Dirac ψ over time; ∇_x D on the circle without / with R1); returns summary lines."""
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    fine = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), dpi=100)
    lines = []
    for setup, name in ((DiracSetup(), "no penalty"), (DiracSetup(gamma=0.3), "R1, γ=0.3")):
        axes[0].plot(simulate(setup, 1.0, 1.0, 0.1, 300)[:, 1], label=name)
    axes[0].axhline(0, color="grey", lw=0.6)
    axes[0].set_xlabel("iteration (simultaneous GD, h=0.1)")
    axes[0].set_ylabel("ψ = ∇_x D at the data point x = 0")
    axes[0].set_title(
        "Dirac-GAN: data = one point, every direction is normal;\nR1 drives D's gradient there to 0",
        fontsize=9,
    )
    axes[0].legend(fontsize=8)
    grid = np.linspace(-1.6, 1.6, 121)
    gx, gy = np.meshgrid(grid, grid)
    for ax, g in zip(axes[1:], (0.0, gamma), strict=True):
        gan = train_on_circle(g, iterations)
        disc = gan.discriminator.eval()
        with torch.no_grad():
            field = disc(torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)).numpy()
        im = ax.contourf(gx, gy, field.reshape(gx.shape), levels=30, cmap="coolwarm")
        fig.colorbar(im, ax=ax, shrink=0.8, label="D(x)")
        pts, grad, tangent, normal = split_gradient(disc, angles)
        # same scale in both panels: an arrow is as long (in data units) as the gradient's norm
        ax.quiver(pts[:, 0], pts[:, 1], grad[:, 0], grad[:, 1], color="k", angles="xy", scale_units="xy", scale=1.0,
                  width=0.004)  # fmt: skip
        with torch.no_grad():
            fake = gan.sample(400, ema=False).numpy()
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c="lime", alpha=0.6, label="generated")
        ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="k", lw=0.8, ls="--"))
        _, _, t_fine, n_fine = split_gradient(disc, fine)
        rms_t, rms_n = np.sqrt(np.mean(t_fine**2)), np.sqrt(np.mean(n_fine**2))
        label = "without R1" if g == 0 else f"with R1, γ={g:g}"
        ax.set_title(f"{label}: ∇_x D on the data circle (arrows, length = norm)\nRMS tangent {rms_t:.3g}, RMS normal {rms_n:.3g}",
                     fontsize=9)  # fmt: skip
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.6, 1.6)
        ax.set_aspect("equal")
        ax.legend(loc="lower left", fontsize=7)
        lines.append(
            f"{label}: RMS tangent part {rms_t:.4g}, RMS normal part {rms_n:.4g}, after {iterations} iterations"
        )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="docs/figures/manifold_gradients.png")
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=800)
    args = parser.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for line in figure(args.out, args.gamma, args.iterations):
        print(line)
    print(args.out)


if __name__ == "__main__":
    main()

"""The missing link, drawn: ∇ₓD at the generated samples is the force that moves them.

    python scripts/figures/force.py --out docs/figures/force_on_samples.png

Real data on a line (x₂ = 0). Two hand-made discriminators: one with a slope *along* the data, D(x) = a·x₁, one
with a slope *across* it, D(x) = a·x₂. The generated samples are the generator's outputs; one gradient step on the
project's non-saturating generator loss, backpropagated through D to its input, moves each sample by
``−h·∂L_G/∂x = h·σ(−D(x))·∇ₓD(x)``: along the data in the first case, off it in the second. The arrows are that
step, computed by autograd, not drawn by hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lightning_r1.losses import get_loss  # noqa: E402

SLOPE = 1.5
STEP = 0.5  # the generator's learning rate h, large so the arrows are visible


def generator_step(discriminator, fake: np.ndarray) -> np.ndarray:
    """The displacement of each generated sample after one G step: −h ∂L_G/∂x, by backprop through D."""
    x = torch.tensor(fake, dtype=torch.float64, requires_grad=True)
    loss = get_loss("nonsaturating").g_loss(discriminator(x), None) * len(fake)  # per-sample gradients
    (grad,) = torch.autograd.grad(loss, x)
    return -STEP * grad.numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="docs/figures/force_on_samples.png")
    args = parser.parse_args(argv)
    real = np.stack([np.linspace(-1.8, 1.8, 10), np.zeros(10)], 1)
    fake = np.array([[-1.3, 0.03], [-0.5, -0.02], [0.2, 0.02], [1.0, -0.03]])
    panels = [
        (
            lambda x: SLOPE * x[:, 0],
            f"slope ALONG the data, D(x) = {SLOPE:g}·x₁:\nsamples slide between real points",
        ),
        (
            lambda x: SLOPE * x[:, 1],
            f"slope ACROSS the data, D(x) = {SLOPE:g}·x₂:\nsamples are thrown off the data",
        ),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), dpi=100, gridspec_kw={"wspace": 0.3})
    grid = np.linspace(-2, 2, 81)
    gx, gy = np.meshgrid(grid, grid)
    vmax = SLOPE * 2
    for ax, (disc, title) in zip(axes, panels, strict=True):
        values = disc(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
        im = ax.contourf(gx, gy, values, levels=np.linspace(-vmax, vmax, 25), cmap="RdBu_r")
        ax.axhline(0, color="tab:blue", lw=3, alpha=0.35, label="data manifold (x₂ = 0)")
        ax.scatter(*real.T, c="tab:blue", s=30, zorder=3, label="real samples")
        ax.scatter(*fake.T, c="tab:orange", s=45, zorder=4, edgecolors="k", label="generated samples")
        move = generator_step(disc, fake)
        for (x0, y0), (dx, dy) in zip(fake, move, strict=True):
            ax.annotate("", (x0 + dx, y0 + dy), (x0, y0), arrowprops=dict(arrowstyle="->", lw=2, color="k"))
        ax.scatter(*(fake + move).T, facecolors="none", edgecolors="tab:orange", s=45, zorder=4,
                   label="after one G step")  # fmt: skip
        ax.set_xlim(-2, 2)
        ax.set_ylim(-1.2, 1.2)
        ax.set_aspect("equal")
        ax.set_xlabel("x₁ (along the data)")
        ax.set_ylabel("x₂ (off the data)")
        ax.set_title(title, fontsize=10)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.8, label="D(x) (logit; red = 'real')")
    fig.suptitle("G learns by backprop through D's input: each sample moves along h·σ(−D)·∇ₓD (arrows: one step)",
                 fontsize=10)  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, bbox_inches="tight")
    plt.close(fig)
    print(args.out)


if __name__ == "__main__":
    main()

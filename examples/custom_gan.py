"""Drop-in use 1: your own generator and discriminator, trained by lightning_r1.GAN with R1 + R2 callbacks.

python examples/custom_gan.py --iterations 500
"""

from __future__ import annotations

import argparse

import lightning as L
import torch
from torch import nn

from lightning_r1 import GAN, R1, R2
from lightning_r1.console import quiet_known_notices
from lightning_r1.data import Ring8DataModule


def my_generator(latent_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(latent_dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))


def my_discriminator() -> nn.Module:
    # logits of shape [N, 1] are fine; no BatchNorm in D (R1 needs per-sample input gradients)
    return nn.Sequential(
        nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1)
    )


def main(iterations: int, out: str) -> GAN:
    L.seed_everything(0)
    gan = GAN(my_generator(8), my_discriminator(), latent_dim=8, loss="nonsaturating", iterations=iterations)
    with quiet_known_notices():  # optional: Lightning's advertisement and its internal deprecations hidden
        trainer = L.Trainer(
            callbacks=[R1(gamma=1.0), R2(gamma=1.0)],
            max_epochs=-1,  # the length is GAN(iterations=); without it Lightning announces a 1000-epoch limit
            default_root_dir=out,
            accelerator="cpu",
            enable_progress_bar=False,
            logger=False,
            enable_checkpointing=False,
        )
        trainer.fit(gan, datamodule=Ring8DataModule(batch_size=64))
    radius = gan.sample(1000).norm(dim=1)
    print(f"trained {iterations} iterations; mean radius {radius.mean():.3f} (data: 1.0)")
    return gan


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--out", default="outputs/examples/custom_gan")
    args = parser.parse_args()
    torch.set_num_threads(2)
    main(args.iterations, args.out)

"""Drop-in use 2: your own LightningModule (your own loop) calling the R1 penalty directly.

    python examples/own_lightning_module.py --iterations 500

Only the penalty comes from lightning_r1: ``R1(gamma)(D, real, fake)`` returns gamma/2 · mean ||∇_x D(real)||²,
differentiable w.r.t. D's weights, to add to your D loss.
"""

from __future__ import annotations

import argparse

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from lightning_r1 import R1
from lightning_r1.data import Ring8DataModule


class MyGAN(L.LightningModule):
    def __init__(self, latent_dim: int = 8, gamma: float = 1.0) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.latent_dim = latent_dim
        self.G = nn.Sequential(nn.Linear(latent_dim, 64), nn.ReLU(), nn.Linear(64, 2))
        self.D = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
        self.r1 = R1(gamma=gamma)  # used as a plain callable, not as a callback

    def configure_optimizers(self):
        return (
            torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=(0.0, 0.99)),
            torch.optim.Adam(self.D.parameters(), lr=1e-3, betas=(0.0, 0.99)),
        )

    def training_step(self, real: torch.Tensor, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        z = torch.randn(real.shape[0], self.latent_dim, device=self.device)
        fake = self.G(z)
        # D step: adversarial loss + R1 (the penalty runs its own D forward on the real batch)
        d_loss = F.softplus(-self.D(real)).mean() + F.softplus(self.D(fake.detach())).mean()
        penalty = self.r1(self.D, real, fake)
        opt_d.zero_grad()
        self.manual_backward(d_loss + penalty)
        opt_d.step()
        # G step
        g_loss = F.softplus(-self.D(fake)).mean()
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.log_dict({"d_loss": d_loss, "g_loss": g_loss, "r1": penalty.detach()})


def main(iterations: int) -> MyGAN:
    L.seed_everything(0)
    model = MyGAN()
    trainer = L.Trainer(max_steps=2 * iterations, accelerator="cpu", enable_progress_bar=False, logger=False,
                        enable_checkpointing=False)  # fmt: skip
    trainer.fit(model, datamodule=Ring8DataModule(batch_size=64))
    print(f"trained {iterations} iterations; last R1 penalty {float(trainer.callback_metrics['r1']):.4f}")
    return model


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    main(parser.parse_args().iterations)

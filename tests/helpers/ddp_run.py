"""Helper script for tests/distributed/test_ddp.py (not a test itself): a few GAN iterations on ring8 with one process and
batch 16, or with N processes (gloo, CPU) and batch 16/N each, written as a user of the Python API writes it
(``seed_everything``, build, fit). Saves the final state dict from rank 0."""

import sys

import lightning as L
import torch

from lightning_r1 import GAN, R1, R2, WGANGP
from lightning_r1.data import Ring8DataModule
from lightning_r1.distributed import GANDDPStrategy
from lightning_r1.models.mlp import build_mlp

PENALTIES = {"r1": lambda: [R1(gamma=1.0)], "wgan_gp": lambda: [WGANGP(weight=10.0)],
             "r1_lazy_r2": lambda: [R1(gamma=1.0, every=2), R2(gamma=0.5)]}  # fmt: skip


def main(out: str, devices: int, penalty: str, loss: str) -> None:
    torch.set_num_threads(1)
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, loss=loss, iterations=4, d_steps=2)
    # no re-seeding by hand: the GAN re-seeds at set-up, at the same point as Lightning's DDP does
    strategy = GANDDPStrategy(process_group_backend="gloo", start_method="popen") if devices > 1 else "auto"
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy=strategy, callbacks=PENALTIES[penalty](),
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16 // devices))
    if trainer.is_global_zero:
        torch.save(gan.state_dict(), out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])

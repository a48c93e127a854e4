"""Helper script for tests/distributed/test_posthoc_ema_ddp.py (not a test itself): 8 GAN iterations on ring8 with
post-hoc EMA (σ_rel 0.05 and 0.10, snapshots every 4), with one process and batch 16 or with N processes (gloo, CPU)
and batch 16/N each. Snapshots go to ``<out>/checkpoints/posthoc``; every rank saves its own averages to
``<out>/rank<r>.pt``."""

import sys
from pathlib import Path

import lightning as L
import torch

from lightning_r1 import GAN, R1
from lightning_r1.callbacks.posthoc_ema import PosthocEMA
from lightning_r1.data import Ring8DataModule
from lightning_r1.distributed import GANDDPStrategy
from lightning_r1.models.mlp import build_mlp


def main(out: Path, devices: int) -> None:
    torch.set_num_threads(1)
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, iterations=8)
    posthoc = PosthocEMA(sigma_rels=[0.05, 0.10], snapshot_every=4, run_dir=out)
    strategy = GANDDPStrategy(process_group_backend="gloo", start_method="popen") if devices > 1 else "auto"
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy=strategy, callbacks=[R1(gamma=1.0), posthoc],
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16 // devices))
    torch.save(posthoc.state_dict(), out / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))

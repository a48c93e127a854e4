"""Helper script for tests/distributed/test_ddp.py (not a test itself): a tiny DCGAN on MNIST-5k with the FID callback, on one
process (batch 16) or N processes (gloo, CPU, batch 16/N each). Every rank writes what it saw of the metrics.

    python ddp_metrics_run.py OUT_DIR DEVICES [CACHE_NAME]    # CACHE_NAME: a folder under OUT_DIR (default: cache)

Shares are unequal on purpose: 250 samples in batches of 64 and 501 real images over 2 processes."""

import json
import sys
from pathlib import Path

import lightning as L
import torch

from lightning_r1 import GAN, R1
from lightning_r1.data import MNIST5kDataModule
from lightning_r1.distributed import GANDDPStrategy
from lightning_r1.metrics import FidelityMetrics
from lightning_r1.models.dcgan import build_dcgan


class CountingFidelityMetrics(FidelityMetrics):
    """The real callback, counting how often this process computes the metrics."""

    compute_calls = 0

    def compute(self, pl_module: L.LightningModule) -> dict[str, float]:
        self.compute_calls += 1
        return super().compute(pl_module)


def main(out_dir: str, devices: int, cache: str = "cache") -> None:
    torch.set_num_threads(1)
    L.seed_everything(0)
    models = build_dcgan(latent_dim=16, resolution=32, channels=1, width=4)
    gan = GAN(models.generator, models.discriminator, latent_dim=16, iterations=4, diagnostics_every=0)
    fid = CountingFidelityMetrics(every=2, num_samples=250, num_real_samples=501, batch_size=64, kid=True, prc=True,
                                  kid_subset_size=100, cache_dir=str(Path(out_dir) / cache), verbose=False)  # fmt: skip
    strategy = GANDDPStrategy(process_group_backend="gloo", start_method="popen") if devices > 1 else "auto"
    # float64: 1 and 2 processes then train to the same weights (float32 Adam turns the all-reduce's summation order
    # into ~1e-3 differences, README "Scaling up"), so what is compared is the sharded evaluation alone
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy=strategy, callbacks=[R1(gamma=1.0), fid],
                        precision="64-true", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False)  # fmt: skip
    trainer.fit(gan, datamodule=MNIST5kDataModule(batch_size=16 // devices))
    seen = {"history": fid.history, "callback_metric": float(trainer.callback_metrics["val/fid"]),
            "compute_calls": fid.compute_calls, "real_reads": fid._real.reads}  # fmt: skip
    (Path(out_dir) / f"devices{devices}_{cache}_rank{trainer.global_rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:])

"""Wall time of one ``FidelityMetrics`` evaluation on 1 or N processes (DDP over gloo, one thread each).

    python benchmarks/eval_time.py --devices 1 --out /tmp/eval1.json
    python benchmarks/eval_time.py --devices 2 --out /tmp/eval2.json

A tiny DCGAN on MNIST-5k trains 2 iterations; the callback evaluates after each: the first evaluation on a cold
cache (the real-data pass, sharded under DDP, plus the generated samples), the second on the warm cache (generated
samples only). Each rank times its ``compute`` (generation, feature extraction, gather, scoring); the figure is the
slowest rank's, since every rank waits for the broadcast of the result.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from lightning_r1 import GAN
from lightning_r1.data import MNIST5kDataModule
from lightning_r1.distributed import GANDDPStrategy
from lightning_r1.metrics import FidelityMetrics
from lightning_r1.models.dcgan import build_dcgan


class TimedFidelityMetrics(FidelityMetrics):
    """The real callback; records the wall time of each ``compute`` on this process."""

    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.seconds: list[float] = []

    def compute(self, pl_module: L.LightningModule) -> dict[str, float]:
        t0 = time.perf_counter()
        out = super().compute(pl_module)
        self.seconds.append(time.perf_counter() - t0)
        return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--num-samples", type=int, default=5000)
    p.add_argument("--num-real", type=int, default=5000)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    L.seed_everything(0)
    models = build_dcgan(latent_dim=64, resolution=32, channels=1, width=8)
    gan = GAN(models.generator, models.discriminator, latent_dim=64, iterations=2, diagnostics_every=0)
    cache = (
        Path(tempfile.mkdtemp(prefix="eval_time_cache_")) if args.devices == 1 else args.out.parent / "cache2"
    )
    fid = TimedFidelityMetrics(every=1, num_samples=args.num_samples, num_real_samples=args.num_real,
                               cache_dir=str(cache), verbose=False)  # fmt: skip
    strategy = (
        GANDDPStrategy(process_group_backend="gloo", start_method="popen") if args.devices > 1 else "auto"
    )
    trainer = L.Trainer(accelerator="cpu", devices=args.devices, strategy=strategy, callbacks=[fid], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        use_distributed_sampler=False)  # fmt: skip
    trainer.fit(gan, datamodule=MNIST5kDataModule(batch_size=16 // args.devices))
    seconds = trainer.strategy.all_gather(torch.tensor(fid.seconds, dtype=torch.float64))
    seconds = seconds.reshape(args.devices, -1).max(dim=0).values.tolist()  # the slowest rank
    result = {"devices": args.devices, "cold_s": seconds[0], "warm_s": seconds[1], "history": fid.history,
              "num_samples": args.num_samples, "num_real": args.num_real}  # fmt: skip
    if trainer.is_global_zero:
        args.out.write_text(json.dumps(result, indent=2))
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

"""Time of FID during training: the ``FidelityMetrics`` callback's in-memory path vs torch-fidelity on PNG folders.

    python benchmarks/fid_time.py --quick                    # ~1-2 minutes on 2 CPU cores
    python benchmarks/fid_time.py --out fid_time.json        # the figures in docs/benchmarks.md

Set-up: a DCGAN ``GAN`` on MNIST-5k (32x32, grey) with ``FidelityMetrics(feature_extractor="mnist-classifier")``
attached to a real ``Trainer``; one ``trainer.fit`` iteration wires the callback (real images, cache key). Then, for
``--rounds`` rounds, in one process, interleaved:

- ``memory_cold`` / ``memory_warm``: ``FidelityMetrics.compute(gan)`` (what the callback runs at each evaluation:
  EMA-generator samples → uint8 in memory → ``torch_fidelity.calculate_metrics`` against the training set), with the
  real-statistics cache deleted first (the first evaluation of a run) and then with it in place (every later one).
- ``png_cold`` / ``png_warm``: the same samples written as PNG files (``torchvision.utils.save_image``, one file
  per sample, as a user without the callback would) and ``calculate_metrics(input1=<folder>, input2=<real PNG
  folder>, input2_cache_name=...)``, with torch-fidelity's real cache deleted first, then with it in place.
  Reported with and without the PNG writing. The real PNG folder is written once (its time is reported, not
  counted).

Every evaluation counts the feature extractor's forward calls and images, and the real-dataset items read: a warm
evaluation must extract features of the generated samples only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from step_time import LATENT_DIM, build_models, machine  # noqa: E402


class ExtractorCounter:
    """Counts forward calls / images through the ``mnist-classifier`` extractor (patched at class level)."""

    def __init__(self) -> None:
        from lightning_r1.metrics.mnist_extractor import MnistClassifierFeatureExtractor

        self.calls = self.images = 0
        cls, original = MnistClassifierFeatureExtractor, MnistClassifierFeatureExtractor.forward
        counter = self

        def forward(self, x):  # noqa: ANN001, ANN202
            counter.calls += 1
            counter.images += x.shape[0]
            return original(self, x)

        cls.forward = forward

    def snapshot(self) -> tuple[int, int]:
        return self.calls, self.images


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--num-samples", type=int, default=5000, help="generated samples per evaluation (callback default)"
    )
    p.add_argument("--num-real", type=int, default=None, help="real images (default: all 5,000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="1,000 samples, 2 rounds")
    p.add_argument("--workdir", default=None, help="folder for caches and PNGs (default: a temporary one)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.num_samples, args.rounds = 1000, 2
    return args


def write_pngs(images: torch.Tensor, folder: Path) -> float:
    """Write float images in [-1, 1] as PNGs (same quantisation as the in-memory path); return seconds."""
    from torchvision.utils import save_image

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    for i, img in enumerate(images.cpu()):
        save_image(img, folder / f"{i:06d}.png", normalize=True, value_range=(-1, 1))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import lightning as L  # configures its loggers on import; quieten them after
    import torch_fidelity

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from lightning_r1 import GAN
    from lightning_r1.data import MNIST5kDataModule
    from lightning_r1.metrics import FidelityMetrics

    work = Path(args.workdir or tempfile.mkdtemp(prefix="fid_time_"))
    work.mkdir(parents=True, exist_ok=True)
    cache_mem, cache_png = work / "cache_memory", work / "cache_png"
    torch.manual_seed(0)
    generator, discriminator = build_models("dcgan", 32, args.width)
    gan = GAN(generator, discriminator, latent_dim=LATENT_DIM, iterations=1, diagnostics_every=0)
    dm = MNIST5kDataModule(batch_size=64, resolution=32, channels=1)
    cb = FidelityMetrics(
        every=0,
        num_samples=args.num_samples,
        feature_extractor="mnist-classifier",
        cache_dir=str(cache_mem),
        batch_size=args.batch_size,
        num_real_samples=args.num_real,
        verbose=False,
    )
    counter = ExtractorCounter()
    trainer = L.Trainer(
        accelerator="gpu" if args.device.startswith("cuda") else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[cb],
    )
    trainer.fit(gan, datamodule=dm)  # one iteration; its end-of-training evaluation warms imports and caches
    gan.to(torch.device(args.device))  # Lightning's teardown moves a GPU module back to the CPU
    assert cb.active and cb._real is not None

    real = cb._real

    real_png = work / "real_png"
    real_imgs = torch.stack([dm.train_dataset[i] for i in real.indices])
    t_real_png = write_pngs(real_imgs, real_png)
    common = dict(
        fid=True,
        feature_extractor="mnist-classifier",
        batch_size=args.batch_size,
        save_cpu_ram=True,
        cuda=args.device.startswith("cuda"),
        verbose=False,
    )

    def clear(folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def run(kind: str) -> dict[str, Any]:
        cold = kind.endswith("cold")
        calls0, images0 = counter.snapshot()
        reads0 = real.reads
        rec: dict[str, Any] = {}
        if kind.startswith("memory"):
            if cold:
                clear(cache_mem)
            rec["real_pass_expected"] = cb.real_pass_needed()
            generate, gen_time = cb.generate, []

            def timed_generate(module):  # noqa: ANN001, ANN202
                t = time.perf_counter()
                out = generate(module)
                gen_time.append(time.perf_counter() - t)
                return out

            cb.generate = timed_generate
            t0 = time.perf_counter()
            fid = cb.compute(gan)["val/fid"]
            rec["total_s"] = time.perf_counter() - t0
            del cb.generate
            rec.update(generate_s=gen_time[0], metric_s=rec["total_s"] - gen_time[0])
        else:
            if cold:
                clear(cache_png)
            fake_png = work / "fake_png"
            t0 = time.perf_counter()
            with torch.random.fork_rng():
                torch.manual_seed(cb.seed)
                images = gan.sample(cb.num_samples, ema=True, batch_size=cb.batch_size)
            t_gen = time.perf_counter() - t0
            t_write = write_pngs(images, fake_png)
            t1 = time.perf_counter()
            out = torch_fidelity.calculate_metrics(
                input1=str(fake_png),
                input2=str(real_png),
                input2_cache_name="bench-real-png",
                cache_root=str(cache_png),
                cache=True,
                **common,
            )
            t_metric = time.perf_counter() - t1
            fid = float(out[torch_fidelity.KEY_METRIC_FID])
            rec.update(
                generate_s=t_gen,
                write_png_s=t_write,
                metric_s=t_metric,
                total_s=t_gen + t_write + t_metric,
                total_without_write_s=t_gen + t_metric,
            )
        calls1, images1 = counter.snapshot()
        rec.update(
            fid=fid,
            extractor_calls=calls1 - calls0,
            extractor_images=images1 - images0,
            real_items_read=real.reads - reads0,
        )
        return rec

    load_start = list(os.getloadavg())
    kinds = ["memory_cold", "memory_warm", "png_cold", "png_warm"]
    records: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    print(
        f"{args.num_samples} generated vs {len(real)} real images; {args.rounds} rounds; load {os.getloadavg()}",
        flush=True,
    )
    for r in range(args.rounds):
        order = kinds if r % 2 == 0 else ["png_cold", "png_warm", "memory_cold", "memory_warm"]
        for k in order:
            records[k].append(run(k))
            rec = records[k][-1]
            print(
                f"round {r + 1} {k:<12} {rec['total_s']:7.2f} s  fid={rec['fid']:.4f}  extractor images="
                f"{rec['extractor_images']}  real items read={rec['real_items_read']}",
                flush=True,
            )

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in records[kind])

    summary = {
        k: {key: med(k, key) for key in records[k][0] if isinstance(records[k][0][key], (int, float))}
        for k in kinds
    }
    result = {
        "memory_over_png": summary["memory_warm"]["total_s"] / summary["png_warm"]["total_s"],
        "memory_over_png_without_write": summary["memory_warm"]["total_s"]
        / summary["png_warm"]["total_without_write_s"],
        "memory_cold_over_png_cold": summary["memory_cold"]["total_s"] / summary["png_cold"]["total_s"],
        "memory_warm_over_cold": summary["memory_warm"]["total_s"] / summary["memory_cold"]["total_s"],
        "warm_does_no_real_pass": all(
            r["real_items_read"] == 0 and r["extractor_images"] == args.num_samples
            for r in records["memory_warm"]
        ),
        "median_s": summary,
        "records": records,
        "real_png_write_s": t_real_png,
        "num_samples": args.num_samples,
        "num_real": len(real),
        "fid_memory_minus_png": summary["memory_warm"]["fid"] - summary["png_warm"]["fid"],
        "load_average_start": load_start,
        "machine": machine(args),  # its load_average is the one at the end
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    print(
        f"\n{'path':<12} {'total s':>8} {'generate':>9} {'PNG write':>10} {'metric':>8} {'w/o write':>10} "
        f"{'extractor imgs':>15} {'real read':>10}"
    )
    for k in kinds:
        m = summary[k]
        print(
            f"{k:<12} {m['total_s']:8.2f} {m['generate_s']:9.2f} {m.get('write_png_s', 0.0):10.2f} "
            f"{m['metric_s']:8.2f} {m.get('total_without_write_s', m['total_s']):10.2f} "
            f"{m['extractor_images']:15.0f} {m['real_items_read']:10.0f}"
        )
    print(
        f"memory/png (warm): {result['memory_over_png']:.3f} (vs png without writing: "
        f"{result['memory_over_png_without_write']:.3f}); cold: {result['memory_cold_over_png_cold']:.3f}; "
        f"memory warm/cold {result['memory_warm_over_cold']:.3f}; warm does no real pass: "
        f"{result['warm_does_no_real_pass']}; FID memory - png = {result['fid_memory_minus_png']:.2e}"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()

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
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))  # the bench package next to this script
from bench.allocator import restart_with_steady_malloc  # noqa: E402
from bench.common import (  # noqa: E402
    LATENT_DIM,
    add_device_args,
    build_models,
    command_line,
    machine,
    set_up_process,
)
from bench.fid import KINDS, ExtractorCounter, FidEvaluations, write_pngs  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--num-samples", type=int, default=5000, help="generated samples per evaluation (callback default)"
    )
    p.add_argument("--num-real", type=int, default=None, help="real images (default: all 5,000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    add_device_args(p)
    p.add_argument("--quick", action="store_true", help="1,000 samples, 2 rounds")
    p.add_argument("--workdir", default=None, help="folder for caches and PNGs (default: a temporary one)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.num_samples, args.rounds = 1000, 2
    return args


def wired_gan(args: argparse.Namespace, cache_dir: Path) -> tuple[Any, Any, Any]:
    """A DCGAN ``GAN``, its ``FidelityMetrics`` callback and the MNIST-5k data module, after a one-iteration
    ``trainer.fit`` (which wires the callback: real images, cache key; its end-of-training evaluation also warms
    imports and caches)."""
    import lightning as L

    from lightning_r1 import GAN
    from lightning_r1.data import MNIST5kDataModule
    from lightning_r1.metrics import FidelityMetrics

    torch.manual_seed(0)
    generator, discriminator = build_models("dcgan", 32, args.width)
    gan = GAN(generator, discriminator, latent_dim=LATENT_DIM, iterations=1, diagnostics_every=0)
    dm = MNIST5kDataModule(batch_size=64, resolution=32, channels=1)
    cb = FidelityMetrics(
        every=0,
        num_samples=args.num_samples,
        feature_extractor="mnist-classifier",
        cache_dir=str(cache_dir),
        batch_size=args.batch_size,
        num_real_samples=args.num_real,
        verbose=False,
    )
    trainer = L.Trainer(
        accelerator="gpu" if args.device.startswith("cuda") else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[cb],
    )
    trainer.fit(gan, datamodule=dm)
    gan.to(torch.device(args.device))  # Lightning's teardown moves a GPU module back to the CPU
    assert cb.active and cb._real is not None
    return gan, cb, dm


def print_summary(result: dict[str, Any]) -> None:
    print(
        f"\n{'path':<12} {'total s':>8} {'generate':>9} {'PNG write':>10} {'metric':>8} {'w/o write':>10} "
        f"{'extractor imgs':>15} {'real read':>10}"
    )
    for k in KINDS:
        m = result["median_s"][k]
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    set_up_process(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="fid_time_"))
    work.mkdir(parents=True, exist_ok=True)
    with ExtractorCounter() as counter:
        gan, cb, dm = wired_gan(args, work / "cache_memory")
        real = cb._real
        real_imgs = torch.stack([dm.train_dataset[i] for i in real.indices])
        t_real_png = write_pngs(real_imgs, work / "real_png")
        evaluations = FidEvaluations(gan, cb, counter, work, args.batch_size)

        load_start = list(os.getloadavg())
        records: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
        print(
            f"{args.num_samples} generated vs {len(real)} real images; {args.rounds} rounds; "
            f"load {os.getloadavg()}",
            flush=True,
        )
        for r in range(args.rounds):
            order = KINDS if r % 2 == 0 else KINDS[2:] + KINDS[:2]  # PNG first every other round
            for k in order:
                rec = evaluations.run(k)
                records[k].append(rec)
                print(
                    f"round {r + 1} {k:<12} {rec['total_s']:7.2f} s  fid={rec['fid']:.4f}  extractor images="
                    f"{rec['extractor_images']}  real items read={rec['real_items_read']}",
                    flush=True,
                )

    summary = {  # medians over the rounds of every numeric field
        k: {
            key: statistics.median(r[key] for r in records[k])
            for key, v in recs[0].items()
            if isinstance(v, (int, float))
        }
        for k, recs in records.items()
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
        "machine": machine(args.device),  # its load_average is the one at the end
        "command": command_line(),
    }
    print_summary(result)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    restart_with_steady_malloc()  # CPU timings without per-thread mmap/page-fault noise
    main()

"""The timed FID evaluations of ``fid_time.py``: the ``FidelityMetrics`` callback in memory vs PNG folders."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import torch

KINDS = ("memory_cold", "memory_warm", "png_cold", "png_warm")


class ExtractorCounter:
    """Counts forward calls and images through the ``mnist-classifier`` extractor, while in a ``with`` block
    (it patches the class's ``forward`` and restores it on exit)."""

    def __init__(self) -> None:
        self.calls = self.images = 0

    def __enter__(self) -> ExtractorCounter:
        from lightning_r1.metrics.mnist_extractor import MnistClassifierFeatureExtractor as cls

        self._cls, self._original = cls, cls.__dict__["forward"]
        original, counter = self._original, self

        def forward(self, x):  # noqa: ANN001, ANN202
            counter.calls += 1
            counter.images += x.shape[0]
            return original(self, x)

        cls.forward = forward
        return self

    def __exit__(self, *exc: object) -> None:
        self._cls.forward = self._original

    def snapshot(self) -> tuple[int, int]:
        return self.calls, self.images


def write_pngs(images: torch.Tensor, folder: Path) -> float:
    """Write float images in [-1, 1] as PNGs, one per file (same quantisation as the in-memory path); seconds."""
    from torchvision.utils import save_image

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    for i, img in enumerate(images.cpu()):
        save_image(img, folder / f"{i:06d}.png", normalize=True, value_range=(-1, 1))
    return time.perf_counter() - t0


def empty_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


class FidEvaluations:
    """Runs one evaluation of a kind in KINDS and returns its record: times, FID, extractor calls and images,
    real-dataset items read. ``callback`` is a ``FidelityMetrics`` already wired by a ``trainer.fit``; the real
    images must already be in ``work / "real_png"``."""

    def __init__(
        self, gan: Any, callback: Any, counter: ExtractorCounter, work: Path, batch_size: int
    ) -> None:
        self.gan, self.cb, self.counter, self.work = gan, callback, counter, work
        self.cache_memory, self.cache_png = work / "cache_memory", work / "cache_png"
        self.fidelity_args = dict(
            fid=True,
            feature_extractor="mnist-classifier",
            batch_size=batch_size,
            save_cpu_ram=True,
            cuda=gan.device.type == "cuda",
            verbose=False,
        )

    def run(self, kind: str) -> dict[str, Any]:
        calls0, images0 = self.counter.snapshot()
        reads0 = self.cb._real.reads
        cold = kind.endswith("cold")
        rec = self._memory(cold) if kind.startswith("memory") else self._png(cold)
        calls1, images1 = self.counter.snapshot()
        rec.update(
            extractor_calls=calls1 - calls0,
            extractor_images=images1 - images0,
            real_items_read=self.cb._real.reads - reads0,
        )
        return rec

    def _memory(self, cold: bool) -> dict[str, Any]:
        """What the callback runs at each evaluation; cold: its real-statistics cache deleted first."""
        if cold:
            empty_folder(self.cache_memory)
        rec: dict[str, Any] = {"real_pass_expected": self.cb.real_pass_needed()}
        generate, gen_time = self.cb.generate, []

        def timed_generate(module):  # noqa: ANN001, ANN202
            t = time.perf_counter()
            out = generate(module)
            gen_time.append(time.perf_counter() - t)
            return out

        self.cb.generate = timed_generate  # an instance attribute, over the method
        t0 = time.perf_counter()
        try:
            fid = self.cb.compute(self.gan)["val/fid"]
        finally:
            del self.cb.generate
        rec["total_s"] = time.perf_counter() - t0
        rec.update(generate_s=gen_time[0], metric_s=rec["total_s"] - gen_time[0], fid=fid)
        return rec

    def _png(self, cold: bool) -> dict[str, Any]:
        """The same samples as PNG files and torch-fidelity on the two folders; cold: its cache deleted first."""
        import torch_fidelity

        if cold:
            empty_folder(self.cache_png)
        t0 = time.perf_counter()
        with torch.random.fork_rng():
            torch.manual_seed(self.cb.seed)
            images = self.gan.sample(self.cb.num_samples, ema=True, batch_size=self.cb.batch_size)
        t_gen = time.perf_counter() - t0
        t_write = write_pngs(images, self.work / "fake_png")
        t1 = time.perf_counter()
        out = torch_fidelity.calculate_metrics(
            input1=str(self.work / "fake_png"),
            input2=str(self.work / "real_png"),
            input2_cache_name="bench-real-png",
            cache_root=str(self.cache_png),
            cache=True,
            **self.fidelity_args,
        )
        t_metric = time.perf_counter() - t1
        return {
            "generate_s": t_gen,
            "write_png_s": t_write,
            "metric_s": t_metric,
            "total_s": t_gen + t_write + t_metric,
            "total_without_write_s": t_gen + t_metric,
            "fid": float(out[torch_fidelity.KEY_METRIC_FID]),
        }

"""Intra-class FID: per-class FIDs of a conditional generator, averaged; it sees a generator that draws the wrong
class, which class-balanced FID does not."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
import torch_fidelity
from torch import Tensor

import lightning_r1.metrics  # noqa: F401  (registers the mnist-classifier extractor with torch-fidelity)
from lightning_r1.app import train
from lightning_r1.data.mnist_5k import load_mnist_5k, load_mnist_5k_labels
from lightning_r1.data.transforms import TensorImageDataset
from lightning_r1.metrics import MetricsSetupError
from lightning_r1.metrics.inputs import RealImages, UInt8Images
from lightning_r1.metrics.intra_fid import class_indices, dataset_labels, intra_fid


def test_class_indices_keep_each_class_in_order() -> None:
    labels = torch.tensor([2, 0, 1, 0, 2, 1])
    assert class_indices(labels, [5, 4, 3, 1, 0], 3) == [[3, 1], [5], [4, 0]]
    assert dataset_labels(TensorImageDataset(torch.zeros(3, 1, 2, 2), torch.tensor([1, 0, 1]))).tolist() == [
        1,
        0,
        1,
    ]
    with pytest.raises(ValueError, match="needs a labelled dataset"):
        dataset_labels(TensorImageDataset(torch.zeros(3, 1, 2, 2)))


class RealDigits(L.LightningModule):
    """A 'generator' that answers class c with real digits of class ``(c + shift) % 3`` (odd-numbered images)."""

    def __init__(self, images: Tensor, labels: Tensor, shift: int) -> None:
        super().__init__()
        self.images, self.labels, self.shift = images, labels, shift

    def sample(self, n: int, ema: bool = True, batch_size: int = 128, labels: Tensor | None = None) -> Tensor:
        assert labels is not None
        pool = torch.nonzero(self.labels == (int(labels[0]) + self.shift) % 3).flatten()
        return self.images[pool[torch.randperm(len(pool))[:n]]]


def fid(generated: UInt8Images, real: RealImages, label: int = 0) -> float:
    out = torch_fidelity.calculate_metrics(input1=generated, input2=real, fid=True, cache=False, verbose=False,
                                           feature_extractor="mnist-classifier", save_cpu_ram=True, cuda=False)  # fmt: skip
    return float(out[torch_fidelity.KEY_METRIC_FID])


@pytest.mark.slow  # eight torch-fidelity runs: ~50 s on the shared 2-core machine
def test_intra_fid_sees_the_wrong_class_that_class_balanced_fid_does_not() -> None:
    images = load_mnist_5k()[::2].float() / 255 * 2 - 1  # even-numbered digits: the "real" set
    labels = load_mnist_5k_labels()[::2]
    pool_images, pool_labels = load_mnist_5k()[1::2].float() / 255 * 2 - 1, load_mnist_5k_labels()[1::2]
    real = TensorImageDataset(images, labels)
    per_class = class_indices(labels, range(len(labels)), 3)  # classes 0, 1, 2
    right, wrong = RealDigits(pool_images, pool_labels, 0), RealDigits(pool_images, pool_labels, 1)
    torch.manual_seed(0)
    good, good_each = intra_fid(right, real, per_class, 100, fid)
    bad, bad_each = intra_fid(wrong, real, per_class, 100, fid)
    assert good == pytest.approx(sum(good_each) / 3) and len(bad_each) == 3
    # independent: class-balanced FID of the same two generators (all three classes pooled) barely differs
    everything = RealImages(real, [i for c in per_class for i in c])
    pooled = [UInt8Images.from_float(torch.cat([g.sample(100, labels=torch.full((1,), c)) for c in range(3)]))
              for g in (right, wrong)]  # fmt: skip
    fid_right, fid_wrong = fid(pooled[0], everything), fid(pooled[1], everything)
    assert bad > 5 * good  # the wrong class is seen per class ...
    assert abs(fid_wrong - fid_right) < 0.5 * bad  # ... and hardly at all once the classes are pooled


def test_intra_fid_needs_a_conditional_gan(make_cfg) -> None:
    cfg = make_cfg(
        ["iterations=2", "batch_size=8", "model.width=4", "gan.latent_dim=8", "metrics.intra_fid=true"]
    )
    with pytest.raises(MetricsSetupError, match="metrics.intra_fid=true needs a class-conditional GAN"):
        train(cfg)


@pytest.mark.slow
def test_a_conditional_run_logs_intra_fid(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(["conditional=true", "iterations=2", "batch_size=8", "model.width=4", "gan.latent_dim=8",
                    "metrics.intra_fid=true", "metrics.every=0", "metrics.num_samples=200",
                    f"metrics.cache_dir={tmp_path / 'cache'}"])  # fmt: skip
    train(cfg)
    summary = json.loads((Path(cfg.run_dir) / "summary.json").read_text())
    assert summary["metrics"]["val/intra_fid"] > 0 and "val/intra_fid" in summary["best"]
    assert (
        len(list((tmp_path / "cache").glob("*class9of10*"))) >= 1
    )  # the per-class real statistics are cached

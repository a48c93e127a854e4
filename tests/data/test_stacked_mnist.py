"""StackedMNIST: three independent MNIST-5k digits as the R, G, B channels, label 100·a + 10·b + c."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from lightning_r1.build import group_members
from lightning_r1.data import StackedMNISTDataModule
from lightning_r1.data.mnist_5k import load_mnist_5k, load_mnist_5k_labels


def test_each_channel_is_the_digit_of_its_triple_and_the_label_reads_the_three_digits() -> None:
    dm = StackedMNISTDataModule(batch_size=4, resolution=28, size=50)
    dm.setup("fit")
    digits, labels = load_mnist_5k(), load_mnist_5k_labels().tolist()
    triples = dm.train_dataset.triples
    for i in range(len(dm.train_dataset)):
        image, label = dm.train_dataset[i]
        assert image.shape == (3, 28, 28)
        for channel in range(3):
            expected = digits[int(triples[i, channel]), 0].float() / 127.5 - 1.0  # 28×28: no resize
            assert torch.allclose(image[channel], expected, atol=1e-6)
        # the label written out as three decimal digits, red first
        assert f"{int(label):03d}" == "".join(str(labels[int(t)]) for t in triples[i])


def test_batches_are_images_and_int64_labels_in_the_thousand_modes() -> None:
    dm = StackedMNISTDataModule(batch_size=16, size=64)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    assert y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) < 1000
    assert dm.num_classes == 1000 and len(dm.class_names) == 1000 and dm.class_names[427] == "427"


def test_the_training_set_is_fixed_by_index_seed_not_by_the_run() -> None:
    a, b, c = (StackedMNISTDataModule(size=100, index_seed=s) for s in (0, 0, 1))
    for dm in (a, b, c):
        dm.setup("fit")
    assert torch.equal(a.train_dataset.triples, b.train_dataset.triples)
    assert not torch.equal(a.train_dataset.triples, c.train_dataset.triples)


def test_mode_distribution_is_the_product_of_digit_frequencies() -> None:
    counts = Counter(load_mnist_5k_labels().tolist())
    n = sum(counts.values())
    p = StackedMNISTDataModule.mode_distribution()
    assert p.shape == (1000,) and math.isclose(float(p.sum()), 1.0, abs_tol=1e-12)
    for a, b, c in [(0, 0, 0), (1, 2, 3), (9, 4, 7), (5, 5, 9)]:
        expected = counts[a] * counts[b] * counts[c] / n**3
        assert math.isclose(float(p[100 * a + 10 * b + c]), expected, rel_tol=1e-12)


def test_the_labels_of_the_training_set_follow_the_mode_distribution() -> None:
    dm = StackedMNISTDataModule(size=50_000)
    dm.setup("fit")
    counts = np.bincount(dm.train_dataset.labels.numpy(), minlength=1000)
    p = StackedMNISTDataModule.mode_distribution().numpy()
    # chi-square over 1000 cells: mean 999, sd ~45; a bug in the stacking (e.g. dependent channels) is far above
    chi2 = float(((counts - 50_000 * p) ** 2 / (50_000 * p)).sum())
    assert chi2 < 999 + 6 * math.sqrt(2 * 999)
    assert (counts > 0).all()


@pytest.mark.parametrize(
    "kwargs, field",
    [({"channels": 1}, "channels"), ({"size": 0}, "size"), ({"index_seed": -1}, "index_seed")],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"`{field}`"):
        StackedMNISTDataModule(**kwargs)


def test_batch_larger_than_the_set_is_refused_in_setup() -> None:
    dm = StackedMNISTDataModule(batch_size=20, size=10)
    with pytest.raises(ValueError, match="batch_size"):
        dm.setup("fit")


@pytest.mark.parametrize("regularizer, members", [("none", set()), ("r1", {"r1"}), ("[r1,r2]", {"r1", "r2"})])
def test_every_arm_of_the_r3gan_ablation_composes_with_built_regularizers(
    make_cfg, regularizer, members
) -> None:
    cfg = make_cfg(["experiment=stacked_mnist", f"regularizer={regularizer}", "loss=nonsaturating"])
    # the preset's gamma 1 for R1 and R2 stays behind as a bare setting for an arm without them: the app drops it
    built = group_members(cfg, "regularizer")
    assert set(built) == members and set(cfg.get("regularizer") or {}) == members
    assert all("_target_" in node and node.gamma == 1 for node in built.values())
    assert cfg.dataset._target_.endswith("StackedMNISTDataModule") and cfg.loss.name == "nonsaturating"

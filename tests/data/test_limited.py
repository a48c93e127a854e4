"""dataset.limit and dataset.mirror: the first N images, then their mirror images; FID keeps every image."""

from __future__ import annotations

import pytest
import torch

from lightning_r1.data import MNIST5kDataModule
from lightning_r1.data.limited import LimitedMirrored
from lightning_r1.data.transforms import TensorImageDataset


def test_limit_keeps_the_first_items_and_mirror_appends_their_flips() -> None:
    images = torch.arange(5 * 2 * 3, dtype=torch.float32).view(5, 1, 2, 3)
    ds = LimitedMirrored(TensorImageDataset(images), limit=3, mirror=True)
    assert len(ds) == 6
    for i in range(3):
        assert torch.equal(ds[i], images[i])
        assert torch.equal(ds[3 + i], images[i][:, :, [2, 1, 0]])
    labelled = LimitedMirrored([(images[0], 7)], mirror=True)
    flipped, label = labelled[1]
    assert label == 7 and torch.equal(flipped, images[0][:, :, [2, 1, 0]])


def test_the_datamodule_trains_on_the_limited_set_and_measures_on_all() -> None:
    dm = MNIST5kDataModule(batch_size=16, limit=100, mirror=True)
    dm.setup("fit")
    assert dm.num_samples == 200 and len(dm.reference_dataset) == 5000
    assert torch.equal(dm.train_dataset[150], dm.reference_dataset[50].flip(-1))


@pytest.mark.parametrize(
    "limit, match", [(0, "positive integer"), (True, "positive integer"), (6000, "at most")]
)
def test_bad_limits(limit, match) -> None:
    with pytest.raises(ValueError, match=f"`limit`.*{match}"):
        MNIST5kDataModule(batch_size=16, limit=limit).setup("fit")

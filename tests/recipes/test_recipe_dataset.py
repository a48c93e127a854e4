"""docs/architecture.md, "Where to add … a dataset", followed as written: a ``StreamDataModule`` subclass in a module
of one's own and a ``dataset/<name>.yaml`` in a config folder of one's own; no file of the package edited."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from recipe_cli import last_checkpoint, metric_rows, train, write

DATASET = '''
import torch
from torch.utils.data import IterableDataset

from lightning_r1.data import StreamDataModule


def line_batch(n):
    """n points on a line through 3-D space: (t, 2t, 1 − t), t evenly spaced in [−1, 1]."""
    t = torch.linspace(-1.0, 1.0, n)
    return torch.stack([t, 2 * t, 1 - t], dim=1)


class LineStream(IterableDataset):
    """Endless batches; the data module sets ``seed`` and ``start`` (unused: every batch is the same)."""

    def __init__(self, batch_size):
        self.batch_size, self.seed, self.start = batch_size, 0, 0

    def __iter__(self):
        while True:
            yield line_batch(self.batch_size)


class Line3D(StreamDataModule):
    name = "line3d"

    def __init__(self, batch_size=64, num_workers=0):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.stream = LineStream(self.batch_size)
        self.sample_shape = (3,)
'''

CONFIG = """_target_: my_data.Line3D
batch_size: ${batch_size}
"""


def test_a_dataset_from_a_folder_of_ones_own_is_what_the_discriminator_sees(tmp_path: Path) -> None:
    write(tmp_path, {"code/my_data.py": DATASET, "conf/dataset/line3d.yaml": CONFIG})
    # D's steps of 1e-30 leave its float32 weights as they are: the checkpoint's D scored every real batch
    run_dir = train(tmp_path, "dataset=line3d", "model.data_dim=3", "optim.d.lr=1e-30", "regularizer=none")
    w0, b0, w1, b1 = [
        v for k, v in last_checkpoint(run_dir)["state_dict"].items() if k.startswith("discriminator.")
    ]
    assert w0.shape == (8, 3)  # D reads 3-D samples
    t = torch.linspace(-1.0, 1.0, 16, dtype=torch.float64)
    real = torch.stack([t, 2 * t, 1 - t], dim=1)  # the batch the dataset yields, built here independently
    hidden = F.leaky_relu(real @ w0.double().T + b0.double(), 0.2)  # the MLP discriminator of model=mlp
    expected = float((hidden @ w1.double().T + b1.double()).mean())
    rows = metric_rows(run_dir, "train/d_real")
    assert [row["iteration"] for row in rows] == [1.0, 2.0, 3.0]
    for row in rows:
        assert math.isclose(row["train/d_real"], expected, rel_tol=1e-5, abs_tol=1e-7), (row, expected)

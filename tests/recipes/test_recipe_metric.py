"""docs/architecture.md, "Where to add … a metric", followed as written: a Lightning callback that samples the GAN and
publishes its value, in a module of one's own, and a ``metrics/<name>.yaml`` in a config folder of one's own; no file
of the package edited. (Ranking it in reports and a ``best`` in ``summary.json`` need its direction, a line in
``lightning_r1/metrics/vocabulary.py``: a package edit this test does not make.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from recipe_cli import last_checkpoint, metric_rows, train, write

METRIC = '''
import lightning as L
import torch

from lightning_r1.step_logging import publish


class SampleNorm(L.Callback):
    """val/sample_norm: the mean norm of ``num_samples`` EMA-generator samples from fixed latents (``seed``),
    every ``every`` iterations. The latents come from a private generator: training's random numbers are untouched."""

    def __init__(self, every=1, num_samples=64, seed=0):
        self.every, self.num_samples, self.seed = every, num_samples, seed
        self.last_iteration = None

    def on_train_batch_end(self, trainer, pl_module, *args):
        it = pl_module.iteration
        if it > 0 and it % self.every == 0 and it != self.last_iteration:  # once per iteration (d_steps > 1)
            self.last_iteration = it
            z = torch.randn(self.num_samples, pl_module.latent_dim, generator=torch.Generator().manual_seed(self.seed))
            value = float(pl_module.generate(z).norm(dim=1).mean())
            publish(trainer, pl_module, {"val/sample_norm": value})
'''

CONFIG = """_target_: my_metrics.SampleNorm
every: 1
num_samples: 64
seed: 0
"""


def test_a_metric_from_a_folder_of_ones_own_is_logged_and_summarised(tmp_path: Path) -> None:
    write(tmp_path, {"code/my_metrics.py": METRIC, "conf/metrics/sample_norm.yaml": CONFIG})
    run_dir = train(tmp_path, "metrics=sample_norm")
    rows = metric_rows(run_dir, "val/sample_norm")
    assert [row["iteration"] for row in rows] == [1.0, 2.0, 3.0]
    # the last value, recomputed from the checkpoint's EMA generator (model=mlp: Linear, ReLU, Linear) by hand
    w0, b0, w1, b1 = [v.double() for k, v in last_checkpoint(run_dir)["state_dict"].items()
                      if k.startswith("generator_ema.")]  # fmt: skip
    z = torch.randn(64, 4, generator=torch.Generator().manual_seed(0)).double()
    samples = torch.relu(z @ w0.T + b0) @ w1.T + b1
    expected = float(samples.norm(dim=1).mean())
    assert math.isclose(rows[-1]["val/sample_norm"], expected, rel_tol=1e-5), (rows[-1], expected)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert math.isclose(summary["metrics"]["val/sample_norm"], expected, rel_tol=1e-5)

"""docs/architecture.md, "Where to add … a loss", followed as written: a function returning an ``AdversarialLoss`` in
a module of one's own and a ``loss/<name>.yaml`` naming it in a config folder of one's own; no file of the package
edited (the built-in losses' ``LOSSES`` table is for the package's own)."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from recipe_cli import metric_rows, train, write
from torch import nn
from torch.utils.data import DataLoader

from lightning_r1 import GAN

LOSS = '''
import torch.nn.functional as F

from lightning_r1.losses import AdversarialLoss


def mean_gap_d(d_real, d_fake):
    """A throw-away loss of the batch means: softplus(mean D(fake) − mean D(real))."""
    return F.softplus(d_fake.mean() - d_real.mean())


def mean_gap_g(d_fake, d_real):
    return F.softplus(-d_fake.mean())


def paired_g(d_fake, d_real):
    """A G loss that compares with D(real), as relativistic losses do."""
    return F.softplus(d_real.mean() - d_fake.mean())


def mean_gap():
    return AdversarialLoss("mean_gap", mean_gap_d, mean_gap_g)


def mean_gap_paired():
    return AdversarialLoss("mean_gap_paired", mean_gap_d, paired_g, generator_reads_real=True)
'''


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_a_loss_from_a_folder_of_ones_own_trains_and_logs_its_value(tmp_path: Path) -> None:
    write(tmp_path, {"code/my_losses.py": LOSS, "conf/loss/mean_gap.yaml": "_target_: my_losses.mean_gap\n"})
    run_dir = train(tmp_path, "loss=mean_gap")
    rows = metric_rows(run_dir, "train/d_loss", "train/d_real", "train/d_fake", "train/g_loss")
    assert [row["iteration"] for row in rows] == [1.0, 2.0, 3.0]
    for row in rows:  # the D loss from the same D pass's mean logits, logged beside it
        expected = softplus(row["train/d_fake"] - row["train/d_real"])
        assert math.isclose(row["train/d_loss"], expected, rel_tol=1e-5), row
        # the default loss (non-saturating) would give mean softplus(−D(real)) + mean softplus(D(fake)) ≈ 2·log 2
        assert abs(row["train/d_loss"] - 2 * math.log(2)) > 0.1


def test_a_loss_whose_generator_step_reads_real_logits(tmp_path: Path) -> None:
    """The same loss module, its G half comparing with D(real) (``generator_reads_real=True``), through the Python
    API: the G step hands it D(real) (it was None for any loss not named 'relativistic', an AttributeError)."""
    namespace: dict = {}
    exec(LOSS, namespace)
    torch.manual_seed(0)
    gan = GAN(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1), nn.Flatten(0)), latent_dim=2, iterations=2,
              loss=namespace["mean_gap_paired"]())  # fmt: skip
    trainer = L.Trainer(max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(gan, DataLoader(torch.randn(64, 2), batch_size=8))
    assert gan.iteration == 2 and "train/g_loss" in trainer.callback_metrics

"""The augment group through a real Trainer and the real app: every loss and regularizer, resume bit for bit
(ADA's p and r_t, LeCam's averages, spectral norm's vectors), and bad input as one line before training."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from conftest import TOY, compose_config
from lightning_r1 import GAN, R1, R2, WGANGP, ApproxR1, InstanceNoise, ZeroGP
from lightning_r1.app import train
from lightning_r1.augment import ADA
from lightning_r1.errors import is_bad_input
from lightning_r1.losses import LOSSES
from lightning_r1.regularizers import LeCam
from lightning_r1.regularizers.approx_r2 import ApproxR2


class TinyImages(L.LightningDataModule):
    """32 random 8×8 RGB images, batches of 8."""

    sample_shape = (3, 8, 8)

    def train_dataloader(self):
        images = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
        return torch.utils.data.DataLoader(images, batch_size=8, drop_last=True)


def tiny_gan(loss: str) -> GAN:
    g = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
    d = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(256, 1))
    return GAN(g, d, latent_dim=4, loss=loss, iterations=3, diagnostics_every=1)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_and_regularizer_trains_with_ada(loss: str) -> None:
    regs = [R1(1.0), R2(1.0), WGANGP(1.0), ZeroGP(1.0), ApproxR1(1.0), ApproxR2(1.0), InstanceNoise(0.05),
            LeCam(0.1)]  # fmt: skip
    ada = ADA(p=0.5, interval=1, speed_images=16)
    trainer = L.Trainer(max_epochs=-1, callbacks=[*regs, ada], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    gan = tiny_gan(loss)
    trainer.fit(gan, datamodule=TinyImages())
    assert gan.iteration == 3 and ada.r_t is not None and ada.p != 0.5  # adapted every D step
    logged = trainer.callback_metrics
    assert {"train/aug_p", "train/ada_rt", "train/lecam", "train/r1", "train/wgan_gp"} <= set(logged)
    assert all(torch.isfinite(p).all() for p in gan.parameters())


def last(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)


def test_resume_with_ada_lecam_spectral_norm_and_limited_mirrored_data_is_bitwise(tmp_path: Path) -> None:
    common = ["dataset=mnist_5k", "model.width=8", "gan.latent_dim=8", "batch_size=16", "iterations=6",
              "metrics=none", "augment=ada", "augment.interval=1", "augment.speed_images=200",
              "regularizer=[r1,lecam]", "model.spectral_norm=true", "dataset.limit=40", "dataset.mirror=true"]  # fmt: skip
    train(compose_config([*common, "checkpoint_every=3"], tmp_path / "full"))
    half = tmp_path / "full" / "checkpoints" / "iter_3.ckpt"
    train(compose_config([*common, f"ckpt_path={half}"], tmp_path / "resumed"))
    a, b = last(tmp_path / "full"), last(tmp_path / "resumed")
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    assert any("parametrizations.weight.original" in k for k in a["state_dict"])  # D is spectral-normalized
    ada_key = next(k for k in a["callbacks"] if k.startswith("ADA"))
    lecam_key = next(k for k in a["callbacks"] if k.startswith("LeCam"))
    assert a["callbacks"][ada_key] == b["callbacks"][ada_key] and a["callbacks"][ada_key]["p"] > 0
    assert a["callbacks"][lecam_key] == b["callbacks"][lecam_key]
    assert a["callbacks"][lecam_key]["ema_real"] is not None


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["augment=diffaug", "augment.ops=[colour]"], "augment: Expected `ops` .* unknown op 'colour'"),
        (["augment=ada", "augment.p=2"], "augment: Expected `p` to be a probability in \\[0, 1\\], got 2"),
        (["augment=ada", "augment.target=1.2"], "augment: Expected `target` to be in \\(0, 1\\)"),
        (["augment=ada", *TOY], "augment: image augmentations need image data"),
        (["dataset.limit=0"], "dataset: Expected `limit` to be a positive integer or null, got 0"),
        (["dataset.limit=9000"], "`limit` \\(dataset.limit\\) to be at most the dataset size 5000"),
        (["model.spectral_norm=maybe"], "model: Expected `spectral_norm` to be true or false"),
    ],
)
def test_bad_input_is_one_line_before_training(tmp_path: Path, overrides: list[str], match: str) -> None:
    cfg = compose_config(["iterations=1", "batch_size=8", "metrics=none", *overrides], tmp_path / "run")
    with pytest.raises(ValueError, match=match) as info:
        train(cfg)
    assert is_bad_input(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_scheduled_p_without_length_runs_over_the_run_and_is_read_at_the_iteration() -> None:
    """``p: {kind: linear, start: 0, end: 0.6}`` (the one schedule form): its length is the run's 3 iterations, and
    the logged ``train/aug_p`` is the schedule at the iteration (0.4 at the start of the last one)."""
    ada = ADA(target=None, p={"kind": "linear", "start": 0.0, "end": 0.6})
    trainer = L.Trainer(max_epochs=-1, callbacks=[ada], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(tiny_gan("nonsaturating"), datamodule=TinyImages())
    assert ada.p_schedule.length == 3 and ada.p == pytest.approx(0.6)
    assert float(trainer.callback_metrics["train/aug_p"]) == pytest.approx(0.4)

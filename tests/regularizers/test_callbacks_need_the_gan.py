"""A regularizer or augmentation callback on a LightningModule that is not a ``GAN`` stops at set-up with one line
naming the remedy (issue 25 item 6: ``Trainer(callbacks=[R1(10.)])`` around a user's own module trained
unregularized in silence, logging ``r1: 0.0``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lightning as L
import pytest
import torch

from conftest import REPO_ROOT
from lightning_r1 import R1, R2, WGANGP
from lightning_r1.augment import ADA, DiffAugment, InstanceNoise
from lightning_r1.data import Ring8DataModule
from lightning_r1.regularizers import ApproxR1, LeCam, ZeroGP


def users_module() -> L.LightningModule:
    """The README's drop-in example 2: a user's own LightningModule (examples/own_lightning_module.py)."""
    spec = importlib.util.spec_from_file_location(
        "own_lightning_module", REPO_ROOT / "examples" / "own_lightning_module.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MyGAN()


def fit(callback: L.Callback, tmp_path: Path) -> L.LightningModule:
    model = users_module()
    trainer = L.Trainer(callbacks=[callback], max_steps=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TypeError) as caught:
        trainer.fit(model, datamodule=Ring8DataModule(batch_size=16))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # stopped before any step
    message = str(caught.value)
    assert "\n" not in message and "MyGAN is not a GAN" in message and "lightning_r1.GAN" in message
    return caught.value


@pytest.mark.parametrize(
    "regularizer",
    [R1(10.0), R2(1.0), WGANGP(10.0), ZeroGP(1.0), ApproxR1(1.0), LeCam(0.1)],
    ids=lambda r: type(r).__name__,
)
def test_a_regularizer_callback_on_a_users_module_stops_at_setup_naming_the_remedy(
    regularizer, tmp_path
) -> None:
    message = str(fit(regularizer, tmp_path))
    assert f"`{type(regularizer).__name__}(...)(D, real, fake)`" in message and "`r1_penalty`" in message


@pytest.mark.parametrize("augment", [DiffAugment(), ADA()], ids=["DiffAugment", "ADA"])
def test_an_augmentation_callback_on_a_users_module_stops_at_setup(augment, tmp_path) -> None:
    assert "`D(augment(real))`" in str(fit(augment, tmp_path))


def test_instance_noise_on_a_users_module_stops_at_setup_naming_its_transform(tmp_path) -> None:
    assert "`InstanceNoise(sigma).perturb(x)`" in str(fit(InstanceNoise(0.1), tmp_path))


def test_the_plain_callable_in_a_users_module_still_trains(tmp_path) -> None:
    """The remedy the message names: the example's own R1(gamma)(D, real, fake), no callback."""
    model = users_module()
    trainer = L.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model, datamodule=Ring8DataModule(batch_size=16))
    assert float(trainer.callback_metrics["r1"]) > 0.0

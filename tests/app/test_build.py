"""One construction of a run (``lightning_r1.build.build_run``), shared by training and the checkpoint loader.

Real runs through the app (``lightning_r1.app.train``) and the real loader (``from_checkpoint.load_run``); the GAN the
loader builds is compared with the hyperparameters the training GAN wrote into its own checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import TOY, compose_config
from lightning_r1.app import train
from lightning_r1.build import build_run, instantiate_group
from lightning_r1.errors import ConfigError
from lightning_r1.from_checkpoint import load_run


def test_the_checkpoint_loader_builds_the_gan_training_built(tmp_path: Path) -> None:
    """The loader used to call GAN(...) itself with latent_dim, loss and num_classes only, so a rebuilt run had
    GAN's defaults for everything else (d_steps=1, the default EMA half-life); it now builds the saved ``gan``
    partial through the same construction as training."""
    run_dir = tmp_path / "run"
    cfg = compose_config(
        [*TOY, "iterations=2", "gan.d_steps=2", "gan.ema_half_life_images=123", "gan.diagnostics_every=7"],
        run_dir,
    )
    train(cfg)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    trained = torch.load(ckpt, map_location="cpu", weights_only=True)["hyper_parameters"]
    loaded = dict(load_run(ckpt, accelerator="cpu").gan.hparams)
    assert (loaded["d_steps"], loaded["ema_half_life_images"], loaded["diagnostics_every"]) == (2, 123, 7)
    assert loaded == dict(trained)  # every hyperparameter, as the training GAN saved them


def test_config_yaml_is_the_complete_config_once_the_data_have_named_the_classes(tmp_path: Path) -> None:
    """config.yaml is written once, after ``conditional=true`` took gan.num_classes from the data (it was written
    before the data were built and again after)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = compose_config([*TOY, "iterations=1", "conditional=true"], run_dir)
    run = build_run(cfg, run_dir)
    saved = OmegaConf.load(run_dir / "config.yaml")
    assert saved.gan.num_classes == 8 == run.datamodule.num_classes == run.gan.num_classes
    assert (run_dir / "classes.txt").read_text().count("\n") == 8


def test_a_data_module_names_its_default_metric(tmp_path: Path) -> None:
    """metrics=fid (feature_extractor auto) measures what the data module names: FID on images, the mode metrics on
    2-D mixtures (``default_metric``), with the metrics group's schedule."""
    for overrides, expected in (([], "FidelityMetrics"), (TOY, "ModeMetrics")):
        run_dir = tmp_path / str(len(overrides))
        run_dir.mkdir()
        cfg = compose_config([*overrides, "metrics=fid", "metrics.every=7"], run_dir)
        run = build_run(cfg, run_dir)
        (metric,) = [cb for cb in run.callbacks if type(cb).__name__ in ("FidelityMetrics", "ModeMetrics")]
        assert (type(metric).__name__, metric.every) == (expected, 7)
        assert run.datamodule.default_metric == ("modes" if overrides else "fid")


def test_callbacks_group_members_are_instantiated_generically(tmp_path: Path) -> None:
    """``callbacks.<name>`` nodes are built member by member; a member without ``_target_`` is dropped with its
    settings (as for an unselected regularizer) instead of reaching the Trainer as a dict."""
    cfg = compose_config(
        [*TOY, "+callbacks.trajectory._target_=lightning_r1.callbacks.TrajectoryRecorder",
         f"+callbacks.trajectory.path={tmp_path}/t.csv", "+callbacks.stray.every=3"],
        tmp_path,
    )  # fmt: skip
    built = instantiate_group(cfg, "callbacks")
    assert [type(cb).__name__ for cb in built] == ["TrajectoryRecorder"]
    assert "stray" not in cfg.callbacks


def test_an_argument_its_target_does_not_take_is_bad_input_naming_the_key(tmp_path: Path) -> None:
    """``+model.foo=1`` used to escape as Hydra's InstantiationException (a traceback, exit 1); every rejected
    ``_target_`` call is now one line naming the config key (exit 2 in the app)."""
    cfg = compose_config([*TOY, "iterations=1", "+model.foo=1"], tmp_path / "run")
    with pytest.raises(ConfigError, match=r"^model: .*unexpected keyword argument 'foo'"):
        train(cfg)

"""A trained run rebuilt from one of its checkpoints: config, data module and models with their weights.

Shared by ``python -m lightning_r1.evaluate`` and ``python -m lightning_r1.generate``. Every checkpoint the app writes
carries the run's composed config (``checkpoint["lightning_r1_config"]``, see :mod:`lightning_r1.resume`); the data
module and GAN are built from it by the training app's own construction (:func:`lightning_r1.build.build_run`) and
the weights are loaded from a weights-only read of the file. Any problem with the file is one line
(:class:`~lightning_r1.errors.CheckpointError`, exit code 2 in the apps: :func:`lightning_r1.errors.run_app`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_r1 import run_dir as rd
from lightning_r1.build import build_run
from lightning_r1.errors import SETUP_ERRORS, CheckpointError, ConfigError, mark_bad_input, one_line
from lightning_r1.gan import GAN
from lightning_r1.resume import CONFIG_KEY, load_checkpoint, shape_differences

log = logging.getLogger(__name__)


@dataclass
class TrainedRun:
    """What :func:`load_run` rebuilds.

    Attributes:
        cfg: the run's composed config, as saved in the checkpoint (``dataset`` overrides applied).
        gan: the GAN with the checkpoint's weights, in eval mode, on ``trainer``'s device and precision.
        datamodule: the run's data module (not set up: call ``setup("fit")`` where real data is needed).
        trainer: a Trainer used only for its device, precision and strategy (it never fits).
        checkpoint: the checkpoint file.
        run_dir: the run directory (the parent of the checkpoint's ``checkpoints/`` folder, else its folder).
        iteration: generator updates the checkpoint was taken at (``None`` if it does not say).
    """

    cfg: DictConfig
    gan: GAN
    datamodule: L.LightningDataModule
    trainer: L.Trainer
    checkpoint: Path
    run_dir: Path
    iteration: int | None


def run_dir_of(checkpoint: Path) -> Path:
    """``<run_dir>/checkpoints/last.ckpt`` → ``<run_dir>``; a checkpoint elsewhere → its own folder."""
    return rd.run_dir_of(checkpoint)


def saved_config(state: dict[str, Any], path: Path) -> DictConfig:
    """The run config a checkpoint carries.

    Raises:
        CheckpointError: there is none (a checkpoint written without the app), or it is not a run config.
    """
    text = state.get(CONFIG_KEY)
    if not isinstance(text, str) and "latent_dim" in (state.get("hyper_parameters") or {}):
        from_cli = lightning_cli_config(path)
        if from_cli is not None:
            return from_cli
        raise CheckpointError(
            "ckpt_path: expected a checkpoint with the run config (model, gan, dataset) that rebuilds G and D, "
            f"got {path}, written through the Python API (trainer.fit(GAN(...))), which holds the weights only; "
            "rebuild G and D in Python and use GAN.load_from_checkpoint(path, generator=G, discriminator=D).sample(n)"
        )
    if not isinstance(text, str):
        raise CheckpointError(
            f"ckpt_path: expected a checkpoint written by the app (with its run config under '{CONFIG_KEY}'), "
            f"got {path}, which has none"
        )
    try:
        cfg = OmegaConf.create(text)
    except Exception as err:  # noqa: BLE001 - whatever YAML says, the saved config is unusable
        raise CheckpointError(
            f"ckpt_path: expected a readable run config in {path}, got one that is damaged ({one_line(err)})"
        ) from None
    missing = [
        key for key in ("model", "gan", "dataset") if not isinstance(cfg, DictConfig) or key not in cfg
    ]
    if missing:
        raise CheckpointError(
            f"ckpt_path: expected a run config with model, gan and dataset in {path}, got one without "
            + ", ".join(missing)
        )
    return cfg


def lightning_cli_config(checkpoint: Path) -> DictConfig | None:
    """The run config of a checkpoint written under ``LightningCLI(GAN)`` (examples/lightning_cli.py), or None.

    LightningCLI saves its parsed config as ``config.yaml`` in the logger's version folder, beside the
    ``checkpoints/`` folder (``lightning_logs/version_N/``). Its ``model.generator`` / ``model.discriminator`` /
    ``data`` entries are jsonargparse's ``{class_path, init_args}``; they become the app's ``model`` (a
    :class:`~lightning_r1.models.pair.GANModels` of the two), ``gan`` (GAN's partial, its own defaults for the rest)
    and ``dataset`` nodes, built as the app builds its own (see :func:`load_run`).
    """
    path = checkpoint.parent.parent / "config.yaml"
    saved = OmegaConf.load(path) if path.is_file() else None
    model = saved.get("model") if isinstance(saved, DictConfig) else None
    if not isinstance(model, DictConfig) or not {"generator", "discriminator", "latent_dim"} <= set(model):
        return None

    def target(node: Any) -> Any:  # {class_path: C, init_args: {...}} → {_target_: C, ...}, all the way down
        if isinstance(node, DictConfig) and "class_path" in node:
            return {
                "_target_": node.class_path,
                **{k: target(v) for k, v in (node.get("init_args") or {}).items()},
            }
        return node

    cfg = {
        "model": {"_target_": "lightning_r1.models.pair.GANModels",
                  "generator": target(model.generator), "discriminator": target(model.discriminator)},
        "gan": {"_target_": "lightning_r1.GAN", "_partial_": True, "latent_dim": model.latent_dim,
                "num_classes": model.get("num_classes")},
        "trainer": {"precision": OmegaConf.select(saved, "trainer.precision") or "32-true"},
    }  # fmt: skip
    if saved.get("data") is not None:
        cfg["dataset"] = target(saved.data)
    return OmegaConf.create(cfg)


def device_trainer(accelerator: str, precision: Any) -> L.Trainer:
    """A Trainer that is only asked for its device and precision (Lightning picks the device, as in training).

    Raises:
        ConfigError: ``trainer.accelerator``/``trainer.precision`` cannot be used on this machine.
    """
    try:
        return L.Trainer(
            accelerator=accelerator, devices=1, precision=precision, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 - Lightning's MisconfigurationException, ValueError, ...
        raise ConfigError(
            f"trainer: expected an accelerator and precision this machine has, got accelerator={accelerator}, "
            f"precision={precision} ({one_line(err)})"
        ) from None


def load_run(
    ckpt_path: str | os.PathLike | None,
    accelerator: str = "auto",
    precision: Any = None,
    dataset_overrides: DictConfig | dict | None = None,
) -> TrainedRun:
    """Rebuild the run that wrote ``ckpt_path``: its config, data module, and GAN with the checkpoint's weights.

    Args:
        ckpt_path: a checkpoint written by the app (``<run_dir>/checkpoints/*.ckpt``).
        accelerator: Lightning's ``accelerator`` (``auto``, ``cpu``, ``gpu``, ...).
        precision: Lightning's ``precision``; ``None`` = the run's ``trainer.precision`` (``64-true`` keeps float64).
        dataset_overrides: values merged over the saved ``dataset`` node (e.g. a moved ``root``).

    Raises:
        CheckpointError: the file is missing or damaged, carries no run config, its weights do not fit the
            models that config builds, or its generator weights are not finite.
        ConfigError: the saved config (with the overrides) does not build, or the device cannot be used.
    """
    if ckpt_path in (None, ""):
        raise CheckpointError("ckpt_path: expected a checkpoint file (ckpt_path=FILE), got none")
    path = Path(str(ckpt_path)).expanduser()
    state = load_checkpoint(path)
    cfg = saved_config(state, path)
    run_dir = run_dir_of(path)
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)  # where the run is now, whatever it was when it was written
        if dataset_overrides:
            cfg.dataset = OmegaConf.merge(cfg.dataset, dataset_overrides)
    if precision is None:
        precision = OmegaConf.select(cfg, "trainer.precision", default="32-true")
    trainer = device_trainer(accelerator, precision)

    run = build_run(cfg, run_dir, from_checkpoint=True)  # the training app's construction: data module, GAN
    gan = run.gan
    trainer.precision_plugin.convert_module(gan)  # e.g. float64 for a 64-true run, before the weights load
    weights = state["state_dict"]
    problems = shape_differences(weights, gan)
    if problems:
        raise CheckpointError(
            f"ckpt_path: expected weights of the models its config builds, got {path}, whose weights differ: "
            + "; ".join(problems[:3])
        )
    nonfinite = [
        key for key, value in weights.items()
        if key.startswith(("generator.", "generator_ema.")) and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]  # fmt: skip
    if nonfinite:
        raise CheckpointError(
            f"ckpt_path: expected finite generator weights, got {path}, whose {nonfinite[0]} holds NaN or Inf "
            "(a diverged run; use an earlier checkpoint)"
        )
    gan.load_state_dict(weights)
    gan.to(trainer.strategy.root_device).eval()
    iteration = (state.get("lightning_r1") or {}).get("iteration")
    return TrainedRun(
        cfg=cfg,
        gan=gan,
        datamodule=run.datamodule,
        trainer=trainer,
        checkpoint=path,
        run_dir=run_dir,
        iteration=None if iteration is None else int(iteration),
    )


class TrainerWithData:
    """``trainer`` seen with ``datamodule`` attached, for metric callbacks asked outside ``fit``
    (``FidelityMetrics.on_fit_start`` and ``ModeMetrics.on_fit_start`` read ``trainer.datamodule``)."""

    def __init__(self, trainer: L.Trainer, datamodule: L.LightningDataModule) -> None:
        self._trainer = trainer
        self.datamodule = datamodule

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trainer, name)


PATH_KEYS = ("ckpt_path", "out_dir", "out")  # the apps' file and folder arguments


def quote_paths(argv: list[str]) -> list[str]:
    """``argv`` with the values of :data:`PATH_KEYS` that contain ``=`` quoted for Hydra.

    Lightning names checkpoints ``epoch=3-step=40.ckpt``; Hydra's override grammar rejects an unquoted ``=`` in a
    value (``mismatched input '='``), so ``ckpt_path=…/epoch=3-step=40.ckpt`` is passed on as
    ``ckpt_path='…/epoch=3-step=40.ckpt'``. Values already quoted, or holding both quote characters, are left alone.
    """
    quoted = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in PATH_KEYS and "=" in value and value[:1] not in ("'", '"'):
            mark = next((q for q in ("'", '"') if q not in value), None)
            arg = arg if mark is None else f"{key}={mark}{value}{mark}"
        quoted.append(arg)
    return quoted


def setup_step(step: Callable[[], Any]) -> Any:
    """Run a set-up step (data, metric options); its bad-value errors are bad input (exit code 2)."""
    try:
        return step()
    except SETUP_ERRORS as err:
        mark_bad_input(err)
        raise

"""Resuming safely: every checkpoint the app writes carries its composed config, and ``ckpt_path`` is checked
against the run being started before ``trainer.fit`` (a damaged file or another set-up is one line, not a traceback).

Which config a resumed run trains with (the checkpoint's as base, the overrides beside it, what may change) is
:mod:`lightning_r1.resume_config`.

Checkpoints are always read weights-only (``torch.load(weights_only=True)``); a file that needs more than that is
reported as not readable, never loaded unsafely.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from lightning_r1.errors import CheckpointError, one_line, zip_problem
from lightning_r1.lightning_compat import checkpoint_logging_step
from lightning_r1.schedules import upgrade_schedule_arguments

log = logging.getLogger(__name__)

CONFIG_KEY = "lightning_r1_config"  # the composed config (YAML text) inside every checkpoint the app writes


def config_yaml(cfg: DictConfig) -> str:
    """The config as YAML, interpolations resolved where they can be (``run_dir`` needs a running Hydra app)."""
    try:
        return OmegaConf.to_yaml(cfg, resolve=True)
    except Exception:  # an interpolation that only resolves inside Hydra: keep it as written
        return OmegaConf.to_yaml(cfg, resolve=False)


class SaveRunConfig(L.Callback):
    """Writes the run's composed config into every checkpoint (``checkpoint["lightning_r1_config"]``, YAML text).

    Plain text, so the checkpoint stays loadable with ``torch.load(weights_only=True)``.
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.text = config_yaml(cfg)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CONFIG_KEY] = self.text


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with every failure turned into one line naming the file.

    Raises:
        CheckpointError: the file is missing, a directory, or not a readable checkpoint (truncated, damaged, or
            holding objects a weights-only load refuses).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"ckpt_path: expected an existing checkpoint file, got {path} (no such file)")
    if not path.is_file():
        raise CheckpointError(f"ckpt_path: expected a checkpoint file, got {path} (not a regular file)")
    damage = zip_problem(path)  # torch.save archives carry a CRC per record: flipped bytes show up here
    if damage is not None:
        raise CheckpointError(
            f"ckpt_path: expected a readable checkpoint, got {path}, which is not one (truncated or damaged: {damage})"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - whatever torch says, the file cannot be resumed from
        if "weights_only" in str(err) or "Weights only" in str(err):
            reason = "it holds objects that a safe, weights-only load refuses"
        else:
            reason = f"truncated or damaged: {one_line(err).split('. ')[0].rstrip('.')}"
        raise CheckpointError(
            f"ckpt_path: expected a readable checkpoint, got {path}, which is not one ({reason})"
        ) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(
            f"ckpt_path: expected a Lightning checkpoint (a dict with 'state_dict'), got {path}, which is not one"
        )
    return state


def logging_step(state: dict[str, Any]) -> int:
    """The logger step a checkpoint was written at (Lightning's count of batches that stepped): the rows of
    ``metrics.csv`` up to it belong to the history the checkpoint continues."""
    return checkpoint_logging_step(state)


# ---- is the checkpoint one of this set-up? ---------------------------------------------------------------------
def setup_of(cfg: DictConfig | dict) -> dict[str, str]:
    """What a checkpoint must share with the run that resumes it: model, data, latent size, regularizer set."""
    cfg = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg

    def node(name: str) -> dict[str, Any]:
        value = cfg.get(name)
        if value is None:
            return {}
        try:
            return OmegaConf.to_container(value, resolve=True)  # type: ignore[return-value]
        except Exception:
            return OmegaConf.to_container(value, resolve=False)  # type: ignore[return-value]

    model = node("model")
    dataset = node("dataset")
    data_shape = {k: dataset[k] for k in ("resolution", "channels") if k in dataset}
    regularizers = sorted(node("regularizer"))
    optim = node("optim")
    optimizers = [describe({"_target_": (optim.get(net) or {}).get("_target_")}) for net in ("g", "d")]
    return {
        "model": describe(model),
        "dataset": describe({"_target_": dataset.get("_target_"), **data_shape}),
        "latent size": str((cfg.get("gan") or {}).get("latent_dim")),
        "regularizers": "[" + ", ".join(regularizers) + "]",
        # the optimizer state (Adam's moments, SGD's momentum) only fits an optimizer of the same class
        "optimizers": "{} (G), {} (D)".format(*optimizers) if optim else "?",
    }


def describe(node: dict[str, Any]) -> str:
    """``build_mlp(hidden=32, layers=2)`` from a config node with a ``_target_``."""
    target = str(node.get("_target_") or "?").rsplit(".", 1)[-1]
    args = ", ".join(
        f"{k}={v}" for k, v in sorted(node.items()) if k != "_target_" and not isinstance(v, dict)
    )
    return f"{target}({args})" if args else target


def setup_differences(saved: dict[str, str], here: dict[str, str]) -> list[str]:
    return [
        f"{what} {saved[what]} there, {here[what]} here"
        for what in here
        if saved.get(what) != here[what] and saved.get(what, "?") != "?"
    ]


def shape_differences(saved: dict[str, torch.Tensor], module: torch.nn.Module) -> list[str]:
    """Parameters and buffers whose name or shape differ between a checkpoint's state_dict and ``module``'s."""
    own = module.state_dict()
    problems = [
        f"{k} {tuple(v.shape)} there, {tuple(own[k].shape)} here"
        for k, v in saved.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing there (first: {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unknown tensor(s) there (first: {unexpected[0]})")
    return problems


def saved_config(state: dict[str, Any]) -> DictConfig | None:
    """The composed config a checkpoint carries (``None`` for one written without the app)."""
    text = state.get(CONFIG_KEY)
    if not isinstance(text, str):
        return None
    try:
        saved = OmegaConf.create(text)
    except Exception:
        return None
    return (
        upgrade_schedule_arguments(saved) if isinstance(saved, DictConfig) else None
    )  # earlier versions' form


def check_resumable(
    path: str | os.PathLike, cfg: DictConfig, module: torch.nn.Module, state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read ``path`` safely (unless ``state`` is its content already) and check it is a checkpoint of the set-up
    ``cfg`` builds, before any training step.

    Compares the config saved in the checkpoint (model, data, latent size, regularizer set) when it has one,
    then every tensor's name and shape against ``module``.

    Returns:
        The loaded checkpoint.

    Raises:
        CheckpointError: one line naming the file and what differs.
    """
    state = load_checkpoint(path) if state is None else state
    differences: list[str] = []
    saved_cfg = saved_config(state)
    if saved_cfg is not None:
        differences = setup_differences(setup_of(saved_cfg), setup_of(cfg))
    if not differences:
        shapes = shape_differences(state["state_dict"], module)
        differences = shapes[:3] + ([f"... {len(shapes) - 3} more"] if len(shapes) > 3 else [])
    if differences:
        raise CheckpointError(
            f"ckpt_path: expected a checkpoint of this run's set-up, got {path}, written by another one: "
            + "; ".join(differences)
        )
    return state


# ---- the resumed run's config: the checkpoint's, with what the command line changes ------------------------------

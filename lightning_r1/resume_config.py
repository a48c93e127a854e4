"""The config a resumed run trains with (docs/faults.md, "What a resume may change").

On the command line the checkpoint's config is the resumed run's base (:func:`resumed_config`): ``ckpt_path=FILE``
alone resumes the same set-up, and the overrides given beside it change only what they name. What changed is
listed in one line; a change a resume cannot honour (another set-up, optimizer or seed) is refused. Reading and
checking the checkpoint itself is :mod:`lightning_r1.resume`.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_r1.config_dir import CONFIG_DIR
from lightning_r1.errors import CheckpointError
from lightning_r1.resume import saved_config, setup_differences, setup_of

log = logging.getLogger(__name__)

WHERE = ("run_dir", "ckpt_path")  # where this run is, not what it trains: always this run's own
# Settings a resume cannot change: the checkpoint's random streams (global and data order) go on from where they were.
FIXED_ON_RESUME = {"seed": "a resume continues the checkpoint's random streams"}


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"optim.g.lr": 0.0002, ...}``: every leaf of a plain nested dict (lists are leaves)."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def get_path(tree: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        tree = tree[key]
    return tree


def set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[last] = copy.deepcopy(value)


def delete_path(tree: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for key in parents:
        tree = tree.get(key, {})
    tree.pop(last, None)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def followers(cfg: DictConfig, paths: list[str]) -> set[str]:
    """Leaves of ``cfg`` whose value follows one of ``paths`` through an interpolation (``optim.g.lr:
    ${optim.lr}`` follows ``optim.lr``; ``logger.csv.save_dir: ${run_dir}`` follows ``run_dir``): found by giving
    every leaf under ``paths`` a marker value and seeing which resolved values change."""
    before = leaves(resolved(cfg))
    probe = copy.deepcopy(cfg)
    with open_dict(probe):
        for path in paths:
            node = OmegaConf.select(probe, path)
            inner = leaves(resolved(node), path) if isinstance(node, DictConfig) else {path: None}
            for leaf in inner:
                OmegaConf.update(probe, leaf, f"<probe {leaf}>", merge=False)
    try:
        after = leaves(resolved(probe))
    except Exception:  # a resolver that cannot take a marker: only the named settings themselves change
        return set()
    return {leaf for leaf, value in before.items() if after.get(leaf) != value}


def override_paths(overrides: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The config paths the command line sets (``optim.lr=1e-5`` → optim.lr, ``optim=sgd`` → optim), those it
    deletes (``~key``), and the overrides that name no path of the config (``experiment=NAME``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sets, deletes, unplaced = [], [], []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group
        if key in WHERE:
            continue
        if override.is_delete():
            deletes.append(key)
        elif override.package is not None or key == "experiment":  # a group placed elsewhere (_global_)
            unplaced.append(override.input_line or key)
        else:
            sets.append(key)
    return sets, deletes, unplaced


def config_groups() -> set[str]:
    """The config groups (``dataset``, ``metrics``, ...): a group the checkpoint's config lacks was chosen empty
    (``metrics=none``), not added since."""
    from hydra.core.hydra_config import HydraConfig

    groups = {p.name for p in Path(CONFIG_DIR).iterdir() if p.is_dir()}
    if HydraConfig.initialized():
        groups |= {str(choice).split("/")[0] for choice in HydraConfig.get().runtime.choices}
    return groups


def resumed_config(saved: DictConfig, cfg: DictConfig, overrides: list[str]) -> tuple[DictConfig, list[str]]:
    """The config of a run that resumes a checkpoint from the command line: the checkpoint's ``saved`` config,
    with the settings the command line's ``overrides`` name taken from ``cfg`` (the config Hydra composed from
    them) together with the settings that follow them through interpolations, and this run's own folder.

    So ``ckpt_path=FILE`` alone resumes the same set-up, whatever the defaults are now, and repeating the first
    run's command line changes nothing.

    Returns:
        The resumed run's config (resolved) and the overrides it could not apply (``experiment=NAME``: a preset's
        settings are not known one by one; the checkpoint's are kept).
    """
    sets, deletes, unplaced = override_paths(overrides)
    here = resolved(cfg)
    merged = OmegaConf.to_container(saved, resolve=False)
    assert isinstance(merged, dict)
    absent = object()
    named = [path for path in [*WHERE, *sets] if OmegaConf.select(cfg, path, default=absent) is not absent]
    for path in named:
        set_path(merged, path, get_path(here, path))
    for leaf in followers(cfg, named):
        set_path(merged, leaf, get_path(here, leaf))
    for path in deletes:
        delete_path(merged, path)
    for key in (
        here.keys() - merged.keys() - config_groups()
    ):  # a setting newer than the checkpoint: its default
        merged[key] = here[key]
    return OmegaConf.create(merged), unplaced


def changed_settings(saved: DictConfig, cfg: DictConfig, where: set[str]) -> dict[str, tuple[Any, Any]]:
    """``{"optim.lr": (0.0002, 1e-05)}``: the settings whose value differs between a checkpoint's config and
    ``cfg``; ``where`` (this run's folder and the settings that follow it) and the settings the checkpoint's config
    does not know are left out."""
    there, here = leaves(resolved(saved)), leaves(resolved(cfg))
    return {
        key: (there[key], value)
        for key, value in here.items()
        if key in there and there[key] != value and key not in where
    }


def config_to_resume(
    path: str | os.PathLike, state: dict[str, Any], cfg: DictConfig, overrides: list[str] | None
) -> tuple[DictConfig, dict[str, tuple[Any, Any]]]:
    """The config a run resuming checkpoint ``state`` trains with, and the settings that differ from the
    checkpoint's (listed in one warning line, all applied).

    ``overrides``: the command line's (a Hydra app: the checkpoint's config is the base, :func:`resumed_config`);
    ``None`` (the Python API): ``cfg`` as given. A checkpoint without a config: ``cfg``, compared later by its
    tensors' shapes.

    Raises:
        CheckpointError: another set-up (model, data, latent size, regularizer set, optimizer classes), or a
            setting a resume cannot change (:data:`FIXED_ON_RESUME`); one line each.
    """
    saved = saved_config(state)
    if saved is None:
        return cfg, {}
    where = followers(cfg, [key for key in WHERE if key in cfg]) | set(WHERE)
    if overrides is not None:
        cfg, unplaced = resumed_config(saved, cfg, overrides)
        if unplaced:
            log.warning("resuming %s: %s not applied (a preset's settings are the checkpoint's; set the ones to "
                        "change one by one)", path, ", ".join(unplaced))  # fmt: skip
    cfg = with_saved_classes(saved, cfg)
    differences = setup_differences(setup_of(saved), setup_of(cfg))
    if differences:
        raise CheckpointError(
            f"ckpt_path: expected a checkpoint of this run's set-up, got {path}, written by another one: "
            + "; ".join(differences)
        )
    changes = changed_settings(saved, cfg, where)
    check_changed_settings(path, changes)
    return cfg, changes


def with_saved_classes(saved: DictConfig, cfg: DictConfig) -> DictConfig:
    """``cfg`` with the checkpoint's ``gan.num_classes`` where ``conditional=true`` left it to the data module.

    The app fills ``gan.num_classes`` from the dataset after this comparison (``conditional_app.configure_classes``,
    which checks the two agree); a config given from Python still has it unset here, and would compare as another
    model.
    """
    if not cfg.get("conditional", False) or OmegaConf.select(cfg, "gan.num_classes") is not None:
        return cfg
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.gan.num_classes = OmegaConf.select(saved, "gan.num_classes")
    return cfg


def check_changed_settings(path: str | os.PathLike, changes: dict[str, tuple[Any, Any]]) -> None:
    """Refuse what a resume cannot change (:data:`FIXED_ON_RESUME`); say in one line what it changes.

    Raises:
        CheckpointError: one line naming the setting, its two values and why.
    """
    for key, (there, here) in changes.items():
        if key in FIXED_ON_RESUME:
            raise CheckpointError(
                f"{key}: expected the checkpoint's value {there} when resuming ({FIXED_ON_RESUME[key]}), got {here}; "
                f"start a new run (without ckpt_path) for {key}={here}"
            )
    if changes:
        listed = ", ".join(f"{key} {there} -> {here}" for key, (there, here) in changes.items())
        log.warning("resuming %s with changed settings (applied): %s", path, listed)


class ApplyOptimizerSettings(L.Callback):
    """Gives the optimizers restored from a checkpoint this run's hyperparameters (``optim.lr``, betas, ...).

    Lightning restores each optimizer's ``param_groups`` with its state, so a changed ``optim.lr`` would be
    recorded in ``config.yaml`` and never used. At the start of training (after the restore) every group's
    hyperparameters are set to those of freshly configured optimizers (D's with StyleGAN2's lazy-regularization
    correction, as the GAN builds it); the state (moments) stays the checkpoint's.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        fresh = pl_module.configure_optimizers()  # the GAN's: D's with the lazy correction already applied
        for live, new in zip(trainer.optimizers, fresh if isinstance(fresh, list) else [fresh], strict=True):
            for live_group, new_group in zip(live.param_groups, new.param_groups, strict=True):
                live_group.update({k: v for k, v in new_group.items() if k != "params"})

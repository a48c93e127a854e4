"""Resuming safely: every checkpoint the app writes carries its composed config, and ``ckpt_path`` is checked
against the run being started before ``trainer.fit`` (a damaged file or another set-up is one line, not a traceback).

On the command line the checkpoint's config is the resumed run's base (:func:`resumed_config`): ``ckpt_path=FILE``
alone resumes the same set-up, and the overrides given beside it change only what they name. What changed is
listed in one line; a change a resume cannot honour (another set-up, optimizer or seed) is refused.

Checkpoints are always read weights-only (``torch.load(weights_only=True)``); a file that needs more than that is
reported as not readable, never loaded unsafely.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_r1.errors import CheckpointError, one_line, zip_problem

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
    loop = state.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
    return int(loop.get("_batches_that_stepped", state.get("global_step", 0)))


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
WHERE = ("run_dir", "ckpt_path")  # where this run is, not what it trains: always this run's own
# Settings a resume cannot change: the checkpoint's random streams (global and data order) go on from where they were.
FIXED_ON_RESUME = {"seed": "a resume continues the checkpoint's random streams"}


def saved_config(state: dict[str, Any]) -> DictConfig | None:
    """The composed config a checkpoint carries (``None`` for one written without the app)."""
    text = state.get(CONFIG_KEY)
    if not isinstance(text, str):
        return None
    try:
        saved = OmegaConf.create(text)
    except Exception:
        return None
    return saved if isinstance(saved, DictConfig) else None


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

    groups = {p.name for p in (Path(__file__).parent / "conf").iterdir() if p.is_dir()}
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
    hyperparameters are set to those of freshly configured optimizers, then StyleGAN2's lazy-regularization
    correction is applied again as the GAN applies it at the start of fit; the state (moments) stays the
    checkpoint's.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        fresh = pl_module.configure_optimizers()
        fresh = fresh[0] if isinstance(fresh, tuple) else fresh
        for live, new in zip(trainer.optimizers, fresh if isinstance(fresh, list) else [fresh], strict=True):
            for live_group, new_group in zip(live.param_groups, new.param_groups, strict=True):
                live_group.update({k: v for k, v in new_group.items() if k != "params"})
        correct = getattr(pl_module, "_apply_lazy_correction", None)
        if correct is not None:
            correct()

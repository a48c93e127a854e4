"""What a run prints first: its run directory and the config group chosen for each group (a short tree, as
lightning-hydra-template prints its config); ``config.yaml`` in the run directory stays the full record."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from lightning_r1 import run_dir as rd

log = logging.getLogger(__name__)

# Groups that take a list (`regularizer=[r1,r2]`): Hydra records no choice for them, their members are the group's
# keys in the composed config.
MULTI_SELECT = ("regularizer", "logger")


def chosen_groups(cfg: DictConfig) -> dict[str, str]:
    """``{"experiment": "ring8", "dataset": "ring8", ..., "regularizer": "[r1,r2]"}``: the experiment if one was
    chosen, each group in the defaults list's order, then the list groups; empty outside a Hydra run (tests, compose
    API)."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices  # the defaults list, last first
    chosen = {"experiment": str(choices["experiment"])} if choices.get("experiment") else {}
    for group, choice in reversed(list(choices.items())):
        if choice is not None and "/" not in group and group not in ("hydra", "experiment"):
            chosen[group] = str(choice)
    for group in MULTI_SELECT:
        members = list(cfg.get(group) or {})
        chosen.setdefault(group, f"[{','.join(members)}]" if members else "none")
    return chosen


def log_run_start(cfg: DictConfig, run_dir: Path) -> None:
    """Logs (console and ``train.log``) the run directory, then one ``group=choice`` line per config group."""
    lines = [f"run directory: {run_dir} (the full config: {rd.CONFIG})"]
    lines += [f"  {group}={choice}" for group, choice in chosen_groups(cfg).items()]
    log.info("\n".join(lines))

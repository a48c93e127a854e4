"""The composed config checked before anything is built: each value by its type, then what a type cannot say.

The types are dataclass schemas (Hydra structured configs), applied with OmegaConf's own conversion: the composed
config's values for the schema's fields are merged into ``OmegaConf.structured(RunSchema)``, so ``optim.lr=3e-4x``
is refused naming ``optim.lr``. The schemas are applied in the app, not as Hydra's defaults' schema, so that a bad
value is bad input like any other (one line, exit 2, a ``summary.json``) and one bad job of a sweep does not stop the
rest: a schema in the defaults fails inside Hydra's composition (its multi-line error block, exit 1, no summary, and
the whole sweep stops). Only the fields listed here are typed; a group's other keys (``trainer.*``: any
``lightning.Trainer`` argument, a model's arguments) are checked by what they are passed to.

An integer field given as an exactly integral float (``iterations=1e3``, which Hydra's parser reads as 1000.0) is
taken as that integer and recorded so in ``config.yaml``; ``iterations=2.5`` is refused.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from lightning_r1.checks import check_positive_int
from lightning_r1.errors import ConfigError, bad_input

# Optional[...] rather than ``X | None``: OmegaConf reads these annotations at runtime on Python 3.10.
# ruff: noqa: UP045


@dataclass
class OptimizerSchema:
    """``optim.g`` / ``optim.d``: a ``torch.optim`` partial."""

    lr: float = MISSING
    betas: Optional[list[float]] = None
    eps: float = MISSING
    alpha: float = MISSING
    momentum: float = MISSING
    weight_decay: float = MISSING


@dataclass
class OptimSchema:
    lr: float = MISSING
    g: OptimizerSchema = field(default_factory=OptimizerSchema)
    d: OptimizerSchema = field(default_factory=OptimizerSchema)


@dataclass
class GanSchema:
    """``gan``: the :class:`~lightning_r1.GAN` module's arguments."""

    latent_dim: int = MISSING
    d_steps: int = MISSING
    update: str = MISSING
    ema_half_life_images: float = MISSING
    ema_rampup: Optional[float] = None
    diagnostics_every: int = MISSING
    skip_nonfinite: bool = MISSING
    finite_check_every: int = MISSING
    compile: bool = MISSING
    num_classes: Optional[int] = None
    fake_labels: str = MISSING


@dataclass
class TrainerSchema:
    """``trainer``: the ``lightning.Trainer`` arguments the configs set (``devices``/``precision`` take ints or
    strings: checked by hand)."""

    accelerator: str = MISSING
    num_nodes: int = MISSING
    max_epochs: int = MISSING
    max_steps: int = MISSING
    log_every_n_steps: int = MISSING
    enable_model_summary: bool = MISSING
    enable_progress_bar: bool = MISSING
    enable_checkpointing: bool = MISSING
    sync_batchnorm: bool = MISSING
    use_distributed_sampler: bool = MISSING
    gradient_clip_val: Optional[float] = None


@dataclass
class DatasetSchema:
    """``dataset``: the keys the data modules share."""

    root: str = MISSING
    batch_size: int = MISSING
    num_workers: int = MISSING
    resolution: int = MISSING
    channels: int = MISSING
    download: bool = MISSING
    labels: bool = MISSING
    mirror: bool = MISSING
    limit: Optional[int] = None


@dataclass
class RunSchema:
    """The root config (``conf/config.yaml``)."""

    iterations: int = MISSING
    batch_size: int = MISSING
    seed: int = MISSING
    conditional: bool = MISSING
    samples_every: int = MISSING
    checkpoint_every: int = MISSING
    ckpt_path: Optional[str] = None
    progress_bar: str = MISSING
    objective: Optional[str] = None
    run_dir: str = MISSING
    optim: OptimSchema = field(default_factory=OptimSchema)
    gan: GanSchema = field(default_factory=GanSchema)
    trainer: TrainerSchema = field(default_factory=TrainerSchema)
    dataset: DatasetSchema = field(default_factory=DatasetSchema)


TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
SEED_MAX = 2**32 - 1  # NumPy's seed range, which seed_everything passes the seed to
POSITIVE = ("iterations", "batch_size", "gan.finite_check_every")  # the GAN checks its other counts itself
NON_NEGATIVE = ("samples_every", "checkpoint_every", "gan.diagnostics_every")  # 0: never (only at the end)


def validate_config(cfg: DictConfig) -> None:
    """Check ``cfg`` before anything is built or seeded (so the error line is the only one the run prints).

    Raises:
        ConfigError: one line naming the key, e.g. ``optim.lr: expected a number, got '3e-4x'``.
    """
    check_missing(cfg)
    check_values(check_types(cfg), cfg)


def check_missing(cfg: DictConfig) -> None:
    """A mandatory value (``???``) left unset, e.g. ``dataset.root`` of ``dataset=image_folder``."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        key = missing[0]
        hint = " (the folder of your images)" if key == "dataset.root" else ""
        raise ConfigError(f"{key}: expected a value{hint}, got none; set it on the command line: {key}=...")


def check_types(cfg: DictConfig) -> DictConfig:
    """Every value of a :class:`RunSchema` field converts to the field's type (integral floats → int, in ``cfg``).

    Returns:
        the schema's fields, typed (fields ``cfg`` does not have are left missing).
    """
    # interpolations stay as they are (``${batch_size}``): their targets are checked themselves
    raw = OmegaConf.to_container(cfg, resolve=False)
    picked = pick(RunSchema, raw, cfg, "")
    try:
        typed = OmegaConf.merge(OmegaConf.structured(RunSchema), picked)
    except ValidationError as err:
        key = str(err.full_key)
        got = lookup(picked, key)
        raise bad_input(key, TYPE_WORDS.get(field_type(key), "a valid value"), repr(got)) from None
    return typed


def pick(schema: type, raw: dict, cfg: DictConfig, prefix: str) -> dict:
    """The values of ``raw`` for ``schema``'s fields (recursively); integral floats of int fields become ints."""
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(schema)
    for name in (f.name for f in dataclasses.fields(schema)):
        if not isinstance(raw, dict) or name not in raw:
            continue
        value, hint = raw[name], strip_optional(hints[name])
        if dataclasses.is_dataclass(hint):
            out[name] = pick(hint, value, cfg, f"{prefix}{name}.") if isinstance(value, dict) else value
            continue
        if hint is int and isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
            OmegaConf.update(cfg, f"{prefix}{name}", value)  # config.yaml records the integer the run uses
        out[name] = value
    return out


def strip_optional(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint


def field_type(key: str) -> Any:
    """The schema's type of ``key`` (``optim.g.betas[1]`` → the list's item type)."""
    hint: Any = RunSchema
    for part in re.sub(r"\[\d+\]", "", key).split("."):
        hint = strip_optional(typing.get_type_hints(hint)[part])
    if "[" in key:
        hint = typing.get_args(hint)[0]
    return hint


def lookup(raw: Any, key: str) -> Any:
    for part in re.findall(r"[^.\[\]]+", key):
        raw = raw[int(part)] if isinstance(raw, list) else raw[part]
    return raw


def check_values(typed: DictConfig, cfg: DictConfig) -> None:
    """What a type cannot say: ranges, finite learning rates, the seed's range, precision and accelerator.

    ``typed``: the schema's fields, as :func:`check_types` converted them; ``cfg``: the whole config.
    """
    for key in POSITIVE:
        value = OmegaConf.select(typed, key)
        if value is not None:
            check_positive_int(key, value)
    for key in NON_NEGATIVE:
        value = OmegaConf.select(typed, key)
        if value is not None and value < 0:
            raise bad_input(key, "an integer >= 0 (0: never)", repr(value))
    seed = OmegaConf.select(typed, "seed")
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise bad_input("seed", f"an integer from 0 to {SEED_MAX}", repr(seed))
    for key in ("optim.lr", "optim.g.lr", "optim.d.lr"):
        value = OmegaConf.select(typed, key)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise bad_input(key, "a positive finite number", repr(value))
    trainer = cfg.get("trainer") or {}
    if "precision" in trainer:
        check_precision(trainer.precision)
    if "accelerator" in trainer:
        check_accelerator(trainer.accelerator)


def check_precision(precision: Any) -> None:
    """Lightning's own list of precisions (its check, before the Trainer prints anything)."""
    from lightning_r1.lightning_compat import check_precision_value

    try:
        check_precision_value(precision)
    except ValueError as err:
        allowed = str(err).split("Allowed precision values:")[-1].strip()
        raise bad_input("trainer.precision", f"one of {allowed}", repr(precision)) from None


def check_accelerator(name: Any) -> None:
    """A named accelerator that this machine has (``gpu``: CUDA or MPS); ``auto`` picks what there is."""
    from lightning.pytorch.accelerators import AcceleratorRegistry

    if not isinstance(name, str) or name == "auto":
        return
    names = sorted(AcceleratorRegistry.available_accelerators())
    wanted = ("cuda", "mps") if name == "gpu" else (name,)
    if not set(wanted) <= set(names):
        raise bad_input("trainer.accelerator", f"one of auto, gpu, {', '.join(names)}", repr(name))
    if not any(AcceleratorRegistry[n]["accelerator"].is_available() for n in wanted):
        have = ", ".join(n for n in names if AcceleratorRegistry[n]["accelerator"].is_available())
        raise bad_input(
            "trainer.accelerator",
            f"an accelerator this machine has (auto, {have})",
            f"{name!r}, which it has not",
        )

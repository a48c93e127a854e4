"""One schedule vocabulary for every hyperparameter a published recipe moves during training.

A schedule is a pure function of the *generator iteration* (``Progress.iteration``, which every checkpoint holds),
so a resumed run recomputes exactly the values it would have had: no schedule state is saved anywhere. The kinds:

- ``constant``: ``start`` throughout.
- ``linear``: a straight ramp from ``start`` at iteration 0 to ``end`` at ``length``, then ``end``.
- ``cosine``: half a cosine from ``start`` to ``end`` over ``length``, then ``end`` (Loshchilov & Hutter 2017,
  SGDR; R3GAN, Huang et al. 2024, §4, decays γ, the learning rates and Adam's β2 this way).
- ``cosine_warmup``: a linear warm-up from ``warmup_start`` to ``start`` over ``warmup`` iterations, ``start`` held
  for ``hold`` iterations, then half a cosine to ``end`` over the rest of ``length`` (R3GAN's
  ``cosine_decay_with_warmup``: ``length`` counts the warm-up and the hold).

Every scheduled scalar is ``float | Schedule`` and read where it is used, at the iteration (nanoGPT's ``get_lr(it)``):
in a config, a plain number or a mapping, e.g. ``regularizer.r1.gamma: {kind: cosine, start: 1.0, end: 0.1}``. Used by
the regularizers (γ, weights: :mod:`lightning_r1.regularizers.base`), instance noise (σ), the augmentation probability
and :class:`~lightning_r1.callbacks.hyperparameter_schedules.HyperparameterSchedules` (learning rates, Adam's β2, the
EMA half-life). A schedule without ``length`` runs over the run's ``iterations``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, open_dict

KINDS = ("constant", "linear", "cosine", "cosine_warmup")


def _check_number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"Expected `{field}` to be a finite float, got {value!r}")
    return float(value)


def _check_count(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Expected `{field}` to be an integer >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class Schedule:
    """A value as a function of the generator iteration.

    Args:
        kind: one of :data:`KINDS`.
        start: the value at iteration 0 (``constant``: always); for ``cosine_warmup``, the value reached after the
            warm-up and held.
        end: the value from ``length`` on (ignored by ``constant``).
        length: generator iterations the schedule runs over (``None``: to be filled in with the run's length, see
            :meth:`with_length`; a value is needed before :meth:`value_at` is called on a non-constant schedule).
        warmup: ``cosine_warmup`` only: iterations of the linear warm-up from ``warmup_start``.
        hold: ``cosine_warmup`` only: iterations ``start`` is held after the warm-up.
        warmup_start: ``cosine_warmup`` only: the value at iteration 0.
        name: the config field it came from, for error messages (``schedule.lr_g``).

    Raises:
        ValueError: naming ``name``'s field on an unknown kind, a non-finite value, a length < 1, a negative
            warm-up or hold, warm-up/hold given to a kind that has none, or warm-up + hold not shorter than length.
    """

    kind: str = "constant"
    start: float = 0.0
    end: float | None = None
    length: int | None = None
    warmup: int = 0
    hold: int = 0
    warmup_start: float = 0.0
    name: str = "schedule"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Expected `{self.name}.kind` to be one of {list(KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "start", _check_number(f"{self.name}.start", self.start))
        object.__setattr__(
            self, "warmup_start", _check_number(f"{self.name}.warmup_start", self.warmup_start)
        )
        _check_count(f"{self.name}.warmup", self.warmup, 0)
        _check_count(f"{self.name}.hold", self.hold, 0)
        if self.kind == "constant":
            return
        object.__setattr__(self, "end", _check_number(f"{self.name}.end", self.end))
        if self.kind != "cosine_warmup" and (self.warmup or self.hold):
            raise ValueError(
                f"Expected `{self.name}.warmup` and `{self.name}.hold` to be 0 for kind {self.kind!r} "
                f"(only cosine_warmup has them), got {self.warmup} and {self.hold}"
            )
        if self.length is not None:
            _check_count(f"{self.name}.length", self.length, 1)
            if self.warmup + self.hold >= self.length:
                raise ValueError(
                    f"Expected `{self.name}.warmup` + `{self.name}.hold` < `{self.name}.length`, got "
                    f"{self.warmup} + {self.hold} >= {self.length}"
                )

    @classmethod
    def from_config(cls, node: Schedule | Mapping[str, Any] | float | int, name: str) -> Schedule:
        """A schedule from a config node: a mapping of the fields above, a plain number (constant), or a Schedule.

        Raises:
            ValueError: naming ``name`` on an unknown field or a bad value.
        """
        if isinstance(node, Schedule):
            return node
        if isinstance(node, int | float) and not isinstance(node, bool):
            return cls("constant", float(node), name=name)
        if not isinstance(node, Mapping):
            raise ValueError(f"Expected `{name}` to be a number or a mapping with `kind`, got {node!r}")
        fields = {"kind", "start", "end", "length", "warmup", "hold", "warmup_start"}
        unknown = sorted(set(node) - fields)
        if unknown:
            raise ValueError(
                f"`{name}`: unknown field `{unknown[0]}`; valid fields: {', '.join(sorted(fields))}"
            )
        return cls(**dict(node), name=name)

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant"

    def with_length(self, length: int) -> Schedule:
        """This schedule with ``length`` filled in where none was given (the run's length)."""
        if self.length is not None or self.is_constant:
            return self
        return Schedule(
            self.kind, self.start, self.end, length, self.warmup, self.hold, self.warmup_start, self.name
        )

    def value_at(self, iteration: int) -> float:
        """The value at generator iteration ``iteration`` (iterations done; negative counts as 0).

        A schedule whose ``length`` is not set yet (used on its own, before a run gave it its length, see
        :func:`~lightning_r1.regularizers.base.with_run_length`) has not begun: ``start``.
        """
        if self.is_constant or self.length is None:
            return self.start
        return schedule_value(
            self.kind, self.start, float(self.end), max(iteration, 0), self.length,
            self.warmup, self.hold, self.warmup_start,
        )  # fmt: skip


def upgrade_schedule_arguments(cfg: DictConfig) -> DictConfig:
    """A config written before the one schedule form, rewritten to it, so an earlier run's checkpoint still resumes.

    Earlier versions wrote a penalty's schedule as arguments beside its strength (``schedule``, ``gamma_final`` /
    ``weight_final`` / ``sigma_final``, ``schedule_iterations``, ``schedule_warmup``, ``schedule_hold``) and the
    augmentation's as ``p_final``, ``p_ramp_iterations``, ``p_schedule``; each becomes the strength's (``p``'s)
    mapping ``{kind, start, end, length, warmup, hold}`` (a constant: the number alone); instance noise's class moved
    to :mod:`lightning_r1.augment`. ``cfg`` is changed in place.
    """
    with open_dict(cfg):
        for node in (cfg.get("regularizer") or {}).values():
            if node.get("_target_") == "lightning_r1.regularizers.InstanceNoise":  # now an input transform
                node["_target_"] = "lightning_r1.augment.InstanceNoise"
            name = next((n for n in ("gamma", "weight", "sigma") if f"{n}_final" in node), None)
            if name is None:
                continue
            kind, end = node.pop("schedule", "constant"), node.pop(f"{name}_final")
            length, warmup, hold = (node.pop(k, d) for k, d in
                                    (("schedule_iterations", None), ("schedule_warmup", 0), ("schedule_hold", 0)))  # fmt: skip
            if kind != "constant":
                node[name] = {"kind": kind, "start": node[name], "end": end, "length": length, "warmup": warmup,
                              "hold": hold}  # fmt: skip
        augment = cfg.get("augment")
        if augment is not None and "p_final" in augment:
            end, length, kind = (
                augment.pop("p_final"),
                augment.pop("p_ramp_iterations", None),
                augment.pop("p_schedule", "linear"),
            )
            if end is not None:
                augment.p = {"kind": kind, "start": augment.p, "end": end, "length": length}
    return cfg


def value_at(value: float | Schedule, iteration: int) -> float:
    """A scheduled scalar (``float | Schedule``, the one form) at generator iteration ``iteration``: a plain number is
    itself, a :class:`Schedule` its :meth:`Schedule.value_at`."""
    return value.value_at(iteration) if isinstance(value, Schedule) else value


def schedule_value(
    kind: str,
    start: float,
    end: float,
    iteration: int,
    length: int,
    warmup: int = 0,
    hold: int = 0,
    warmup_start: float = 0.0,
) -> float:
    """The pure formula behind :meth:`Schedule.value_at` (arguments as there; no checks).

    Returns:
        the scheduled value at ``iteration``.
    """
    if kind == "constant":
        return start
    if iteration >= length:
        return end
    if kind == "linear":
        return start + (end - start) * iteration / length
    if iteration < warmup:
        return warmup_start + (start - warmup_start) * iteration / warmup
    if iteration < warmup + hold:
        return start
    # half a cosine from start (weight 1) to end (weight 0) over what follows the warm-up and the hold
    fraction = (iteration - warmup - hold) / (length - warmup - hold)
    weight = 0.5 * (1.0 + math.cos(math.pi * fraction))
    return end + (start - end) * weight

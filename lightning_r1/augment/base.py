"""The augmentation callback: D sees augmented real and fake images in every D pass (D step and G step).

A discriminator trained on few images memorises them; augmenting everything D sees, real *and* generated, with
differentiable operations keeps the augmentations out of G's distribution (G's gradient flows back through them)
while D can no longer memorise (Zhao et al. 2020, DiffAugment; Karras et al. 2020, StyleGAN2-ADA). Each op is
applied per sample with probability ``p`` (``p = 1``: DiffAugment's "every op, every step").

Like the regularizers, an augmentation is a Lightning callback: the ``GAN`` collects it once at set-up and hands it
to the D pass, which applies it *after* marking D's input ``requires_grad``. R1/R2 are therefore taken with respect to
the un-augmented images, through the augmentation, as in StyleGAN2-ADA's and R3GAN's loss code (docs/augmentation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from torch import Tensor

from lightning_r1.augment.ops import OPS, draw_uniforms
from lightning_r1.distributed import world_size
from lightning_r1.progress import Progress
from lightning_r1.regularizers.base import require_gan_module, with_run_length
from lightning_r1.schedules import Schedule


@dataclass
class AugmentDraw:
    """The random parameters of one augmentation of one batch: per op, who is augmented and how.

    ``applied[name]`` is a bool ``[N]`` (the op's coin with probability p); ``params[name]`` its uniforms ``[N, k]``.
    """

    applied: dict[str, Tensor]
    params: dict[str, Tensor]

    def rows(self, rows: Tensor) -> AugmentDraw:
        """The same draw for a subset (or repeats) of the batch's rows."""
        return AugmentDraw(
            {k: v[rows] for k, v in self.applied.items()}, {k: v[rows] for k, v in self.params.items()}
        )


def check_probability(field: str, value: Any) -> float:
    """Return ``value`` as a float if it lies in [0, 1].

    Raises:
        ValueError: ``Expected `field` to be a probability in [0, 1], got value``.
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    if not ok:
        raise ValueError(f"Expected `{field}` to be a probability in [0, 1], got {value!r}")
    return float(value)


def probability_schedule(p: float | Schedule | Mapping[str, Any]) -> Schedule:
    """``p`` as a :class:`~lightning_r1.schedules.Schedule` (a number: constant) whose ends are probabilities.

    Raises:
        ValueError: naming ``p`` (``p.start``, ``p.end``) outside [0, 1], or the schedule's bad field.
    """
    if not isinstance(p, Schedule | Mapping):
        check_probability("p", p)
        return Schedule.from_config(p, "p")
    schedule = Schedule.from_config(p, "p")
    check_probability("p.start", schedule.start)
    if not schedule.is_constant:
        check_probability("p.end", schedule.end)
    return schedule


def check_ops(ops: Sequence[str]) -> tuple[str, ...]:
    """Return ``ops`` as a tuple if every name is a known op (:data:`lightning_r1.augment.ops.OPS`).

    Raises:
        ValueError: naming the first unknown op and the known ones.
    """
    if isinstance(ops, str):
        raise ValueError(f"Expected `ops` to be a list of op names, got the string {ops!r}")
    unknown = [name for name in ops if name not in OPS]
    if unknown:
        raise ValueError(f"Expected `ops` to name ops out of {list(OPS)}, got unknown op {unknown[0]!r}")
    return tuple(ops)


class Augment(L.Callback):
    """Differentiable augmentation of D's inputs, each op applied per sample with probability ``p``.

    ``p`` is a number or a schedule over generator iterations, the project's one schedule form
    (:mod:`lightning_r1.schedules`; R3GAN's augmentation probability 0 → 0.55 is ``{kind: cosine, start: 0.0,
    end: 0.55}``), read at the GAN's iteration.

    Args:
        ops: op names out of :data:`~lightning_r1.augment.ops.OPS`, applied in this order.
        p: the probability of each op per sample: a number, or a :class:`~lightning_r1.schedules.Schedule` (or its
            mapping) whose ``length`` defaults to the run's ``iterations``.

    Raises:
        ValueError: an unknown op name, a probability outside [0, 1] (at either end of its schedule), a bad schedule.
    """

    name = "augment"

    def __init__(
        self,
        ops: Sequence[str] = ("brightness", "saturation", "contrast", "translation", "cutout"),
        p: float | Schedule | Mapping[str, Any] = 1.0,
    ) -> None:
        self.ops = check_ops(ops)
        self.p_schedule = probability_schedule(p)
        self.progress: Progress | None = None  # the GAN's counters, bound in setup
        self.interval = 4  # D steps per r_t measurement (ADA's adjustment interval)
        self.sign_sum = 0.0  # Σ sign(D(real)) over the interval so far (this process), checkpointed
        self.count = 0  # real images in it (this process)
        self.steps = 0  # D steps in it
        self.r_t: float | None = None  # E[sign(D(real))] over the last complete interval (global batch)

    # ---- the probability ---------------------------------------------------------------------------------------
    @property
    def iteration(self) -> int:
        return self.progress.iteration if self.progress is not None else 0

    @property
    def p(self) -> float:
        """The probability of each op at the current generator iteration."""
        return self.p_schedule.value_at(self.iteration)

    # ---- draw and apply ----------------------------------------------------------------------------------------
    def draw(
        self, n: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> AugmentDraw:
        """Random parameters for this rank's ``n`` samples, sliced from one draw for the global batch.

        ``dtype``: of the images they will augment; float64 images get float64 parameters (a float32 draw would
        round them to ~1e-8 in a 64-true run), any other dtype float32 ones.
        """
        p = self.p
        uniforms = torch.float64 if dtype == torch.float64 else torch.float32
        applied, params = {}, {}
        for name in self.ops:
            coins = draw_uniforms(n, 1 + OPS[name].draws, device, uniforms)
            applied[name] = coins[:, 0] < p
            params[name] = coins[:, 1:]
        return AugmentDraw(applied, params)

    def draw_like(self, x: Tensor | None) -> AugmentDraw | None:
        """A draw for the batch ``x`` (None for no batch)."""
        return None if x is None else self.draw(x.shape[0], x.device, x.dtype)

    def apply(self, x: Tensor, draw: AugmentDraw) -> Tensor:
        """``x`` augmented with the parameters of ``draw``; differentiable in ``x``."""
        for name in self.ops:
            mask = draw.applied[name]
            if not bool(mask.any()):
                continue
            out = OPS[name].apply(x, draw.params[name])
            x = out if bool(mask.all()) else torch.where(mask.view(-1, 1, 1, 1), out, x)
        return x

    def __call__(self, x: Tensor) -> Tensor:
        """``x`` augmented with a fresh draw."""
        if self.p == 0:
            return x
        return self.apply(x, self.draw(x.shape[0], x.device, x.dtype))

    def observe(self, d_real: Tensor) -> None:
        """Accumulate sign(D(real)) of a D step; every ``interval`` D steps, r_t over the global batch.

        r_t = E[sign(D(real))] (Karras et al. 2020, StyleGAN2-ADA §3) is logged as ``train/ada_rt`` for every
        augmentation, so D's overfitting can be compared across them; :class:`~lightning_r1.augment.ADA` adapts
        ``p`` from it (:meth:`adapt`).
        """
        self.sign_sum += float(d_real.detach().sign().sum())
        self.count += d_real.shape[0]
        self.steps += 1
        if self.steps < self.interval:
            return
        totals = torch.tensor([self.sign_sum, float(self.count)], dtype=torch.float64)
        if world_size() > 1:  # the same r_t (and p) on every process: sums over the global batch
            totals = totals.to(d_real.device)
            dist.all_reduce(totals)
        self.r_t = float(totals[0] / totals[1])
        self.adapt(self.r_t, int(totals[1]))
        self.sign_sum, self.count, self.steps = 0.0, 0, 0

    def adapt(self, r_t: float, images: int) -> None:
        """React to a new r_t measured over ``images`` real images (global); a fixed ``p`` does not."""

    def values(self) -> dict[str, float]:
        """What the run logs each batch: ``train/aug_p`` and, once measured, ``train/ada_rt``."""
        values = {"train/aug_p": self.p}
        if self.r_t is not None:
            values["train/ada_rt"] = self.r_t
        return values

    def state_dict(self) -> dict[str, Any]:
        return {"sign_sum": self.sign_sum, "count": self.count, "steps": self.steps, "r_t": self.r_t}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.sign_sum, self.count, self.steps = (
            state_dict["sign_sum"],
            state_dict["count"],
            state_dict["steps"],
        )
        self.r_t = state_dict["r_t"]

    # ---- the training-loop side --------------------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        require_gan_module(
            type(self).__name__,
            pl_module,
            "call it on every D input in your training_step (`D(augment(real))`, `D(augment(fake))`; ADA: also "
            "`augment.observe(D(augment(real)))`), or train lightning_r1.GAN",
        )
        self.progress = pl_module.progress  # the GAN's counters: the schedule of p is read at its iteration

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.p_schedule = with_run_length(self.p_schedule, trainer, pl_module, "augment")
        datamodule = trainer.datamodule
        shape = getattr(datamodule, "sample_shape", None) if datamodule is not None else None
        if shape is not None and len(shape) != 3:
            raise ValueError(
                f"augment: image augmentations need image data [C, H, W], but the dataset's samples have shape "
                f"{tuple(shape)}; use augment=none"
            )

    @property
    def state_key(self) -> str:
        return self._generate_state_key(name=self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ops={list(self.ops)}, p={self.p})"

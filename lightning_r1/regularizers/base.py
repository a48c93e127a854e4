"""The shared shell of every penalty: a Lightning callback that is also a plain callable.

A regularizer holds its strength (``gamma`` or ``weight``), its schedule and its lazy-regularization counter. The
``GAN`` module finds every ``Regularizer`` in ``trainer.callbacks`` and asks it, on each discriminator step, whether it
is due and what it adds to the D loss (:meth:`Regularizer.d_loss_term`: the penalty with its own lazy weight). Its
schedule runs over generator iterations, read from the GAN's :class:`~lightning_r1.progress.Progress`. Subclasses
only define :meth:`per_sample`, the unweighted per-sample penalty.
"""

from __future__ import annotations

import difflib
import inspect
import math
from typing import Any

import lightning as L
from torch import Tensor, nn

from lightning_r1.distributed import world_size
from lightning_r1.progress import Progress
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass
from lightning_r1.schedules import KINDS, Schedule


def check_non_negative(name: str, value: Any, allow_auto: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite float >= 0 (or "auto" when allowed)."""
    if allow_auto and value == "auto":
        return
    ok = (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    )
    if not ok:
        expected = "a non-negative float or 'auto'" if allow_auto else "a non-negative float"
        raise ValueError(f"Expected `{name}` to be {expected}, got {value!r}")


def check_argument_names(cls: type, kwargs: dict[str, Any]) -> None:
    """Raise a ``TypeError`` that lists the valid arguments when a keyword is not one (``R1(gama=5)``)."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [name for name in params if name != "self"]
    unknown = [name for name in kwargs if name not in params]
    if unknown:
        close = difflib.get_close_matches(unknown[0], valid, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise TypeError(
            f"{cls.__name__}: unexpected argument `{unknown[0]}`{hint}; valid arguments: {', '.join(valid)}"
        )


class Regularizer(L.Callback):
    """Base class. Subclasses set the class attributes and implement :meth:`per_sample`.

    Args:
        strength: ``gamma`` (R1/R2) or ``weight`` (gradient penalties); "auto" only where the subclass allows it.
        every: lazy regularization (Karras et al. 2020, StyleGAN2 §3.1): apply on every ``every``-th D step with the
            weight multiplied by ``every`` so the average pull is unchanged.
        schedule: a kind of :mod:`lightning_r1.schedules`: "constant", "linear", "cosine" or "cosine_warmup"
            (from the strength to ``final`` over ``schedule_iterations`` generator iterations).
        final: end strength of a non-constant schedule.
        schedule_iterations: length of the schedule; defaults to the GAN's ``iterations``.
        lazy_correction: StyleGAN2's optimizer correction for lazy regularization, lr·k/(k+1) and
            beta^(k/(k+1)) on D's Adam. StyleGAN2 takes the penalty as an extra optimizer step; here it joins the
            main D step, so the correction is off by default and offered for replicating StyleGAN2 set-ups.
        schedule_warmup, schedule_hold: ``cosine_warmup`` only: iterations of the linear warm-up from 0 to the
            strength, then iterations the strength is held before the cosine decay (R3GAN's
            ``cosine_decay_with_warmup``); both count within ``schedule_iterations``.

    Raises:
        ValueError: on a negative/NaN strength, ``every`` < 1, an unknown schedule, or a warm-up/hold that the
            schedule has no room for.
    """

    name: str = "regularizer"
    strength_name: str = "gamma"
    coefficient: float = 1.0  # R1/R2 use gamma/2, gradient penalties the weight itself
    allows_auto: bool = False
    needs_real_grad: bool = False  # mark the real batch requires_grad before D's forward
    needs_fake_grad: bool = False
    adds_penalty: bool = True  # False for input transforms such as instance noise
    reads: tuple[str, ...] = ("real", "fake")  # logits the penalty reads from the step's D pass
    needs_fake_batch: bool = False  # uses the fake batch without reading its logits (interpolates)

    def __new__(cls, *args: Any, **kwargs: Any) -> Regularizer:
        check_argument_names(cls, kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        strength: float | str,
        every: int = 1,
        schedule: str = "constant",
        final: float | None = None,
        schedule_iterations: int | None = None,
        lazy_correction: bool = False,
        *,
        schedule_warmup: int = 0,
        schedule_hold: int = 0,
    ) -> None:
        check_non_negative(self.strength_name, strength, allow_auto=self.allows_auto)
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"Expected `every` to be an integer >= 1, got {every!r}")
        if schedule not in KINDS:
            raise ValueError(f"Expected `schedule` to be one of {list(KINDS)}, got {schedule!r}")
        if schedule != "constant":
            check_non_negative(f"{self.strength_name}_final", final)
        if schedule_iterations is not None and (
            not isinstance(schedule_iterations, int) or schedule_iterations < 1
        ):
            raise ValueError(
                f"Expected `schedule_iterations` to be a positive integer, got {schedule_iterations!r}"
            )
        self.strength = strength
        self.every = every
        self.schedule = schedule
        self.final = final
        self.schedule_iterations = schedule_iterations
        self.schedule_warmup, self.schedule_hold = schedule_warmup, schedule_hold
        self.strength_schedule(0.0)  # the warm-up and hold checked against the kind and the length now
        self.lazy_correction = lazy_correction
        self.d_steps_seen = 0  # lazy counter, checkpointed
        self.progress: Progress | None = None  # the GAN's counters, once attached to one (see `iteration`)
        self._iteration = 0  # the schedule's position when used on its own
        self.resolved_auto: float | None = None

    @property
    def iteration(self) -> int:
        """Generator iterations done: the GAN's own counter while attached to one, else the value set here."""
        return self.progress.iteration if self.progress is not None else self._iteration

    @iteration.setter
    def iteration(self, value: int) -> None:
        self._iteration = value

    # ---- the math --------------------------------------------------------------------------------------------
    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        """Unweighted per-sample penalty ``[N]``; subclasses implement it."""
        raise NotImplementedError

    def strength_at(self, iteration: int) -> float:
        """gamma (or weight) after the schedule at ``iteration``."""
        start = self.resolved_auto if self.strength == "auto" else self.strength
        if start is None:
            raise RuntimeError(
                f"{self.name}: {self.strength_name}='auto' is resolved from the first real batch"
            )
        # used on its own, with no run length: the schedule has not begun
        if self.schedule_iterations is None:
            return float(start)
        return self.strength_schedule(float(start)).value_at(iteration)

    def strength_schedule(self, start: float) -> Schedule:
        """The strength's schedule from ``start`` (one vocabulary with the optimizers', :mod:`lightning_r1.schedules`).

        Raises:
            ValueError: naming ``schedule_warmup`` / ``schedule_hold`` when the kind has none or no room for them.
        """
        try:
            return Schedule(
                self.schedule, start, self.final, self.schedule_iterations, self.schedule_warmup,
                self.schedule_hold, 0.0, name=self.name,
            )  # fmt: skip
        except ValueError as err:  # the Schedule's field names, as this class's arguments
            message = str(err).replace(f"`{self.name}.warmup`", "`schedule_warmup`")
            message = message.replace(f"`{self.name}.hold`", "`schedule_hold`")
            raise ValueError(message.replace(f"`{self.name}.length`", "`schedule_iterations`")) from None

    def penalty(self, d_pass: DiscriminatorPass, iteration: int | None = None) -> Tensor:
        """Weighted penalty ``coefficient · strength · mean_i per_sample_i`` (differentiable w.r.t. D's weights)."""
        if self.strength == "auto" and self.resolved_auto is None:
            self.resolved_auto = auto_gamma(d_pass.real)
        strength = self.strength_at(self.iteration if iteration is None else iteration)
        return self.coefficient * strength * self.per_sample(d_pass).mean()

    def d_loss_term(self, d_pass: DiscriminatorPass) -> tuple[Tensor, Tensor]:
        """On a due D step: the penalty (as logged) and what joins the D loss, ``every · penalty``.

        Lazy regularization (Karras et al. 2020, StyleGAN2 §3.1): applied on every k-th step with weight × k, so
        the average pull is unchanged.
        """
        penalty = self.penalty(d_pass)
        return penalty, self.every * penalty

    def __call__(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor | None = None, *extra: object
    ) -> Tensor:
        """Plain-callable use in any training loop: the weighted scalar penalty for this batch.

        Runs D itself, only on what the penalty reads (R1: the real batch; R2: the fake one; WGAN-GP: the
        interpolates), with ``extra`` passed through as D's other inputs (``D(x, labels)``; labels are never
        differentiated). Lazy scheduling (``every``) is the callback's job and not applied here. The result keeps
        its graph: add it to your D loss and call backward. For a D call of any other shape, use
        :mod:`lightning_r1.functional`.
        """
        needs_fake = "fake" in self.reads or self.needs_fake_batch
        if fake is None and needs_fake:
            raise ValueError(
                f"{type(self).__name__} needs the fake batch: call it as ({{D}}, real, fake, ...)"
            )
        d_pass = DiscriminatorPass.forward(
            discriminator,
            real,
            fake,
            real_grad=self.needs_real_grad,
            fake_grad=self.needs_fake_grad,
            extra=extra,
            sides=self.reads,
        )
        return self.penalty(d_pass)

    def perturb(self, x: Tensor) -> Tensor:
        """Transform D's inputs (real and fake) before every D forward; identity for penalties."""
        return x

    # ---- the training-loop side --------------------------------------------------------------------------------
    def next_d_step(self) -> bool:
        """Advance the lazy counter by one D step; True when the penalty applies on this step."""
        due = self.d_steps_seen % self.every == 0
        self.d_steps_seen += 1
        return due

    @property
    def state_key(self) -> str:
        return self._generate_state_key(name=self.name)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        require_gan_module(
            self.name.upper(),
            pl_module,
            f"call `{type(self).__name__}(...)(D, real, fake)` (or lightning_r1.functional's penalties, e.g. "
            "`r1_penalty`) in your training_step and add it to the D loss, or train lightning_r1.GAN",
        )
        # the one place the iteration is read from: the GAN's counters
        progress = getattr(pl_module, "progress", None)
        self.progress = progress if isinstance(progress, Progress) else None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.schedule_iterations is None and self.schedule != "constant":
            self.schedule_iterations = schedule_length(trainer, pl_module, f"{self.name}.schedule_iterations")
            try:
                self.strength_schedule(0.0)  # the warm-up and hold must fit in the run's length too
            except ValueError as err:
                raise ValueError(f"{self.name}: {err}") from None
        shape = getattr(trainer.datamodule, "sample_shape", None) if trainer.datamodule is not None else None
        if self.strength == "auto" and shape is not None and len(shape) != 3:
            raise ValueError(
                f"{self.name}: {self.strength_name}='auto' needs image data (0.0002·resolution²/batch), "
                f"but the dataset's samples have shape {tuple(shape)}; set {self.strength_name} to a number"
            )
        # lazy_correction is applied by the GAN, once for D's optimizer (not once per lazy regularizer)

    def state_dict(self) -> dict[str, Any]:
        return {
            "d_steps_seen": self.d_steps_seen,
            "iteration": self.iteration,
            "resolved_auto": self.resolved_auto,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.d_steps_seen = state_dict["d_steps_seen"]
        self.iteration = state_dict["iteration"]  # the GAN restores its own counter from the same checkpoint
        self.resolved_auto = state_dict["resolved_auto"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.strength_name}={self.strength}, every={self.every}, schedule={self.schedule})"


def require_gan_module(what: str, pl_module: L.LightningModule, remedy: str) -> None:
    """Raise one line unless ``pl_module`` is a :class:`~lightning_r1.GAN`: only the GAN's training step asks the
    regularizer and augmentation callbacks for their part, so on any other module they would do nothing, silently.

    Raises:
        TypeError: naming the module and ``remedy``.
    """
    from lightning_r1.gan import GAN  # here, not at the top: gan.py imports this package

    if not isinstance(pl_module, GAN):
        raise TypeError(
            f"{what} as a Trainer callback acts only in lightning_r1.GAN's training step; "
            f"{type(pl_module).__name__} is not a GAN, so it would train without it: {remedy}"
        )


def auto_gamma(real: Tensor) -> float:
    """StyleGAN2-ADA's heuristic gamma = 0.0002 · resolution² / batch (Karras et al. 2020b, App. D).

    ``batch`` is the *global* batch (``real``'s rows times the number of processes), as StyleGAN2-ADA's
    ``--batch`` is the total over all GPUs.
    """
    if real.dim() != 4:
        raise ValueError(f"gamma='auto' needs image batches [N, C, H, W], got shape {tuple(real.shape)}")
    return 0.0002 * real.shape[-1] ** 2 / (real.shape[0] * world_size())


def schedule_length(trainer: L.Trainer, pl_module: L.LightningModule, field: str) -> int:
    """Generator iterations a schedule runs over when none was given: the GAN's ``iterations``, else the
    Trainer's ``max_steps`` (optimizer steps) divided by the steps of one iteration.

    Raises:
        ValueError: naming ``field`` when the run's length is unknown (a schedule would silently stay constant).
    """
    iterations = getattr(pl_module, "iterations", None)
    if iterations:
        return int(iterations)
    if trainer.max_steps and trainer.max_steps > 0:
        steps_per_iteration = getattr(pl_module, "d_steps", 0) + 1 if hasattr(pl_module, "d_steps") else 1
        return max(trainer.max_steps // steps_per_iteration, 1)
    raise ValueError(
        f"{field}: a schedule needs the run's length; set it, or GAN(iterations=...), or Trainer(max_steps=...), "
        "got none of them"
    )


def apply_lazy_correction(optimizer: Any, every: int) -> None:
    """StyleGAN2's correction for lazy regularization: lr·k/(k+1), betas^(k/(k+1)) (Karras et al. 2020, §3.1)."""
    ratio = every / (every + 1)
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * ratio
        if "betas" in group:
            group["betas"] = tuple(beta**ratio for beta in group["betas"])

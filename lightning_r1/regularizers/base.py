"""The shared shell of every penalty: a Lightning callback that is also a plain callable.

A regularizer holds its state: its strength (``gamma`` or ``weight``: ``float | Schedule``, a mapping turned into a
:class:`~lightning_r1.schedules.Schedule` once), its lazy-regularization counter, and what else the penalty carries (LeCam's
averages). The formula is :mod:`lightning_r1.functional`'s (torchmetrics' split: the class holds the state, the function
holds the math). The ``GAN`` collects its regularizers once, when it is set up, and asks the due ones on each
discriminator step what they add to the D loss (:meth:`Regularizer.d_loss_term`: the penalty with its own lazy
weight), passing the generator iteration a schedule is read at. Subclasses define :meth:`Regularizer.per_sample`
(the per-sample quantity from the step's D pass) and :meth:`Regularizer.formula` (the functional core's weighting).
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Mapping
from typing import Any

import lightning as L
from torch import Tensor, nn

from lightning_r1.distributed import world_size
from lightning_r1.functional import weighted_mean
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass
from lightning_r1.schedules import Schedule, value_at


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
    """Base class. Subclasses set the class attributes, store their strength and implement :meth:`per_sample` and
    :meth:`formula`.

    A subclass keeps its strength under its own name (``self.gamma``, ``self.weight``: :attr:`strength_name`) as
    ``float | Schedule`` (a number stays a number, a mapping becomes a Schedule once: :func:`strength_schedule`)
    and reads it where it is used, at the iteration the GAN passes (:meth:`strength_at`).

    Args:
        every: lazy regularization (Karras et al. 2020, StyleGAN2 §3.1): apply on every ``every``-th D step with the
            weight multiplied by ``every`` so the average pull is unchanged.
        lazy_correction: StyleGAN2's optimizer correction for lazy regularization, lr·k/(k+1) and
            beta^(k/(k+1)) on D's Adam. StyleGAN2 takes the penalty as an extra optimizer step; here it joins the
            main D step, so the correction is off by default and offered for replicating StyleGAN2 set-ups. The
            GAN applies it once, when it builds D's optimizer (:func:`lazy_interval`).

    Raises:
        ValueError: on ``every`` < 1.
    """

    name: str = "regularizer"
    strength_name: str = "weight"  # the attribute (and argument) that holds the strength
    needs_real_grad: bool = False  # mark the real batch requires_grad before D's forward
    needs_fake_grad: bool = False
    reads: tuple[str, ...] = ("real", "fake")  # logits the penalty reads from the step's D pass
    needs_fake_batch: bool = False  # uses the fake batch without reading its logits (interpolates)

    def __new__(cls, *args: Any, **kwargs: Any) -> Regularizer:
        check_argument_names(cls, kwargs)
        return super().__new__(cls)

    def __init__(self, every: int = 1, lazy_correction: bool = False) -> None:
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"Expected `every` to be an integer >= 1, got {every!r}")
        self.every = every
        self.lazy_correction = lazy_correction
        self.d_steps_seen = 0  # lazy counter, checkpointed

    # ---- the math: the class holds the state, lightning_r1.functional the formula --------------------------------
    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        """The per-sample quantity ``[N]`` the penalty averages (R1: ``||∇_x D(real_i)||²``); subclasses implement it."""
        raise NotImplementedError

    def formula(self, per_sample: Tensor, strength: float) -> Tensor:
        """The penalty from :meth:`per_sample` and the strength: a function of :mod:`lightning_r1.functional`
        (here ``strength · mean``; R1/R2 ``γ/2 · mean``)."""
        return weighted_mean(per_sample, strength)

    def strength_at(self, iteration: int) -> float:
        """The strength (``gamma``, ``weight``) at generator iteration ``iteration``."""
        return value_at(self._strength(), iteration)

    def _strength(self) -> float | Schedule:
        """The strength's schedule, under the subclass's own name (``self.gamma``, ``self.weight``)."""
        return getattr(self, self.strength_name)

    def penalty(self, d_pass: DiscriminatorPass, iteration: int = 0) -> Tensor:
        """The weighted penalty at generator iteration ``iteration`` (differentiable w.r.t. D's weights)."""
        return self.formula(self.per_sample(d_pass), self.strength_at(iteration))

    def d_loss_term(self, d_pass: DiscriminatorPass, iteration: int) -> tuple[Tensor, Tensor]:
        """On a due D step: the penalty (as logged) and what joins the D loss, ``every · penalty``.

        Lazy regularization (Karras et al. 2020, StyleGAN2 §3.1): applied on every k-th step with weight × k, so
        the average pull is unchanged.
        """
        penalty = self.penalty(d_pass, iteration)
        return penalty, self.every * penalty

    def __call__(
        self,
        discriminator: nn.Module,
        real: Tensor,
        fake: Tensor | None = None,
        *extra: object,
        iteration: int = 0,
    ) -> Tensor:
        """Plain-callable use in any training loop: the weighted scalar penalty for this batch.

        Runs D itself, only on what the penalty reads (R1: the real batch; R2: the fake one; WGAN-GP: the
        interpolates), with ``extra`` passed through as D's other inputs (``D(x, labels)``; labels are never
        differentiated). ``iteration``: where a scheduled strength stands (your loop's generator iteration). Lazy
        scheduling (``every``) is the callback's job and not applied here. The result keeps its graph: add it to
        your D loss and call backward. For a D call of any other shape, use :mod:`lightning_r1.functional`.
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
        return self.penalty(d_pass, iteration)

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

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        setattr(self, self.strength_name, with_run_length(self._strength(), trainer, pl_module, self.name))

    def state_dict(self) -> dict[str, Any]:
        return {"d_steps_seen": self.d_steps_seen}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.d_steps_seen = state_dict["d_steps_seen"]  # (earlier checkpoints also hold the GAN's iteration)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.strength_name}={self._strength()}, every={self.every})"


def strength_schedule(field: str, value: Any, allow_auto: bool = False) -> float | Schedule | str:
    """A penalty's strength in the one schedule form, ``float | Schedule``: a plain number stays a number, a mapping
    ``{kind, start, end, length, warmup, hold}`` becomes a Schedule (built once, here); ``"auto"`` is kept as is
    where allowed.

    Raises:
        ValueError: naming ``field`` on a bad schedule, or a negative/NaN strength at either end.
    """
    if allow_auto and value == "auto":
        return "auto"
    if isinstance(value, Schedule | Mapping):
        schedule = Schedule.from_config(value, field)
        check_non_negative(f"{field}.start", schedule.start)
        if not schedule.is_constant:
            check_non_negative(f"{field}.end", schedule.end)
        return schedule
    check_non_negative(field, value, allow_auto=allow_auto)  # a plain number: a constant
    return float(value)


def lazy_interval(regularizers: list[Regularizer]) -> int:
    """The lazy interval k that D's optimizer is corrected for (StyleGAN2 §3.1): the one ``every`` of the
    regularizers with ``lazy_correction``; 1 (no correction) when none asks for it.

    Raises:
        ValueError: when they ask for different intervals (D's optimizer is corrected once, for one k).
    """
    intervals = {reg.every for reg in regularizers if reg.lazy_correction and reg.every > 1}
    if len(intervals) > 1:
        raise ValueError(
            "Expected every regularizer with `lazy_correction=true` to share one `every` (D's optimizer is "
            f"corrected once, for one interval k), got {sorted(intervals)}"
        )
    return intervals.pop() if intervals else 1


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
    if pl_module.iterations:  # a GAN (every caller's set-up checked it)
        return int(pl_module.iterations)
    if trainer.max_steps and trainer.max_steps > 0:
        return max(trainer.max_steps // (pl_module.d_steps + 1), 1)
    raise ValueError(
        f"{field}: a schedule needs the run's length; set it, or GAN(iterations=...), or Trainer(max_steps=...), "
        "got none of them"
    )


def with_run_length(
    schedule: float | Schedule, trainer: L.Trainer, pl_module: L.LightningModule, owner: str
) -> float | Schedule:
    """``schedule`` with the run's length (:func:`schedule_length`) where it gives none; set once, at fit start
    (a plain number is returned as is).

    Raises:
        ValueError: naming ``owner`` and the field when the run's length is unknown or leaves no room for the
            schedule's warm-up and hold.
    """
    if not isinstance(schedule, Schedule) or schedule.length is not None or schedule.is_constant:
        return schedule
    length = schedule_length(trainer, pl_module, f"{owner}.{schedule.name}.length")
    try:
        return schedule.with_length(length)
    except ValueError as err:
        raise ValueError(f"{owner}: {err}") from None


def apply_lazy_correction(optimizer: Any, every: int) -> None:
    """StyleGAN2's correction for lazy regularization: lr·k/(k+1), betas^(k/(k+1)) (Karras et al. 2020, §3.1)."""
    ratio = every / (every + 1)
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * ratio
        if "betas" in group:
            group["betas"] = tuple(beta**ratio for beta in group["betas"])

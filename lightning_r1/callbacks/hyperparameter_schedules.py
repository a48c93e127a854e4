"""The learning rates, Adam's β2 and the EMA half-life as schedules over generator iterations (R3GAN's recipe).

R3GAN (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern GAN Baseline", §4 and its ``train.py``)
decays the learning rates 2e-4 → 5e-5, raises Adam's β2 0.9 → 0.99 and ramps the EMA half-life 0 → 5M images, all
along half a cosine over 20M images. This callback reads those values at the start of every training batch at the
GAN's ``iteration`` (:mod:`lightning_r1.schedules`) and hands them to :meth:`lightning_r1.GAN.set_hyperparameters`, the
module's one way in: a pure function of the generator iteration, so
every D step of one iteration and its G step see the same value, and a resumed run (whose counter the checkpoint
restores) recomputes exactly the values it would have had. The GAN logs ``train/lr_g``, ``train/lr_d``,
``train/beta2``, ``train/gamma`` and ``train/ema_half_life`` each iteration.

It composes with StyleGAN2's lazy-regularization correction (``lazy_correction=true``: lr·k/(k+1),
β^(k/(k+1)) on D's Adam, Karras et al. 2020, §3.1): the GAN corrects D's scheduled values as it corrected D's optimizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L

from lightning_r1.regularizers.base import require_gan_module, with_run_length
from lightning_r1.schedules import Schedule

ScheduleNode = Schedule | Mapping[str, Any] | float | None


class HyperparameterSchedules(L.Callback):
    """Schedules the optimizers' learning rates, Adam's β2 and the EMA half-life of a :class:`~lightning_r1.GAN`.

    Each argument is a schedule config (``{kind, start, end, length, warmup, hold, warmup_start}``, see
    :class:`~lightning_r1.schedules.Schedule`), a plain number (constant), or ``None`` (left as configured). A
    scheduled value replaces the optimizer's configured one (``optim.lr`` / ``optim.*.betas[1]``) from the first
    batch on.

    Args:
        lr_g: G's learning rate.
        lr_d: D's learning rate (times k/(k+1) under the lazy-regularization correction).
        beta2: Adam's β2 of both optimizers (D's raised to k/(k+1) under the correction).
        ema_half_life_images: the EMA generator's half-life in images (``gan.ema_half_life_images``).
        length: generator iterations of every schedule that gives no ``length`` (default: the run's iterations).

    Raises:
        ValueError: naming the field, for a bad schedule; at the start of fit, for a β2 schedule on an optimizer
            without betas or a schedule whose warm-up and hold do not fit the run.
        TypeError: at set-up, on a module that is not a :class:`~lightning_r1.GAN`.
    """

    def __init__(
        self,
        lr_g: ScheduleNode = None,
        lr_d: ScheduleNode = None,
        beta2: ScheduleNode = None,
        ema_half_life_images: ScheduleNode = None,
        length: int | None = None,
    ) -> None:
        nodes = {"lr_g": lr_g, "lr_d": lr_d, "beta2": beta2, "ema_half_life_images": ema_half_life_images}
        self.schedules = {
            name: Schedule.from_config(node, name) for name, node in nodes.items() if node is not None
        }
        if length is not None:
            self.schedules = {name: s.with_length(length) for name, s in self.schedules.items()}

    def value_at(self, name: str, iteration: int) -> float | None:
        """The scheduled (uncorrected) value of ``name`` at ``iteration``; ``None`` where it is not scheduled."""
        schedule = self.schedules.get(name)
        return None if schedule is None else schedule.value_at(iteration)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        require_gan_module("schedule", pl_module, "set the learning rates in your own training_step")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.schedules = {
            name: with_run_length(s, trainer, pl_module, "schedule") for name, s in self.schedules.items()
        }
        if "beta2" in self.schedules:
            for net in (pl_module.generator, pl_module.discriminator):
                optimizer = pl_module.optimizer_of(net).optimizer
                if not all("betas" in group for group in optimizer.param_groups):
                    raise ValueError(
                        f"schedule.beta2: expected optimizers with betas (Adam, AdamW), got {type(optimizer).__name__}"
                    )

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        names = ("lr_g", "lr_d", "beta2", "ema_half_life_images")
        pl_module.set_hyperparameters(**{name: self.value_at(name, pl_module.iteration) for name in names})

"""GAN: a LightningModule with manual optimization for any generator/discriminator pair: the *schedule* of training.

One *iteration* is one generator update, preceded by ``d_steps`` discriminator updates (one per training batch).
This file decides when each phase runs, which optimizer steps, and the EMA generator; what a phase computes is
:mod:`lightning_r1.phases` (StyleGAN2-ADA's ``training_loop.py`` vs ``training/loss.py``). Regularizers are Lightning
callbacks (``R1``, ``R2``, ``WGANGP``, ...), collected once when the module is set up into its table of penalties
(``regularizers``, StyleGAN2-ADA's ``phases`` list: each with its lazy ``interval``), with the input transforms
(instance noise) and the augmentation; on each D step the due penalties join the D loss, computed from the same D
forward as the adversarial loss. The lazy correction of D's optimizer is applied once, when it is built. The counters
live in one :class:`~lightning_r1.progress.Progress`, which every checkpoint saves; schedules are read at its
``iteration``, which the module passes to the penalties and transforms.
Step values (``train/*``, ``iteration``) are in ``trainer.callback_metrics`` after every batch and reach the loggers on
Lightning's logging steps (``Trainer(log_every_n_steps)``) and at the end (``lightning_r1.step_logging``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.seed import reset_seed
from torch import Tensor, nn

from lightning_r1 import phases
from lightning_r1.augment import Augment, InstanceNoise
from lightning_r1.checks import check_positive_int, check_sample_shapes
from lightning_r1.conditioning import (
    as_extra,
    check_conditioning,
    check_fit_labels,
    draw_fake_labels,
    split_batch,
)
from lightning_r1.distributed import average_gradients, randn_for_rank, world_size
from lightning_r1.ema import ema_beta, make_ema_copy, update_ema
from lightning_r1.errors import NonFiniteLossError
from lightning_r1.finite_guard import DeferredFiniteCheck
from lightning_r1.lightning_compat import attached_trainer, skip_unloadable_nvml_check
from lightning_r1.loss_scale import current_scale, rescale_gradients, step_may_go_ahead
from lightning_r1.losses import AdversarialLoss, get_loss
from lightning_r1.progress import Progress, load_progress, save_progress
from lightning_r1.regularizers import Regularizer
from lightning_r1.regularizers.base import apply_lazy_correction, check_non_negative, lazy_interval
from lightning_r1.sampling import GeneratorSampling
from lightning_r1.step_logging import StepMetrics, publish

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
UPDATES = ("alternating", "simultaneous")


class GAN(GeneratorSampling, L.LightningModule):
    """Adversarial training of ``generator`` against ``discriminator``.

    Args:
        generator: maps ``z [N, latent_dim]`` to samples.
        discriminator: maps samples to logits ``[N]`` or ``[N, 1]``. No batch statistics (penalties are per sample).
        latent_dim: size of the Gaussian latent z.
        loss: a name in :data:`lightning_r1.losses.LOSSES` (nonsaturating, minimax, hinge, wasserstein,
            relativistic) or an :class:`~lightning_r1.losses.AdversarialLoss`.
        optimizer_g, optimizer_d: factories ``params -> Optimizer`` (e.g. Hydra partials); default Adam(lr=2e-4,
            betas=(0, 0.99)) as in Mescheder et al. 2018 and StyleGAN2.
        d_steps: discriminator updates per generator update.
        update: "alternating" (D then G) or "simultaneous" (both gradients at the same point, then both steps).
        iterations: training length in generator updates; the run stops there (Lightning's epoch limit is lifted).
        ema_half_life_images: half-life of the EMA generator in images (0 disables averaging).
        ema_rampup: cap the half-life at this fraction of images seen (None: no ramp-up).
        diagnostics_every: log ``train/grad_norm_real`` / ``train/grad_norm_fake`` every this many iterations (0: never).
        skip_nonfinite: on a NaN/Inf loss or penalty, skip that optimizer step and count it
            (``train/nonfinite_skips``) instead of stopping with :class:`NonFiniteLossError`.
        finite_check_every: without ``skip_nonfinite``, read the steps' "loss is finite" flags once every this
            many iterations, before every checkpoint and at the end, instead of once per step (a host sync each);
            1 = every step. See :mod:`lightning_r1.finite_guard`.
        compile: ``torch.compile`` G, and D for the passes that need no double backward (R1/R2's penalised batch
            runs D eagerly: torch.compile cannot differentiate twice). ``compile_kwargs`` go to ``torch.compile``.
        epoch_means: also publish ``train/<key>_epoch``, the mean over each epoch (as ``self.log(on_epoch=True)``).
        num_classes: class-conditional training (labels in ``[0, num_classes)``): batches are ``(x, y)``, the module
            calls ``G(z, y)`` and ``D(x, y)``; None (default) is unconditional, ``G(z)`` and ``D(x)``.
        fake_labels: the labels fakes are generated with: "real" (the real batch's, so real and fake pairs share a
            class, as R3GAN pairs them) or "uniform" (drawn uniformly for the global batch).

    Learning rates, Adam's β2 and the EMA half-life follow schedules through :meth:`set_hyperparameters`
    (``schedule=...``: :class:`~lightning_r1.callbacks.HyperparameterSchedules`), the one LR mechanism; the torch
    schedulers ``lr_scheduler_g`` / ``lr_scheduler_d`` of earlier versions are gone (README, "Schedules").

    Raises:
        ValueError: on an unknown loss or update rule, a non-positive size/count, or a negative or non-finite
            ``ema_half_life_images`` / ``ema_rampup`` / ``diagnostics_every``.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_dim: int,
        loss: str | AdversarialLoss = "nonsaturating",
        optimizer_g: OptimizerFactory | None = None,
        optimizer_d: OptimizerFactory | None = None,
        d_steps: int = 1,
        update: str = "alternating",
        iterations: int | None = None,
        ema_half_life_images: float = 10_000.0,
        ema_rampup: float | None = 0.05,
        diagnostics_every: int = 50,
        skip_nonfinite: bool = False,
        finite_check_every: int = 16,
        compile: bool = False,
        compile_kwargs: dict[str, Any] | None = None,
        epoch_means: bool = False,
        num_classes: int | None = None,
        fake_labels: str = "real",
    ) -> None:
        super().__init__()
        check_conditioning(num_classes, fake_labels)
        check_positive_int("latent_dim", latent_dim)
        check_positive_int("d_steps", d_steps)
        if iterations is not None:
            check_positive_int("iterations", iterations)
        check_non_negative(
            "ema_half_life_images", ema_half_life_images
        )  # NaN or -1 would silently freeze the EMA
        if ema_rampup is not None:
            check_non_negative("ema_rampup", ema_rampup)
        if (
            isinstance(diagnostics_every, bool)
            or not isinstance(diagnostics_every, int)
            or diagnostics_every < 0
        ):
            raise ValueError(
                f"Expected `diagnostics_every` to be a non-negative integer, got {diagnostics_every!r}"
            )
        if update not in UPDATES:
            raise ValueError(f"Expected `update` to be one of {list(UPDATES)}, got {update!r}")
        if update == "simultaneous" and d_steps != 1:
            raise ValueError(f"Expected `d_steps` = 1 with update='simultaneous', got {d_steps}")
        self.save_hyperparameters(
            ignore=[
                "generator",
                "discriminator",
                "loss",
                "optimizer_g",
                "optimizer_d",
            ]
        )
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.generator_ema = make_ema_copy(generator)
        self.latent_dim = latent_dim
        self.num_classes, self.fake_labels = num_classes, fake_labels
        self.loss = get_loss(loss) if isinstance(loss, str) else loss
        adam = functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.0, 0.99))
        self.optimizer_g = optimizer_g or adam
        self.optimizer_d = optimizer_d or adam
        self.d_steps, self.update, self.iterations = d_steps, update, iterations
        self.ema_half_life_images, self.ema_rampup = ema_half_life_images, ema_rampup
        self.diagnostics_every = diagnostics_every
        self.skip_nonfinite = skip_nonfinite
        self.finite_check = DeferredFiniteCheck(finite_check_every)  # no host sync per step (finite_guard.py)
        # a plain dict, so the compiled wrappers are not registered as submodules (no duplicate state_dict keys)
        self._compiled: dict[str, nn.Module] = {}
        if compile:
            self._compiled = {name: torch.compile(net, **(compile_kwargs or {})) for name, net in
                              (("generator", generator), ("discriminator", discriminator))}  # fmt: skip
        # iteration, images_seen, d_step_in_iteration, nonfinite_skips: one object, checkpointed
        self.progress = Progress()
        # the table of penalties, the input transforms and the augmentation: collected once, in setup
        self.regularizers: list[Regularizer] = []
        self.input_transforms: list[InstanceNoise] = []
        self.augmentation: Augment | None = None
        self.lazy_interval = 1  # the k D's optimizer is corrected for (StyleGAN2 §3.1), from the regularizers
        self._shapes_checked = False
        self.step_metrics = StepMetrics(
            progress_bar=("train/g_loss", "train/aug_p", "train/ada_rt"), epoch_means=epoch_means
        )

    # ---- the counters (read by callbacks: sample grids, metrics, checkpoints) -------------------------------------
    @property
    def iteration(self) -> int:
        """Generator updates done."""
        return self.progress.iteration

    @property
    def images_seen(self) -> int:
        """Real images (global batch) consumed by generator updates, for the EMA ramp-up."""
        return self.progress.images_seen

    @property
    def d_step_in_iteration(self) -> int:
        """D steps done in the iteration under way."""
        return self.progress.d_step_in_iteration

    @property
    def nonfinite_skips(self) -> int:
        """Optimizer steps skipped on a NaN/Inf loss (``skip_nonfinite``)."""
        return self.progress.nonfinite_skips

    # ---- set-up --------------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """G's and D's optimizers; D's with StyleGAN2's lazy-regularization correction (mb_ratio) applied here, once.

        A resumed run's optimizers then take the checkpoint's (already corrected) hyperparameters.
        """
        opt_g = self.optimizer_g(self.generator.parameters())
        opt_d = self.optimizer_d(self.discriminator.parameters())
        if self.lazy_interval > 1:
            apply_lazy_correction(opt_d, self.lazy_interval)
        return [opt_g, opt_d]

    def set_hyperparameters(
        self,
        lr_g: float | None = None,
        lr_d: float | None = None,
        beta2: float | None = None,
        ema_half_life_images: float | None = None,
    ) -> None:
        """This iteration's scheduled values (None: left as they are); :class:`HyperparameterSchedules` calls it
        before every batch. D's learning rate and β2 get the lazy correction as at build: lr·r, β2^r, r = k/(k+1).

        Records the values in use: ``train/lr_g``, ``train/lr_d`` (as D's optimizer holds it), ``train/beta2``
        (G's), ``train/ema_half_life`` and ``train/gamma`` (one key when every γ-regularizer has the same γ now, as
        R3GAN's R1 and R2; else ``train/gamma_<name>`` each).
        """
        ratio = self.lazy_interval / (self.lazy_interval + 1) if self.lazy_interval > 1 else 1.0
        for net, lr, r in ((self.generator, lr_g, 1.0), (self.discriminator, lr_d, ratio)):
            for group in self.optimizer_of(net).optimizer.param_groups:
                if lr is not None:
                    group["lr"] = lr * r
                if beta2 is not None:
                    group["betas"] = (group["betas"][0], beta2**r)
        if ema_half_life_images is not None:
            self.ema_half_life_images = ema_half_life_images
        self.step_metrics.record(self._scheduled_values())

    def _scheduled_values(self) -> dict[str, float]:
        """The step values :meth:`set_hyperparameters` records (its docstring names them)."""
        g_group = self.optimizer_of(self.generator).optimizer.param_groups[0]
        d_group = self.optimizer_of(self.discriminator).optimizer.param_groups[0]
        values = {
            "train/lr_g": float(g_group["lr"]),
            "train/lr_d": float(d_group["lr"]),
            "train/ema_half_life": float(self.ema_half_life_images),
        }
        if "betas" in g_group:
            values["train/beta2"] = float(g_group["betas"][1])
        gammas = {
            reg.name: reg.strength_at(self.iteration)
            for reg in self.regularizers
            if reg.strength_name == "gamma" and not (reg.gamma == "auto" and reg.resolved_auto is None)
        }
        if len(set(gammas.values())) == 1:
            values["train/gamma"] = next(iter(gammas.values()))
        elif gammas:
            values.update({f"train/gamma_{name}": gamma for name, gamma in gammas.items()})
        return values

    def optimizer_of(self, net: nn.Module) -> Any:
        """The (Lightning-wrapped) optimizer that steps ``net``'s weights: found by role, not by position."""
        first = next(net.parameters())
        optimizers = self.optimizers()
        for optimizer in optimizers if isinstance(optimizers, list) else [optimizers]:
            if any(p is first for group in optimizer.param_groups for p in group["params"]):
                return optimizer
        raise RuntimeError(f"no optimizer steps the weights of {type(net).__name__}")

    def setup(self, stage: str) -> None:
        # Lightning's DDP set-up re-seeds every process from `seed_everything`'s seed after the models were built;
        # re-seeding here too, at the same point on one process, makes 1 and N processes draw the same numbers.
        # (A resumed run's RNG states are restored after this hook.)
        reset_seed()
        # Lightning restores a checkpoint's weights before converting the module to its precision, so a 64-true
        # run would resume from weights rounded to float32; converting first (Lightning repeats it, a no-op) keeps
        # resumption exact in every precision.
        self.trainer.precision_plugin.convert_module(self)
        # the table of penalties (each with its lazy interval `every`), the input transforms and the augmentation,
        # collected once from the trainer's callbacks (StyleGAN2-ADA's `phases` list)
        callbacks = self.trainer.callbacks
        self.regularizers = [cb for cb in callbacks if isinstance(cb, Regularizer)]
        self.input_transforms = [cb for cb in callbacks if isinstance(cb, InstanceNoise)]
        self.augmentation = next((cb for cb in callbacks if isinstance(cb, Augment)), None)
        self.lazy_interval = lazy_interval(self.regularizers)
        skip_unloadable_nvml_check()  # no failed NVML dlopen in every optimizer step (lightning_compat.py)

    def on_fit_start(self) -> None:
        if self.iterations is not None:
            self.trainer.fit_loop.max_epochs = -1  # `iterations` is the training length, not epochs
        check_fit_labels(self.num_classes, self.fake_labels, self.trainer.datamodule, self.regularizers)
        shape = getattr(self.trainer.datamodule, "sample_shape", None) if self.trainer.datamodule else None
        if shape is not None:
            self._check_shapes(
                torch.Size(shape), source=f"dataset {getattr(self.trainer.datamodule, 'name', '')}"
            )

    def _check_shapes(self, sample_shape: torch.Size, source: str) -> None:
        check_sample_shapes(
            self.generator,
            self.discriminator,
            self.latent_dim,
            sample_shape,
            source,
            self.device,
            self.num_classes,
        )
        self._shapes_checked = True

    def on_train_epoch_end(self) -> None:
        self.step_metrics.end_epoch(self.trainer)

    def on_train_end(self) -> None:
        self.finite_check.check()
        self.step_metrics.end_training(self.trainer)

    # ---- checkpoints: the counters and the RNG states, so a resumed run continues bit for bit ---------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.finite_check.check()  # raises (nothing written) when a pending step was not finite
        save_progress(self.progress, checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        load_progress(self.progress, checkpoint)

    # ---- one training batch: the schedule --------------------------------------------------------------------------
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        if self.iterations is not None and self.iteration >= self.iterations:
            self.trainer.should_stop = True
            return -1
        if self.augmentation is not None:  # its probability (and r_t once measured) on this batch
            self.step_metrics.record(self.augmentation.values())
        return None

    def training_step(self, batch: Tensor | tuple | list, batch_idx: int) -> None:
        real, labels = split_batch(batch, self.num_classes)
        self._train_on(real, labels)
        at_boundary = self.d_step_in_iteration == 0
        if at_boundary and (self.finite_check.due(self.iteration) or self.trainer.should_stop):
            self.finite_check.check()
        self.step_metrics.end_batch(self.trainer)

    def _train_on(self, real: Tensor, labels: Tensor | None = None) -> None:
        """One D step, followed by the G step and the EMA update when this batch completes an iteration.

        ``labels``: the real batch's classes (conditional), None otherwise.
        """
        if not self._shapes_checked:
            self._check_shapes(real.shape[1:], source="the training batches")
        opt_g, opt_d = self.optimizer_of(self.generator), self.optimizer_of(self.discriminator)
        n = real.shape[0]
        if self.update == "simultaneous":
            # both gradients at the same (theta, psi), then both steps (Mescheder et al. 2018 §2: the Dirac-GAN theory)
            fake_y = draw_fake_labels(labels, self.num_classes, self.fake_labels)
            fake = self._generate(n, fake_y)
            g_loss, g_terms = self._generator_loss(real, fake, labels, fake_y)
            d_loss, d_terms = self._discriminator_loss(
                real, fake.detach(), self._due_regularizers(), labels, fake_y
            )
            g_ok = self._backward(opt_g, g_loss, g_terms, "train/g_loss")
            d_ok = self._backward(opt_d, d_loss, d_terms, "train/d_loss")
            if g_ok and d_ok:
                scale = self._grad_scale()
                opt_g.step()
                # float16: the GradScaler updates its scale after G's step; D's gradients still carry the old one
                rescale_gradients(opt_d, self._grad_scale() / scale)
                opt_d.step()
        else:
            # D main + D reg: fakes without G's graph, one backward through the adversarial loss and due penalties
            fake_y = draw_fake_labels(labels, self.num_classes, self.fake_labels)
            with torch.no_grad():
                fake = self._generate(n, fake_y)
            d_loss, d_terms = self._discriminator_loss(real, fake, self._due_regularizers(), labels, fake_y)
            if self._backward(opt_d, d_loss, d_terms, "train/d_loss"):
                opt_d.step()
            self.progress.d_step_in_iteration += 1
            if self.d_step_in_iteration < self.d_steps:
                return
            # G main: a fresh z, D frozen so no D weight gradients are computed
            fake_y = draw_fake_labels(labels, self.num_classes, self.fake_labels)
            g_loss, g_terms = self._generator_loss(real, self._generate(n, fake_y), labels, fake_y)
            if self._backward(opt_g, g_loss, g_terms, "train/g_loss"):
                opt_g.step()
        self._finish_iteration(n)

    def _generate(self, n: int, labels: Tensor | None = None) -> Tensor:
        generator = self._compiled.get("generator", self.generator)
        return generator(randn_for_rank(n, self.latent_dim, device=self.device), *as_extra(labels))

    def _due_regularizers(self) -> list[Regularizer]:
        """Regularizers that apply on this D step (advances every lazy counter by one step)."""
        return [reg for reg in self.regularizers if reg.next_d_step()]

    def _diagnostics_due(self) -> bool:
        every = self.diagnostics_every
        attached = attached_trainer(self) is not None  # outside a Trainer there is nowhere to log them
        return attached and bool(every) and self.iteration % every == 0 and self.d_step_in_iteration == 0

    # ---- the phases, with this module's networks and context; their step values recorded -------------------------
    def _discriminator_loss(
        self,
        real: Tensor,
        fake: Tensor,
        due: list[Regularizer],
        labels: Tensor | None = None,
        fake_labels: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The D phase (:func:`lightning_r1.phases.discriminator_loss`) on this step: its loss and step values."""
        result = phases.discriminator_loss(
            self.discriminator,
            self.loss,
            real,
            fake,
            self.input_transforms,
            due,
            diagnose=self._diagnostics_due(),
            grad_scale=self._grad_scale(),
            compiled=self._compiled.get("discriminator"),
            real_extra=as_extra(labels),
            fake_extra=as_extra(fake_labels),
            augment=self.augmentation,
            iteration=self.iteration,
        )
        if result.grad_norms:
            publish(self.trainer, self, result.grad_norms)
        self.step_metrics.record(result.terms)
        return result.loss, result.terms

    def _generator_loss(
        self, real: Tensor, fake: Tensor, labels: Tensor | None = None, fake_labels: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The G phase (:func:`lightning_r1.phases.generator_loss`) on this step: its loss and step values."""
        result = phases.generator_loss(
            self.discriminator,
            self.loss,
            real,
            fake,
            self.input_transforms,
            compiled=self._compiled.get("discriminator"),  # the G step needs no double backward
            real_extra=as_extra(labels),
            fake_extra=as_extra(fake_labels),
            augment=self.augmentation,
            iteration=self.iteration,
        )
        self.step_metrics.record(result.terms)
        return result.loss, result.terms

    # ---- backward, averaged over processes; a non-finite loss stops or skips the step everywhere ---------------
    def _backward(self, optimizer: Any, loss: Tensor, terms: dict[str, Tensor], adversarial: str) -> bool:
        """Gradients of ``loss`` for ``optimizer``'s parameters, averaged over processes.

        Returns False when the step must be skipped because the loss is not finite on some process; the
        decision travels in the gradient all-reduce, so every process skips (or stops) together.
        """
        finite = step_may_go_ahead(loss, terms[adversarial], self._grad_scale())
        if not self.skip_nonfinite:  # stop policy: the flag is read later, with others (finite_guard.py)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            world_finite = average_gradients(params, finite) if world_size() > 1 else finite
            self.finite_check.note(self.iteration, world_finite, loss, terms)
            return True
        if world_size() == 1 and not bool(finite):
            return self._nonfinite(loss, terms)  # one process: no backward spent on a NaN
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if world_size() > 1 and not bool(average_gradients(params, finite)):
            return self._nonfinite(loss, terms)
        return True

    def _nonfinite(self, loss: Tensor, terms: dict[str, Tensor]) -> bool:
        """Raise naming the term, or (skip_nonfinite) count a skip; returns False (the step is skipped)."""
        if not self.skip_nonfinite:
            raise NonFiniteLossError.from_terms(self.iteration, loss, terms)
        self.progress.nonfinite_skips += 1
        self.step_metrics.record({"train/nonfinite_skips": float(self.nonfinite_skips)})
        return False

    def _grad_scale(self) -> float:
        """The float16 loss scale (1 otherwise), for the input gradients penalties take (``loss_scale``)."""
        return current_scale(attached_trainer(self))

    # ---- end of an iteration: counters, EMA ---------------------------------------------------------------------
    def _finish_iteration(self, batch_size: int) -> None:
        # the EMA half-life counts the images of every process (Karras et al. 2020, StyleGAN2-ADA training_loop.py)
        global_batch = batch_size * world_size()
        self.progress.finish_iteration(global_batch)  # the iteration every schedule is read at
        beta = ema_beta(global_batch, self.images_seen, self.ema_half_life_images, self.ema_rampup)
        update_ema(self.generator_ema, self.generator, beta)
        self.step_metrics.record({"iteration": float(self.iteration)})
        if self.iterations is not None and self.iteration >= self.iterations:
            self.trainer.should_stop = True

"""GAN: a LightningModule with manual optimization for any generator/discriminator pair: the *schedule* of training.

One *iteration* is one generator update, preceded by ``d_steps`` discriminator updates (one per training batch).
This file decides when each phase runs, which optimizer steps, and the EMA generator; what a phase computes is
:mod:`lightning_r1.phases` (StyleGAN2-ADA's ``training_loop.py`` vs ``training/loss.py``). Regularizers are Lightning
callbacks (``R1``, ``R2``, ``WGANGP``, ...) found in ``trainer.callbacks``; on each D step the due ones add their
penalty to the D loss, computed from the same D forward as the adversarial loss. The counters live in one
:class:`~lightning_r1.progress.Progress`, which the regularizers read and every checkpoint saves.
Step values (``train/*``, ``iteration``) are in ``trainer.callback_metrics`` after every batch and reach the loggers on
Lightning's logging steps (``Trainer(log_every_n_steps)``) and at the end (``lightning_r1.step_logging``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.seed import reset_seed
from torch import Tensor, nn

from lightning_r1 import phases
from lightning_r1.augment import Augment
from lightning_r1.checks import check_positive_int, check_sample_shapes, parameter_dtype
from lightning_r1.conditioning import (
    as_extra,
    balanced_labels,
    check_conditioning,
    check_fit_labels,
    check_labels,
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
from lightning_r1.regularizers.base import apply_lazy_correction, check_non_negative
from lightning_r1.step_logging import StepMetrics, publish

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]
UPDATES = ("alternating", "simultaneous")


class GAN(L.LightningModule):
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
        lr_scheduler_g, lr_scheduler_d: factories ``optimizer -> LRScheduler`` (e.g. a partial of
            ``torch.optim.lr_scheduler.StepLR``). Manual optimization means Lightning steps no scheduler: the GAN
            steps each once per iteration (generator update), after the G step; ``step_size``-like arguments
            count iterations. Their state is checkpointed by Lightning.

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
        lr_scheduler_g: SchedulerFactory | None = None,
        lr_scheduler_d: SchedulerFactory | None = None,
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
                "lr_scheduler_g",
                "lr_scheduler_d",
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
        self.lr_scheduler_g, self.lr_scheduler_d = lr_scheduler_g, lr_scheduler_d
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
        optimizers = [
            self.optimizer_g(self.generator.parameters()),
            self.optimizer_d(self.discriminator.parameters()),
        ]
        factories = (self.lr_scheduler_g, self.lr_scheduler_d)
        schedulers = [make(opt) for make, opt in zip(factories, optimizers, strict=True) if make is not None]
        return (optimizers, schedulers) if schedulers else optimizers

    def optimizer_of(self, net: nn.Module) -> Any:
        """The (Lightning-wrapped) optimizer that steps ``net``'s weights: found by role, not by position."""
        first = next(net.parameters())
        optimizers = self.optimizers()
        for optimizer in optimizers if isinstance(optimizers, list) else [optimizers]:
            if any(p is first for group in optimizer.param_groups for p in group["params"]):
                return optimizer
        raise RuntimeError(f"no optimizer steps the weights of {type(net).__name__}")

    @property
    def regularizers(self) -> list[Regularizer]:
        """Every regularizer callback attached to the trainer (empty outside a Trainer)."""
        if attached_trainer(self) is None:
            return []
        return [cb for cb in self.trainer.callbacks if isinstance(cb, Regularizer)]

    @property
    def augmentation(self) -> Augment | None:
        """The augmentation callback attached to the trainer (``augment=diffaug|ada``), or None."""
        if attached_trainer(self) is None:
            return None
        return next((cb for cb in self.trainer.callbacks if isinstance(cb, Augment)), None)

    def setup(self, stage: str) -> None:
        # Lightning's DDP set-up re-seeds every process from `seed_everything`'s seed after the models were built;
        # re-seeding here too, at the same point on one process, makes 1 and N processes draw the same numbers.
        # (A resumed run's RNG states are restored after this hook.)
        reset_seed()
        # Lightning restores a checkpoint's weights before converting the module to its precision, so a 64-true
        # run would resume from weights rounded to float32; converting first (Lightning repeats it, a no-op) keeps
        # resumption exact in every precision.
        self.trainer.precision_plugin.convert_module(self)
        skip_unloadable_nvml_check()  # no failed NVML dlopen in every optimizer step (lightning_compat.py)

    def on_fit_start(self) -> None:
        if self.iterations is not None:
            self.trainer.fit_loop.max_epochs = -1  # `iterations` is the training length, not epochs
        self._apply_lazy_correction()
        check_fit_labels(self.num_classes, self.fake_labels, self.trainer.datamodule, self.regularizers)
        shape = getattr(self.trainer.datamodule, "sample_shape", None) if self.trainer.datamodule else None
        if shape is not None:
            self._check_shapes(
                torch.Size(shape), source=f"dataset {getattr(self.trainer.datamodule, 'name', '')}"
            )

    def _apply_lazy_correction(self) -> None:
        """StyleGAN2's lazy-regularization correction of D's optimizer, applied once however many lazy
        regularizers ask for it (they must share one interval k)."""
        intervals = {reg.every for reg in self.regularizers if reg.lazy_correction and reg.every > 1}
        if len(intervals) > 1:
            raise ValueError(
                "Expected every regularizer with `lazy_correction=true` to share one `every` (D's optimizer is "
                f"corrected once, for one interval k), got {sorted(intervals)}"
            )
        if intervals:
            apply_lazy_correction(self.optimizer_of(self.discriminator).optimizer, intervals.pop())

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

    # ---- sampling (the EMA generator by default), for grids, metrics and users ---------------------------------
    @torch.no_grad()
    def generate(self, z: Tensor, ema: bool = True, labels: Tensor | None = None) -> Tensor:
        """Samples for latents ``z`` from the EMA generator (or the raw one), in eval mode.

        ``labels``: the classes to generate (conditional GANs); None draws class-balanced labels 0, 1, …, K−1, 0, …
        """
        net = self.generator_ema if ema else self.generator
        if self.num_classes is not None and labels is None:
            labels = balanced_labels(z.shape[0], self.num_classes)
        extra = as_extra(None if labels is None else labels.to(self.device).long())
        was_training = net.training
        net.eval()
        try:
            return net(z.to(device=self.device, dtype=parameter_dtype(net)), *extra)  # float64 under 64-true
        finally:
            net.train(was_training)

    def sample(
        self,
        num_samples: int,
        ema: bool = True,
        batch_size: int = 256,
        labels: Tensor | None = None,
        rows: range | None = None,
        z: Tensor | None = None,
    ) -> Tensor:
        """``num_samples`` fresh samples (images in [-1, 1]) on this module's device: :meth:`sample_batches`
        concatenated (the arguments are its)."""
        return torch.cat(list(self.sample_batches(num_samples, ema, batch_size, labels, rows, z)))

    def sample_batches(
        self,
        num_samples: int,
        ema: bool = True,
        batch_size: int = 256,
        labels: Tensor | None = None,
        rows: range | None = None,
        z: Tensor | None = None,
    ) -> Iterator[Tensor]:
        """The samples of one request of ``num_samples``, ``batch_size`` at a time: the one sampling path of grids,
        metrics and ``generate`` (a caller that consumes the batches as they come holds one batch in memory).

        Conditional: of the classes ``labels`` (``[num_samples]``); when None, class-balanced over the whole
        request, the i-th sample of class ``i mod K`` (so a chunked request covers every class, whatever
        ``batch_size``). ``z``: the latents ``[num_samples, latent_dim]`` (default: drawn a batch at a time from
        the global RNG). ``rows``: generate only these rows of that request (every batch's latents are still
        drawn, so they are the same samples); sharded evaluation gives each process its share so
        (``metrics/sharded.py``).
        """
        check_positive_int("num_samples", num_samples)
        check_positive_int("batch_size", batch_size)
        if self.num_classes is not None and labels is None:
            labels = balanced_labels(num_samples, self.num_classes)
        if labels is not None and self.num_classes is not None:
            check_labels(torch.as_tensor(labels), self.num_classes, num_samples)
        if z is not None and tuple(z.shape) != (num_samples, self.latent_dim):
            raise ValueError(
                f"Expected `z` of shape [{num_samples}, {self.latent_dim}], got {tuple(z.shape)}"
            )
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            chunk = torch.randn(n, self.latent_dim, device=self.device) if z is None else z[start : start + n]
            y = None if labels is None else labels[start : start + n]
            if rows is not None:
                keep = slice(max(rows.start - start, 0), max(min(rows.stop - start, n), 0))
                chunk, y = chunk[keep], None if y is None else y[keep]
                if chunk.shape[0] == 0:
                    continue
            yield self.generate(chunk, ema=ema, labels=y)

    # ---- one training batch: the schedule --------------------------------------------------------------------------
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        if self.iterations is not None and self.iteration >= self.iterations:
            self.trainer.should_stop = True
            return -1
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
        return [reg for reg in self.regularizers if reg.adds_penalty and reg.next_d_step()]

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
            self.regularizers,
            due,
            diagnose=self._diagnostics_due(),
            grad_scale=self._grad_scale(),
            compiled=self._compiled.get("discriminator"),
            real_extra=as_extra(labels),
            fake_extra=as_extra(fake_labels),
            augment=self.augmentation,
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
            self.regularizers,
            compiled=self._compiled.get("discriminator"),  # the G step needs no double backward
            real_extra=as_extra(labels),
            fake_extra=as_extra(fake_labels),
            augment=self.augmentation,
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

    # ---- end of an iteration: counters, EMA, schedulers ---------------------------------------------------------
    def _finish_iteration(self, batch_size: int) -> None:
        # the EMA half-life counts the images of every process (Karras et al. 2020, StyleGAN2-ADA training_loop.py)
        global_batch = batch_size * world_size()
        # the regularizers' schedules read the new iteration from here
        self.progress.finish_iteration(global_batch)
        beta = ema_beta(global_batch, self.images_seen, self.ema_half_life_images, self.ema_rampup)
        update_ema(self.generator_ema, self.generator, beta)
        if self.lr_scheduler_g is not None or self.lr_scheduler_d is not None:
            schedulers = self.lr_schedulers()
            for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
                scheduler.step()  # once per iteration (manual optimization: Lightning steps none)
        self.step_metrics.record({"iteration": float(self.iteration)})
        if self.iterations is not None and self.iteration >= self.iterations:
            self.trainer.should_stop = True

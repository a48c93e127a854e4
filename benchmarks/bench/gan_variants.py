"""``plain``, ``r1``, ``r1_lazy16``, ...: ``lightning_r1.GAN`` with a set of regularizer callbacks, trained by a
real ``lightning.Trainer`` (logger off, progress bar off, checkpointing off).

``log_every_step=True`` (the ``<variant>_log_every_step`` ablations) only changes ``log_every_n_steps`` from
Lightning's default (50) to 1: every step's values are then handed to the loggers as a row. (Before 2026-12-01 the
GAN did that through ``self.log``; the ablation figures in docs/benchmarks.md are from then.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from bench.common import GAMMA, LATENT_DIM, RunSettings
from bench.interleave import Record, Turns, iteration_timer


def regularizers(variant: str) -> list:
    """Fresh regularizer callbacks for a GAN variant name."""
    from lightning_r1 import R1, R2, WGANGP, ApproxR1
    from lightning_r1.augment import ADA, DiffAugment

    return {
        "plain": lambda: [],
        "r1": lambda: [R1(GAMMA)],
        "r1_lazy16": lambda: [R1(GAMMA, every=16)],
        "r2": lambda: [R2(GAMMA)],
        "r1_r2": lambda: [R1(GAMMA), R2(GAMMA)],
        "wgan_gp": lambda: [WGANGP(10.0)],
        "approx_r1": lambda: [ApproxR1(GAMMA, sigma=0.01)],
        "approx_r1_quarter": lambda: [ApproxR1(GAMMA, sigma=0.01, batch_fraction=0.25)],
        # augmentations are callbacks too; ADA at a fixed p = 0.6 (a typical adapted value: the ops run on ~60%)
        "r1_diffaug": lambda: [R1(GAMMA), DiffAugment()],
        "r1_ada": lambda: [R1(GAMMA), ADA(target=None, p=0.6)],
    }[variant]()


class _Endless(torch.utils.data.IterableDataset):
    """The same pre-made batches, in order, forever (the GAN stops itself after ``iterations``)."""

    def __init__(self, batches: list[Tensor]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Tensor]:
        while True:
            yield from self.batches


class GANVariant:
    """A ``lightning_r1.GAN`` with the regularizers of ``variant``, trained by one ``trainer.fit`` per use:
    ``start``/``advance``/``finish`` (interleaved, in a thread of its own) or ``run_block`` (this thread)."""

    def __init__(
        self,
        variant: str,
        generator: nn.Module,
        discriminator: nn.Module,
        settings: RunSettings,
        log_every_step: bool = False,
    ) -> None:
        from lightning_r1 import GAN

        self.gan = GAN(
            generator,
            discriminator,
            latent_dim=LATENT_DIM,
            diagnostics_every=settings.diagnostics_every,
            compile=settings.compile,
        )
        self.regs = regularizers(variant)
        self.lazy = [reg for reg in self.regs if getattr(reg, "every", 1) > 1]  # augmentations: never lazy
        self.every = max(
            [1, *(getattr(reg, "every", 1) for reg in self.regs)]
        )  # the amortisation period of lazy variants
        self.settings, self.log_every_step = settings, log_every_step
        self.device = torch.device(settings.device)

    def _fit(self, batches: list[Tensor], iterations: int, timer: Any, before: Sequence[Any] = ()) -> None:
        """``iterations`` more iterations of the GAN in one ``trainer.fit``; callbacks: ``before``, the
        regularizers, ``timer``."""
        import lightning as L

        log_interval = {"log_every_n_steps": 1} if self.log_every_step else {}  # else Lightning's default
        trainer = L.Trainer(
            accelerator="gpu" if self.device.type == "cuda" else "cpu",
            devices=1,
            precision="bf16-mixed" if self.settings.precision == "bf16" else "32-true",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            max_epochs=-1,
            callbacks=[*before, *self.regs, timer],
            **log_interval,
        )
        self.gan.iterations = self.gan.iteration + iterations
        loader = torch.utils.data.DataLoader(_Endless(batches), batch_size=None)
        trainer.fit(self.gan, train_dataloaders=loader)

    # Interleaved use (step_time.py): start(), one advance() per iteration, finish().
    def start(self, batches: list[Tensor], iterations: int) -> None:
        self.turns = Turns()
        self.timer = iteration_timer(self.device, self.lazy, self.turns)  # placed last: it holds the fit

        def work() -> None:
            self._fit(batches, iterations, self.timer)

        self.turns.start_thread(work, name="fit", flush_denormal=self.settings.flush_denormal)

    def advance(self) -> None:
        self.turns.give()

    def finish(self) -> Record:
        self.turns.finish()
        return self.timer.rec

    # Block use (profile_step.py): one fit of len(batches) iterations in this thread; ``before``: callbacks
    # placed ahead of all others.
    def run_block(self, batches: list[Tensor], before: Sequence[Any] = ()) -> Record:
        timer = iteration_timer(self.device, self.lazy)
        self._fit(batches, len(batches), timer, before)
        return timer.rec

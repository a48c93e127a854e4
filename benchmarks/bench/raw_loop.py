"""``raw`` and ``raw_r1``: the textbook non-saturating GAN loop in plain PyTorch, no framework.

D step: fake from G under no_grad, D on real and fake, one backward, Adam step; with R1 the GAN_stability way (real
batch ``requires_grad_``, ``autograd.grad(create_graph=True)`` on the same D forward, ``loss + gamma/2 · mean
||grad||²``, one backward). G step: fresh z, D frozen. Then the EMA update of G, as ``lightning_r1.GAN`` does.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench import NVML_CHECK, NVML_CHECK_WITHOUT_LIGHTNING
from bench.common import BETAS, LATENT_DIM, LR, synchronize
from bench.interleave import Record, Turns, empty_record


class RawLoop:
    """The reference loop. ``run_block`` times a list of batches in the calling thread; ``start``/``advance``/
    ``finish`` run it in a thread of its own, one iteration per turn (see ``bench.interleave``)."""

    every = 1  # no lazy regularizer: every iteration does the same work

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        r1_gamma: float | None,
        autocast_dtype: torch.dtype | None,
        device: torch.device,
        flush_denormal: bool = False,
    ) -> None:
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.G_ema = copy.deepcopy(generator).requires_grad_(False).eval()
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=LR, betas=BETAS)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=LR, betas=BETAS)
        self.r1_gamma, self.device, self.dtype = r1_gamma, device, autocast_dtype
        self.flush_denormal = flush_denormal
        self.images_seen = 0

    def autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)

    def step(self, real: Tensor) -> None:
        """One iteration: D step, G step, EMA update."""
        n = real.shape[0]
        # D step: adversarial loss (+ R1 on the same real forward), one backward
        with torch.no_grad(), self.autocast():
            fake = self.G(torch.randn(n, LATENT_DIM, device=self.device))
        if self.r1_gamma is not None:
            real = real.detach().requires_grad_(True)
        with self.autocast():
            d_real = self.D(real).view(n)
            d_fake = self.D(fake).view(n)
            d_loss = (F.softplus(-d_real) + F.softplus(d_fake)).mean()
        if self.r1_gamma is not None:
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            d_loss = d_loss + self.r1_gamma / 2 * grad.float().square().flatten(1).sum(1).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # G step: fresh z, D frozen
        self.D.requires_grad_(False)
        with self.autocast():
            z = torch.randn(n, LATENT_DIM, device=self.device)
            g_loss = F.softplus(-self.D(self.G(z)).view(n)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.update_ema(n)

    def update_ema(self, n: int) -> None:
        """EMA of G with GAN's defaults: half-life 10k images, ramped up over the first 5% of images seen."""
        self.images_seen += n
        half_life = min(10_000.0, self.images_seen * 0.05)
        beta = 0.5 ** (n / half_life)
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=False):
                p_ema.lerp_(p, 1.0 - beta)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=False):
                b_ema.copy_(b)

    def run_block(self, batches: list[Tensor]) -> Record:
        """One iteration per batch, each timed; ``loop`` is the same as ``step`` (there is nothing in between)."""
        step, cpu = [], []
        for real in batches:
            synchronize(self.device)
            with environment_without_lightning():
                t0, c0 = time.perf_counter(), time.process_time()
                self.step(real)
                synchronize(self.device)
                t1, c1 = time.perf_counter(), time.process_time()
            step.append(t1 - t0)
            cpu.append(c1 - c0)
        return {"step": step, "loop": step, "cpu": cpu, "due": [False] * len(step)}

    # Interleaved use. A thread of its own also means a malloc arena of its own: two loops sharing the main
    # thread's arena measurably slowed each other down.
    def start(self, batches: list[Tensor], iterations: int) -> None:
        self.turns, self.rec = Turns(), empty_record()

        def work() -> None:
            self.turns.wait()
            for i in range(iterations):
                for key, values in self.run_block([batches[i % len(batches)]]).items():
                    self.rec[key] += values
                self.turns.wait()

        self.turns.start_thread(work, name="raw", flush_denormal=self.flush_denormal)

    def advance(self) -> None:
        self.turns.give()

    def finish(self) -> Record:
        self.turns.finish()
        return self.rec


@contextlib.contextmanager
def environment_without_lightning() -> Iterator[None]:
    """The process environment as it was before Lightning's import (its NVML setting undone), then back: the raw
    loop times what a script that never imports Lightning pays. Safe here: the variants never run at the same
    time (``bench.interleave``)."""
    now = os.environ.get(NVML_CHECK)
    set_env(NVML_CHECK, NVML_CHECK_WITHOUT_LIGHTNING)
    try:
        yield
    finally:
        set_env(NVML_CHECK, now)


def set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def compile_raw(loop: RawLoop) -> None:
    """torch.compile the raw loop's G, and D unless R1 needs its double backward (then D stays eager)."""
    loop.G = torch.compile(loop.G)
    if loop.r1_gamma is None:
        loop.D = torch.compile(loop.D)

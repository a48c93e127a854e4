"""The variant names of ``step_time.py`` and ``profile_step.py``, and ``make_runner``, which builds one.

A name is a base variant, optionally with the ablation suffix ``_log_every_step`` (GAN variants only), optionally
followed by ``#k`` (e.g. ``raw#2``): an identical replicate, to see how far two runs of the same configuration in
the same process drift apart.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bench.common import GAMMA, RunSettings
from bench.gan_variants import GANVariant
from bench.raw_loop import RawLoop, compile_raw

RAW_VARIANTS = ("raw", "raw_r1")
GAN_VARIANTS = ("plain", "r1", "r1_lazy16", "r2", "r1_r2", "wgan_gp", "approx_r1", "approx_r1_quarter")
VARIANTS = RAW_VARIANTS + GAN_VARIANTS  # the default set
# not run by default: R1 with D's input augmentation (docs/augmentation.md), compared with r1
AUGMENT_VARIANTS = ("r1_diffaug", "r1_ada")
# ablation (not run by default): the GAN variant with Trainer(log_every_n_steps=1), see bench.gan_variants
LOG_EVERY_STEP = "_log_every_step"
ABLATIONS = (LOG_EVERY_STEP,)


def kind_of(name: str) -> str:
    """The name without its replicate number: ``plain#2`` → ``plain``."""
    return name.split("#")[0]


def unknown_variants(names: list[str]) -> list[str]:
    known = set(VARIANTS) | set(AUGMENT_VARIANTS) | {v + a for v in GAN_VARIANTS for a in ABLATIONS}
    return sorted({kind_of(n) for n in names} - known)


def reference(name: str) -> str | None:
    """What a replicate or an ablation is compared with: a replicate with its original; an ablation with the raw
    loop that does the same math (as ``plain`` is, in ``lightning_over_raw``)."""
    kind = kind_of(name)
    if kind != name:
        return kind
    if kind.endswith(LOG_EVERY_STEP):
        return {"plain": "raw", "r1": "raw_r1"}.get(kind.removesuffix(LOG_EVERY_STEP))
    return None


def make_runner(
    name: str, generator: nn.Module, discriminator: nn.Module, settings: RunSettings
) -> RawLoop | GANVariant:
    """A runner for variant ``name``, training its own copies of ``generator`` and ``discriminator``."""
    device = torch.device(settings.device)
    g, d = copy.deepcopy(generator).to(device), copy.deepcopy(discriminator).to(device)
    kind = kind_of(name)
    if kind in RAW_VARIANTS:
        gamma = GAMMA if kind == "raw_r1" else None
        loop = RawLoop(g, d, gamma, settings.autocast_dtype, device, settings.flush_denormal)
        if settings.compile:
            compile_raw(loop)
        return loop
    base = kind.removesuffix(LOG_EVERY_STEP)
    return GANVariant(base, g, d, settings, log_every_step=base != kind)

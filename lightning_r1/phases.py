"""What one discriminator step and one generator step compute; ``gan.py`` decides when they run.

The split of StyleGAN2-ADA's ``training/loss.py`` (the phases) and ``training_loop.py`` (their schedule):

    D phase:  L_D = ℓ_D(D(real), D(fake)) + Σ_{due penalties} k · penalty      one backward, one D optimizer step
    G phase:  L_G = ℓ_G(D(G(z)), D(real))  with D's weights frozen             (D(real) only if loss.generator_reads_real)

ℓ_D, ℓ_G are the adversarial losses of :mod:`lightning_r1.losses`; the penalties (R1, R2, WGAN-GP, ...) are the
regularizer callbacks, each weighted ×k on every k-th D step when lazy (Karras et al. 2020, StyleGAN2 §3.1), and read
at the generator iteration the schedule passes (``iteration``). Input transforms (instance noise) change what D sees
before the augmentation; they add nothing to the loss. Every
penalty reads the same :class:`~lightning_r1.regularizers.DiscriminatorPass` as the adversarial loss: D runs once on
the real batch and once on the fake batch per D step (StyleGAN2-ADA's "Dmain + Dreg" in one pass).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from torch import Tensor, nn

from lightning_r1.augment import Augment, InstanceNoise
from lightning_r1.losses import AdversarialLoss, needs_real_for_generator
from lightning_r1.regularizers import DiscriminatorPass, Regularizer
from lightning_r1.regularizers.discriminator_pass import logits


@dataclass
class PhaseLoss:
    """What a phase hands back to the schedule."""

    loss: Tensor  # the scalar to backward
    terms: dict[
        str, Tensor
    ]  # detached step values (``train/d_loss``, ``train/r1``, ...) to log and to name a NaN
    grad_norms: dict[str, Tensor] = field(default_factory=dict)  # diagnostics, when due (no sync)


def discriminator_loss(
    discriminator: nn.Module,
    loss: AdversarialLoss,
    real: Tensor,
    fake: Tensor,
    transforms: Sequence[InstanceNoise],
    due: Sequence[Regularizer],
    diagnose: bool = False,
    grad_scale: float = 1.0,
    compiled: nn.Module | None = None,
    real_extra: tuple = (),
    fake_extra: tuple | None = None,
    augment: Augment | None = None,
    iteration: int = 0,
) -> PhaseLoss:
    """The D phase: adversarial D loss plus the ``due`` penalties, all from one D forward on real and one on fake.

    Args:
        transforms: the input transforms (instance noise), applied to both batches in their order.
        due: the penalties that apply on this D step (their lazy counters already advanced).
        diagnose: also measure ``E||∇_x D||²`` on real and fake (``train/grad_norm_real`` / ``_fake``).
        grad_scale: float16 mixed precision's loss scale (1 otherwise), for the input gradients of penalties.
        compiled: a ``torch.compile``'d D for the batches that need no input gradient.
        real_extra, fake_extra: D's other inputs for the real and the fake batch (class labels: ``D(x, y)``);
            never differentiated. ``fake_extra`` None: the same as ``real_extra``.
        augment: D's input augmentation, applied after the inputs are marked (penalties see the un-augmented
            images through it, docs/augmentation.md); it observes D(real) (ADA's r_t).
        iteration: the generator iteration, where the penalties' and transforms' schedules are read.
    """
    # D forward: once per batch, inputs marked before it when a penalty (or the diagnostics) needs ∇_x D
    d_pass = DiscriminatorPass.forward(
        discriminator,
        perturb(real, transforms, iteration),
        perturb(fake, transforms, iteration),
        real_grad=diagnose or any(reg.needs_real_grad for reg in due),
        fake_grad=diagnose or any(reg.needs_fake_grad for reg in due),
        grad_scale=grad_scale,
        compiled=compiled,
        extra=real_extra,
        fake_extra=fake_extra,
        augment=augment,
    )
    if augment is not None:
        augment.observe(d_pass.d_real)
    # Dmain: the adversarial loss (losses.py cites each)
    adversarial = loss.d_loss(d_pass.d_real, d_pass.d_fake)
    terms = {
        "train/d_loss": adversarial,
        "train/d_real": d_pass.d_real.mean(),
        "train/d_fake": d_pass.d_fake.mean(),
    }
    # Dreg: every due penalty with its lazy weight, k·penalty on every k-th step (StyleGAN2 §3.1)
    total = adversarial
    for reg in due:
        penalty, weighted = reg.d_loss_term(d_pass, iteration)
        total = total + weighted
        terms[f"train/{reg.name}"] = penalty
    # diagnostics: E||∇_x D||² on real and fake, shared with R1/R2 when they ran on this step
    norms = {}
    if diagnose:
        norms = {
            f"train/grad_norm_{side}": d_pass.sq_norm(side, create_graph=False).mean().detach()
            for side in ("real", "fake")
        }
    return PhaseLoss(total, {k: v.detach() for k, v in terms.items()}, norms)


def generator_loss(
    discriminator: nn.Module,
    loss: AdversarialLoss,
    real: Tensor,
    fake: Tensor,
    transforms: Sequence[InstanceNoise],
    compiled: nn.Module | None = None,
    real_extra: tuple = (),
    fake_extra: tuple | None = None,
    augment: Augment | None = None,
    iteration: int = 0,
) -> PhaseLoss:
    """The G phase: the adversarial G loss of ``fake`` (still attached to G), D frozen (∂D/∂x only, not ∂D/∂ψ).

    ``compiled`` serves every D call here: the G step needs no double backward. ``real_extra`` / ``fake_extra``: D's
    other inputs (class labels) for each batch, and ``transforms`` / ``iteration``, as in :func:`discriminator_loss`. ``augment`` (differentiable, fresh
    parameters) transforms what D sees, so G's gradient flows through it.
    """
    fake_extra = real_extra if fake_extra is None else fake_extra
    # Gmain: D on the fake batch (and on the real one for relativistic losses), no D weight gradients
    net = compiled if compiled is not None else discriminator
    view = augment if augment is not None else (lambda x: x)  # what D sees: the augmented batch, or the batch
    with frozen(discriminator):
        d_fake = logits(net, view(perturb(fake, transforms, iteration)), *fake_extra)
        d_real = (
            logits(net, view(perturb(real, transforms, iteration)), *real_extra)
            if needs_real_for_generator(loss)
            else None
        )
    g_loss = loss.g_loss(d_fake, d_real)
    return PhaseLoss(g_loss, {"train/g_loss": g_loss.detach()})


def perturb(x: Tensor, transforms: Sequence[InstanceNoise], iteration: int) -> Tensor:
    """D's input after every input transform (instance noise), in their order, at generator iteration ``iteration``."""
    for transform in transforms:
        x = transform.perturb(x, iteration)
    return x


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into ``module``'s weights (the G step needs ∂D/∂x only, not ∂D/∂psi)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)

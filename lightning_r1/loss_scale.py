"""float16 mixed precision's loss scale, as the GAN's steps and penalties need it.

PyTorch's AMP recipe for gradient penalties: the GradScaler's scale multiplies D's outputs before
``autograd.grad`` (``functional.input_gradient_sq_norm``), and an overflow at the current scale is the scaler's to
fix (it skips the step and halves the scale). Two things the GAN adds on top, kept here:

- which non-finite losses the scaler can fix (a penalty's overflow) and which it cannot (the adversarial loss,
  computed before any scaling), :func:`step_may_go_ahead`;
- with simultaneous updates the scaler updates its scale after G's step, while D's gradients still carry the old
  one: :func:`rescale_gradients` brings them to the new scale before D's step.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor


def current_scale(trainer: L.Trainer | None) -> float:
    """The loss scale of float16 mixed precision (1 otherwise, and outside a Trainer)."""
    scaler = getattr(trainer.precision_plugin, "scaler", None) if trainer is not None else None
    return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0


def step_may_go_ahead(loss: Tensor, adversarial: Tensor, scale: float) -> Tensor:
    """Whether a step may go ahead on this process (a 0-d bool tensor).

    While the scale is above 1 a non-finite penalty goes ahead (its input gradient overflowed at this scale; the
    scaler skips the step and lowers the scale). A non-finite adversarial loss does not depend on the scale, so no
    scale can fix it: it is reported at once.
    """
    return torch.isfinite(adversarial) if scale > 1.0 else torch.isfinite(loss)


def rescale_gradients(optimizer: Any, factor: float) -> None:
    """Multiply the gradients of ``optimizer``'s parameters by ``factor`` (a power of two: exact in float)."""
    if factor == 1.0:
        return
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                p.grad.mul_(factor)

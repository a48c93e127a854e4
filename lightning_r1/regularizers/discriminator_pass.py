"""What one discriminator step has already computed, shared by every penalty on that step.

The GAN forwards D once on the real batch and once on the fake batch. When a penalty needs the gradient of D
with respect to its input (R1 on real, R2 on fake), the input was marked ``requires_grad`` *before* that forward,
so the same outputs serve the adversarial loss and the penalty: no second forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


def input_gradient_sq_norm(
    outputs: Tensor, inputs: Tensor, create_graph: bool = True, grad_scale: float = 1.0
) -> Tensor:
    """Per-sample squared norm of the input gradient, ``||∂D(x_i)/∂x_i||²`` summed over all non-batch dims.

    ``outputs.sum()`` has the same input gradient as each ``D(x_i)`` separately because sample i's logit depends
    only on sample i (no batch statistics in D). Taken out of place with ``torch.autograd.grad`` so the penalty joins
    the main loss in one backward pass.

    Args:
        outputs: discriminator logits ``[N]`` (or ``[N, 1]``) computed from ``inputs``.
        inputs: the tensor D was applied to, with ``requires_grad=True``.
        create_graph: keep the graph so the result can be differentiated w.r.t. D's weights (double backward).
        grad_scale: the mixed-precision loss scale. As PyTorch's AMP recipe for gradient penalties prescribes, the
            outputs are scaled before ``autograd.grad`` (so float16 input gradients do not underflow), the gradients
            unscaled, and the norm computed in float32. The scaling is done in float32 with ``grad_scale / N``
            per logit, as each logit is scaled inside the adversarial loss's batch mean.

    Returns:
        Tensor ``[N]`` (float32 or wider).
    """
    if grad_scale == 1.0:
        scaled = outputs.sum()
    else:
        # in float32 and per sample scale/N, the size each logit's gradient has in the scaled adversarial loss (a
        # batch mean): scale·1 per logit would overflow float16 (max 65504) at the scaler's default 2^16
        grad_scale = grad_scale / outputs.shape[0]
        scaled = outputs.float().sum() * grad_scale
    # retain_graph: the same outputs still feed the adversarial loss's backward
    (grad,) = torch.autograd.grad(scaled, inputs, create_graph=create_graph, retain_graph=True)
    grad = grad.float() if grad.dtype in (torch.float16, torch.bfloat16) else grad
    if grad_scale != 1.0:
        grad = grad / grad_scale
    return grad.flatten(1).square().sum(dim=1)


@dataclass
class DiscriminatorPass:
    """Inputs and logits of one D step; memoises input-gradient norms so R1 and diagnostics share them."""

    discriminator: nn.Module
    real: Tensor
    fake: Tensor
    d_real: Tensor
    d_fake: Tensor
    grad_scale: float = 1.0
    _sq_norms: dict[str, Tensor] = field(default_factory=dict)

    @classmethod
    def forward(
        cls,
        discriminator: nn.Module,
        real: Tensor,
        fake: Tensor,
        real_grad: bool,
        fake_grad: bool,
        grad_scale: float = 1.0,
        compiled: nn.Module | None = None,
    ) -> DiscriminatorPass:
        """Run D once on each batch, marking inputs whose gradient some consumer needs.

        ``compiled`` (a ``torch.compile``'d D) serves the batches that need no input gradient; torch.compile does
        not support the double backward that R1/R2 take through the others, so those run eagerly.
        """
        real = real.detach().requires_grad_(real_grad)
        fake = fake.detach().requires_grad_(fake_grad)
        d_real = logits(discriminator if real_grad or compiled is None else compiled, real)
        d_fake = logits(discriminator if fake_grad or compiled is None else compiled, fake)
        return cls(discriminator, real, fake, d_real, d_fake, grad_scale)

    def sq_norm(self, which: str, create_graph: bool = True) -> Tensor:
        """``||∇_x D(x_i)||²`` per sample for ``which`` in {"real", "fake"}; computed once per step."""
        cached = self._sq_norms.get(which)
        if cached is not None and (cached.requires_grad or not create_graph):
            return cached
        inputs, outputs = (self.real, self.d_real) if which == "real" else (self.fake, self.d_fake)
        if not inputs.requires_grad:
            raise RuntimeError(f"the {which} batch was not marked requires_grad before D's forward")
        norms = input_gradient_sq_norm(outputs, inputs, create_graph=create_graph, grad_scale=self.grad_scale)
        self._sq_norms[which] = norms
        return norms


def logits(discriminator: nn.Module, x: Tensor) -> Tensor:
    """D's raw logits flattened to ``[N]`` (accepts discriminators returning ``[N]`` or ``[N, 1]``)."""
    out = discriminator(x)
    return out.reshape(out.shape[0])

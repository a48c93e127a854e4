"""The penalties as pure functions of D's logits and the inputs they were computed from.

For your own training loop, any D signature (``D(x)``, ``D(x, y)``, ...): mark the image input, run D, pass both.

    x = real.detach().requires_grad_(True)
    penalty = r1_penalty(D(x, y), x, gamma=10.0)      # labels y pass through D and are never differentiated

Every function returns a differentiable scalar (the batch mean of a per-sample quantity), so it joins the D loss in
one backward. The regularizer callbacks (``lightning_r1.R1`` ...) hold the state (strength, lazy counter, LeCam's
averages) and compute with these functions: the per-sample quantities (``input_gradient_sq_norm``, ``interpolate``,
``finite_difference_sq_norm``, ``lecam_per_sample``) and their weighting (``half_gamma_mean``, ``weighted_mean``,
``centred_gradient_penalty``); tests/regularizers check each function against the callbacks and by hand.
``grad_scale`` is float16 mixed precision's loss scale (1 otherwise): see ``input_gradient_sq_norm``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_r1.distributed import rand_for_rank


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


def r1_penalty(logits: Tensor, inputs: Tensor, gamma: float, grad_scale: float = 1.0) -> Tensor:
    """R1 = γ/2 · mean_i ||∇_x D(x_i)||² on real data (Mescheder, Geiger, Nowozin 2018, eq. 9).

    Args:
        logits: ``D(inputs, ...)``, shape ``[N]`` or ``[N, 1]``; D must not mix samples (no batch statistics).
        inputs: the real batch D saw, marked ``requires_grad`` before the forward.
        gamma: strength (the paper's γ; GAN_stability's ``reg_param`` is γ/2).
        grad_scale: float16 AMP loss scale.

    Returns:
        A scalar that keeps its graph w.r.t. D's weights (double backward).
    """
    return half_gamma_mean(input_gradient_sq_norm(logits.reshape(-1), inputs, grad_scale=grad_scale), gamma)


def half_gamma_mean(sq_norms: Tensor, gamma: float) -> Tensor:
    """γ/2 · mean_i of per-sample squared input-gradient norms: the weighting of R1 and R2 (Mescheder et al. 2018,
    eq. 9-10), exact (:func:`input_gradient_sq_norm`) or estimated (:func:`finite_difference_sq_norm`)."""
    return 0.5 * gamma * sq_norms.mean()


def weighted_mean(per_sample: Tensor, weight: float) -> Tensor:
    """weight · mean_i of a per-sample penalty: the weighting of the gradient penalties and LeCam."""
    return weight * per_sample.mean()


def r2_penalty(logits: Tensor, inputs: Tensor, gamma: float, grad_scale: float = 1.0) -> Tensor:
    """R2 = γ/2 · mean_i ||∇_x D(x_i)||² on generated data (Mescheder et al. 2018, eq. 10). As :func:`r1_penalty`."""
    return r1_penalty(logits, inputs, gamma, grad_scale)


def interpolate(real: Tensor, fake: Tensor) -> Tensor:
    """x̂_i = ε_i·real_i + (1 − ε_i)·fake_i, one ε_i ~ U[0, 1] per sample (this rank's slice of a global draw), as a
    leaf with ``requires_grad``. Pairs share an index, so conditional pairs share a label."""
    eps = rand_for_rank(real.shape[0], *(1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    return torch.lerp(fake.detach(), real.detach(), eps).requires_grad_(True)


def gradient_penalty(
    logits: Tensor, inputs: Tensor, weight: float, center: float = 1.0, grad_scale: float = 1.0
) -> Tensor:
    """weight · mean_i (||∇_x D(x̂_i)|| − center)² on interpolates x̂ (:func:`interpolate`).

    ``center=1``: WGAN-GP (Gulrajani et al. 2017, eq. 3); ``center=0``: the zero-centred GP (Thanh-Tung et al.
    2019), weight · mean ||∇D(x̂)||².
    """
    sq_norm = input_gradient_sq_norm(logits.reshape(-1), inputs, grad_scale=grad_scale)
    return weighted_mean(centred_gradient_penalty(sq_norm, center), weight)


def centred_gradient_penalty(sq_norms: Tensor, center: float) -> Tensor:
    """(||∇_x D(x̂_i)|| − center)² per sample from the squared norms; ``center=0`` is the squared norm itself."""
    if center == 0:
        return sq_norms
    # the clamp keeps the gradient of the square root finite where ∇D(x̂) = 0
    return (sq_norms.clamp_min(1e-12).sqrt() - center).square()


def finite_difference_sq_norm(logits: Tensor, shifted_logits: Tensor, sigma: float) -> Tensor:
    """(D(x + σε) − D(x))² / σ² per sample, in float32 or wider: estimates ||∇_x D(x)||² for ε ~ N(0, I)."""
    diff = shifted_logits.reshape(-1) - logits.reshape(-1)
    diff = diff.float() if diff.dtype in (torch.float16, torch.bfloat16) else diff
    return diff.square() / sigma**2


def approx_r1_penalty(logits: Tensor, shifted_logits: Tensor, sigma: float, gamma: float) -> Tensor:
    """γ/2 · mean_i (D(x_i + σε_i) − D(x_i))² / σ²: R1 without double backward, equal to it in expectation as σ → 0.

    ``shifted_logits`` are D's logits at ``x + sigma * eps`` with ``eps ~ N(0, I)``. Under bf16/fp16 autocast run
    both forwards in float32: a logit of 8 is stored to 1/32 in bf16, far coarser than the difference measured.
    """
    return half_gamma_mean(finite_difference_sq_norm(logits, shifted_logits, sigma), gamma)


def lecam_per_sample(d_real: Tensor, d_fake: Tensor, ema_real: float, ema_fake: float) -> Tensor:
    """relu(D(real_i) − α_F)² + relu(α_R − D(fake_i))² (Tseng et al. 2021, eq. 3, clipped at zero as its code),
    α_R, α_F the moving averages of D's logits on real and on generated data."""
    return (d_real - ema_fake).clamp_min(0).square() + (ema_real - d_fake).clamp_min(0).square()


def lecam_penalty(d_real: Tensor, d_fake: Tensor, ema_real: float, ema_fake: float, weight: float) -> Tensor:
    """LeCam = weight · mean_i :func:`lecam_per_sample` (the averages are the caller's state)."""
    return weighted_mean(lecam_per_sample(d_real, d_fake, ema_real, ema_fake), weight)


__all__ = [
    "r1_penalty",
    "r2_penalty",
    "gradient_penalty",
    "interpolate",
    "approx_r1_penalty",
    "finite_difference_sq_norm",
    "input_gradient_sq_norm",
    "half_gamma_mean",
    "weighted_mean",
    "centred_gradient_penalty",
    "lecam_per_sample",
    "lecam_penalty",
]

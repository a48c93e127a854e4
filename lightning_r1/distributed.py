"""Data-parallel training that stays exact with several backward passes per step and double backward.

PyTorch's DistributedDataParallel reduces gradients from hooks armed by one forward and fired by one backward.
A GAN step has several backward passes (D, then G) and R1/R2 differentiate twice, which is where DDP reports
"marked ready twice" or unused parameters. Here, as in StyleGAN2-ADA's training loop, modules are not wrapped:
every process computes its gradients and they are averaged in one all-reduce right before each optimizer step.

Random draws that shape a batch (latents z, interpolation weights, noise) are drawn for the *global* batch from
the RNG that every rank seeds identically, and each rank takes its slice, so N processes with batch B compute
what one process with batch N·B would.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from torch import Tensor

from lightning_r1.lightning_compat import sync_module_states


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the world size (0, 1 outside torch.distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def rank_slice(global_batch: Tensor | list, batch_size: int) -> Tensor | list:
    """This rank's ``batch_size`` items of a global batch of ``batch_size × world`` items."""
    rank, _ = rank_and_world()
    return global_batch[rank * batch_size : (rank + 1) * batch_size]


def randn_for_rank(n: int, *shape: int, device: torch.device | str | None = None) -> Tensor:
    """``n`` standard normal draws for this rank, sliced from the draw for the global batch."""
    return rank_slice(torch.randn(n * rank_and_world()[1], *shape, device=device), n)


def rand_for_rank(n: int, *shape: int, device: torch.device | str | None = None, dtype=None) -> Tensor:
    """``n`` uniform [0, 1) draws for this rank, sliced from the draw for the global batch."""
    return rank_slice(torch.rand(n * rank_and_world()[1], *shape, device=device, dtype=dtype), n)


def randn_like_for_rank(x: Tensor) -> Tensor:
    """``torch.randn_like(x)`` for this rank's batch ``x``, sliced from one draw for the global batch.

    ``randn_like`` on every rank would give every rank the *same* noise, and not the noise one process with the
    global batch draws; this gives each rank its own slice of that single draw.
    """
    return randn_for_rank(x.shape[0], *x.shape[1:], device=x.device).to(x.dtype)


def world_size() -> int:
    """Number of processes (1 outside torch.distributed)."""
    return rank_and_world()[1]


def average_gradients(params: list[torch.nn.Parameter], finite: Tensor | None = None) -> Tensor | None:
    """Average ``.grad`` over all processes with a single all-reduce (missing gradients count as zero).

    Args:
        params: the parameters of one optimizer.
        finite: this rank's "my loss is finite" flag (a 0-d bool tensor). It travels in the same all-reduce, so
            every rank learns whether *all* ranks were finite without a second collective, and all ranks then
            skip (or stop) together: a rank that decided alone would leave the others waiting in the next
            all-reduce.

    Returns:
        The flag for the whole world (True when every rank was finite); ``finite`` itself on one process.
    """
    _, world = rank_and_world()
    if world == 1 or not params:
        return finite
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    if finite is not None:  # one extra element: the count of finite ranks
        flat = torch.cat([flat, finite.to(flat.dtype).reshape(1)])
    dist.all_reduce(flat)
    if finite is not None:
        finite, flat = flat[-1] == world, flat[:-1]
    flat /= world
    for p, chunk in zip(params, flat.split([g.numel() for g in grads]), strict=True):
        p.grad = chunk.view_as(p).clone()
    return finite


class GANDDPStrategy(DDPStrategy):
    """Lightning's DDP launcher and process group, without the DistributedDataParallel wrapper.

    Weights are broadcast from rank 0 at start; the ``GAN`` module averages gradients before each step.
    Use ``trainer=ddp`` (or ``L.Trainer(strategy=GANDDPStrategy())``). BatchNorm statistics stay per process
    (use SyncBatchNorm in G for exact equivalence with one process).
    """

    def configure_ddp(self) -> None:
        sync_module_states(self.model)

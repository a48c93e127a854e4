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
from lightning.pytorch.strategies.ddp import _sync_module_states
from torch import Tensor


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


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over all processes with a single all-reduce (missing gradients count as zero)."""
    _, world = rank_and_world()
    if world == 1 or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for p, chunk in zip(params, flat.split([g.numel() for g in grads]), strict=True):
        p.grad = chunk.view_as(p).clone()


class GANDDPStrategy(DDPStrategy):
    """Lightning's DDP launcher and process group, without the DistributedDataParallel wrapper.

    Weights are broadcast from rank 0 at start; the ``GAN`` module averages gradients before each step.
    Use ``trainer=ddp`` (or ``L.Trainer(strategy=GANDDPStrategy())``). BatchNorm statistics stay per process
    (use SyncBatchNorm in G for exact equivalence with one process).
    """

    def configure_ddp(self) -> None:
        _sync_module_states(self.model)

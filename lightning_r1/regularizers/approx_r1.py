"""Approximate R1 by finite differences: no double backward.

For small sigma, D(x + sigma·eps) − D(x) ≈ sigma · <∇_x D(x), eps>, and with eps ~ N(0, I),
E_eps[<g, eps>²] = ||g||². Hence

    ApproxR1 = gamma/2 · mean_i (D(x_i + sigma·eps_i) − D(x_i))² / sigma²   →   R1 as sigma → 0 (in expectation).

It needs one extra forward of D and a plain backward, so it works where double backward does not (torch.compile'd
D, FSDP, fused attention kernels). The same finite-difference idea is used for adversarial post-training of large
generators (2025). Exact R1: Mescheder, Geiger, Nowozin 2018, eq. (9).

``batch_fraction`` < 1 penalises only ⌈fraction·N⌉ samples of each (global) batch, drawn at random, as StyleGAN2
shrinks the batch of its path-length penalty (Karras et al. 2020, ``pl_batch_shrink``): the estimate stays unbiased and
the extra forward/backward shrinks with it (measured in docs/benchmarks.md). ``side`` says which batch the difference
is taken at: real data here, generated data in :class:`~lightning_r1.regularizers.approx_r2.ApproxR2`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lightning_r1.distributed import randn_like_for_rank, rank_and_world
from lightning_r1.functional import finite_difference_sq_norm
from lightning_r1.regularizers.base import check_non_negative
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass
from lightning_r1.regularizers.r1 import R1
from lightning_r1.schedules import Schedule


class ApproxR1(R1):
    """``gamma/2 · mean_i (D(x_i + sigma·eps_i) − D(x_i))² / sigma²`` on real data, eps ~ N(0, I).

    Args:
        gamma: penalty strength (a number, a schedule or "auto"), as for :class:`R1`.
        sigma: finite-difference step (> 0); small relative to the data scale (images in [-1, 1]: 0.01).
        batch_fraction: share of each real batch that is penalised, in (0, 1].
        every, lazy_correction: as for :class:`R1`.

    Raises:
        ValueError: as :class:`R1`, ``sigma`` not a positive float, ``batch_fraction`` outside (0, 1].
    """

    name = "approx_r1"
    needs_real_grad = False  # reuses D(real) from the adversarial forward; no input gradient
    reads = ("real",)
    side = "real"  # the batch the finite difference is taken at

    def __init__(
        self,
        gamma: float | str | Schedule | dict = 10.0,
        sigma: float = 0.01,
        every: int = 1,
        lazy_correction: bool = False,
        batch_fraction: float = 1.0,
    ) -> None:
        super().__init__(gamma, every, lazy_correction)
        check_non_negative("sigma", sigma)
        if sigma == 0:
            raise ValueError(f"Expected `sigma` to be a positive float, got {sigma!r}")
        self.sigma = float(sigma)
        if not 0 < batch_fraction <= 1:
            raise ValueError(f"Expected `batch_fraction` in (0, 1], got {batch_fraction!r}")
        self.batch_fraction = float(batch_fraction)

    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        x = (d_pass.real if self.side == "real" else d_pass.fake).detach()
        noise = randn_like_for_rank(x)  # this rank's slice of one draw for the global batch
        chosen, weight = self._penalised(x.shape[0], x.device)
        base, shifted = self._logits_pair(d_pass, x[chosen], noise[chosen], chosen)
        # (D(x + σε) − D(x))² / σ² estimates ||∇_x D(x)||² (E[<g, ε>²] = ||g||² for ε ~ N(0, I))
        estimate = finite_difference_sq_norm(base, shifted, self.sigma)
        values = torch.zeros(x.shape[0], device=x.device, dtype=estimate.dtype)
        values[chosen] = weight * estimate
        return values

    def _penalised(self, n: int, device: torch.device) -> tuple[Tensor, float]:
        """This rank's penalised rows and their weight, so the batch mean is the mean over the penalised rows.

        With ``batch_fraction`` < 1 the rows are ⌈fraction · global batch⌉ rows drawn without replacement from the
        *global* batch (one draw, the same on every process), so N processes penalise what one process would.
        """
        if self.batch_fraction == 1.0:
            return torch.arange(n, device=device), 1.0
        rank, world = rank_and_world()
        total = n * world
        count = math.ceil(self.batch_fraction * total)
        drawn = torch.randperm(total, device=device)[:count]
        mine = drawn[(drawn >= rank * n) & (drawn < (rank + 1) * n)] - rank * n
        return mine.sort().values, total / count

    def _logits_pair(
        self, d_pass: DiscriminatorPass, x: Tensor, noise: Tensor, chosen: Tensor
    ) -> tuple[Tensor, Tensor]:
        """D(x) and D(x + σε) on the penalised rows.

        Under autocast (bf16/fp16) a logit of ~8 is stored to ~0.03, far coarser than the difference σ·<∇D, ε>
        being measured, so both forwards then run in float32; otherwise D(x) is reused from the adversarial pass.
        """
        shifted = x + self.sigma * noise
        device_type = x.device.type
        if torch.is_autocast_enabled(device_type):
            with torch.autocast(device_type=device_type, enabled=False):
                both = d_pass.logits_of(
                    torch.cat([x, shifted]).float(), rows=torch.cat([chosen, chosen]), side=self.side
                )
            return both.chunk(2)
        logits = d_pass.d_real if self.side == "real" else d_pass.d_fake
        # with an augmentation, D(x + σε) goes through the same augmentation as D(x) (docs/augmentation.md)
        return logits[chosen], d_pass.logits_of(shifted, rows=chosen, side=self.side)

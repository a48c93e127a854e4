"""LeCam regularization (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under Limited Data", eq. 3):
D's outputs on real data are pulled toward a moving average of its outputs on generated data, and vice versa,

    R_LC = E_x[ relu(D(x) − α_F)² ] + E_z[ relu(α_R − D(G(z)))² ],

α_R, α_F = exponential moving averages (decay 0.99) of the batch mean of D(real) and D(fake). The paper writes the
squares without the relu; its released code (and StudioGAN) clip at zero, so only logits that have moved *past* the
other side's average are pulled back; this follows the code. The averages are checkpointed (StudioGAN lost them on
resume, its PR #150); under DDP they average the global batch, so 1 and N processes keep the same averages.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from lightning_r1.distributed import world_size
from lightning_r1.functional import lecam_per_sample
from lightning_r1.regularizers.base import Regularizer, strength_schedule
from lightning_r1.regularizers.discriminator_pass import DiscriminatorPass
from lightning_r1.schedules import Schedule


class LeCam(Regularizer):
    """``weight · mean_i [relu(D(real_i) − α_F)² + relu(α_R − D(fake_i))²]`` with EMAs α_R, α_F of D's logits.

    The averages are updated with this step's logits before the penalty is taken (as the released code does);
    they start at the first step's means.

    Args:
        weight: penalty weight λ (>= 0).
        decay: EMA decay of the logit averages, in [0, 1) (0.99 in the paper's code).
        every, lazy_correction: as for :class:`~lightning_r1.R1` (``weight``: a number or a schedule, as its ``gamma``).

    Raises:
        ValueError: ``weight`` negative or NaN, a bad schedule, ``decay`` outside [0, 1), ``every`` < 1.
    """

    name = "lecam"
    strength_name = "weight"

    def __init__(
        self,
        weight: float | Schedule | dict = 0.3,
        decay: float = 0.99,
        every: int = 1,
        lazy_correction: bool = False,
    ) -> None:
        super().__init__(every, lazy_correction)
        self.weight = strength_schedule("weight", weight)
        if isinstance(decay, bool) or not isinstance(decay, int | float) or not 0.0 <= decay < 1.0:
            raise ValueError(f"Expected `decay` to be in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.ema_real: float | None = None  # α_R, checkpointed
        self.ema_fake: float | None = None  # α_F

    def update_averages(self, d_real: Tensor, d_fake: Tensor) -> None:
        """Move α_R, α_F toward this step's mean logits over the global batch."""
        means = torch.stack([d_real.detach().mean(), d_fake.detach().mean()]).double()
        if world_size() > 1:
            dist.all_reduce(means)
            means = means / world_size()
        real, fake = float(means[0]), float(means[1])
        if self.ema_real is None or self.ema_fake is None:
            self.ema_real, self.ema_fake = real, fake
        else:
            self.ema_real = self.decay * self.ema_real + (1 - self.decay) * real
            self.ema_fake = self.decay * self.ema_fake + (1 - self.decay) * fake

    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        d_real, d_fake = d_pass.d_real, d_pass.d_fake
        if d_real is None or d_fake is None:
            raise RuntimeError("lecam reads D's logits on both the real and the fake batch")
        self.update_averages(d_real, d_fake)
        return lecam_per_sample(d_real, d_fake, self.ema_real, self.ema_fake)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "ema_real": self.ema_real, "ema_fake": self.ema_fake}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.ema_real, self.ema_fake = state_dict["ema_real"], state_dict["ema_fake"]

    def __repr__(self) -> str:
        return f"LeCam(weight={self.weight}, decay={self.decay}, every={self.every})"

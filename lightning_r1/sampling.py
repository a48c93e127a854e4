"""Drawing samples from a trained GAN (the EMA generator by default), for grids, metrics and users."""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_r1.training_state import parameter_dtype


class SamplingMixin:
    """Adds ``generate(z)`` and ``sample(n)`` to a module with ``generator``, ``generator_ema``, ``latent_dim``."""

    @torch.no_grad()
    def generate(self, z: Tensor, ema: bool = True) -> Tensor:
        """Samples for latents ``z`` from the EMA generator (or the raw one), in eval mode."""
        net = self.generator_ema if ema else self.generator
        was_training = net.training
        net.eval()
        try:
            return net(z.to(device=self.device, dtype=parameter_dtype(net)))  # float64 under 64-true
        finally:
            net.train(was_training)

    def sample(self, num_samples: int, ema: bool = True, batch_size: int = 256) -> Tensor:
        """``num_samples`` fresh samples (images in [-1, 1]) on this module's device."""
        chunks = []
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            chunks.append(self.generate(torch.randn(n, self.latent_dim, device=self.device), ema=ema))
        return torch.cat(chunks)

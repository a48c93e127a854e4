"""Mode metrics of 2-D Gaussian mixtures (ring8, grid25), as defined by PacGAN (Lin et al. 2018, §5.1).

Given generated samples, the K mode centres and the components' standard deviation ``std``:

- every sample is *assigned* to its nearest mode (Euclidean distance);
- a sample is *high quality* when that distance is at most ``3·std``;
- a mode is *covered* when at least one high-quality sample is assigned to it;
- the *reverse KL* is ``KL(q || p) = Σ_k q_k log(q_k / p_k)`` with ``p_k = 1/K`` (the data put equal mass on each
  mode) and ``q_k`` the fraction of the high-quality samples assigned to mode k.

:func:`mode_metrics` is the pure functional core; :class:`ModeMetrics` the Lightning callback that evaluates the EMA
generator during training and logs ``val/modes_covered``, ``val/high_quality_pct``, ``val/reverse_kl``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor

from lightning_r1.metrics.iteration_metric import IterationMetric

log = logging.getLogger(__name__)

KEYS = ("val/modes_covered", "val/high_quality_pct", "val/reverse_kl")  # what ModeMetrics logs
EPS = 1e-12  # added to every mode's count so log(q_k) stays finite; changes the KL by < 1e-10


def mode_metrics(samples: Tensor, modes: Tensor, std: float, eps: float = EPS) -> dict[str, float]:
    """PacGAN's three numbers for ``samples [N, D]`` against mode centres ``modes [K, D]``.

    ``q_k = (n_k + eps) / (n + K·eps)`` where ``n_k`` is the number of high-quality samples assigned to mode k and
    ``n`` their total; the ``eps`` keeps ``log q_k`` finite for unvisited modes (whose term ``q_k log(K q_k)`` is
    then ~0, its limit). ``KL = Σ_k q_k log(K q_k)``: 0 when the high-quality samples spread evenly over the modes,
    ``log K`` when they all sit on one mode (``log m`` for m equally visited modes). With no high-quality sample at
    all, q is undefined and the KL is reported as ``inf`` (worse than any collapsed generator).

    Args:
        samples: generated points ``[N, D]``.
        modes: mode centres ``[K, D]``.
        std: standard deviation of each mixture component (> 0).
        eps: smoothing of the mode histogram.

    Returns:
        ``{"modes_covered": int in [0, K], "high_quality_pct": % in [0, 100], "reverse_kl": float >= 0 or inf}``.

    Raises:
        ValueError: on mismatched shapes, an empty sample set or a non-positive ``std``.
    """
    samples = torch.as_tensor(samples).detach().to(torch.float64).cpu()
    modes = torch.as_tensor(modes).detach().to(torch.float64).cpu()
    if samples.dim() != 2 or modes.dim() != 2 or samples.shape[1] != modes.shape[1]:
        raise ValueError(
            f"Expected samples [N, D] and modes [K, D], got {tuple(samples.shape)} and {tuple(modes.shape)}"
        )
    if samples.shape[0] == 0 or modes.shape[0] == 0:
        raise ValueError("Expected at least one sample and one mode")
    if isinstance(std, bool) or not isinstance(std, int | float) or not std > 0:
        raise ValueError(f"Expected `std` to be a positive float, got {std!r}")
    dist, nearest = torch.cdist(samples, modes).min(dim=1)
    good = dist <= 3.0 * std
    num_modes = modes.shape[0]
    counts = torch.bincount(nearest[good], minlength=num_modes).to(torch.float64)
    total = float(counts.sum())
    if total == 0:
        reverse_kl = math.inf
    else:
        q = (counts + eps) / (total + num_modes * eps)
        reverse_kl = max(float((q * torch.log(q * num_modes)).sum()), 0.0)  # clamp float rounding below 0
    return {
        "modes_covered": int((counts > 0).sum()),
        "high_quality_pct": 100.0 * total / samples.shape[0],
        "reverse_kl": reverse_kl,
    }


class ModeMetrics(IterationMetric):
    """Evaluates the EMA generator on a mixture with known modes every ``every`` iterations and at the end.

    Active for datamodules exposing ``modes`` and ``std`` (ring8, grid25); inactive (one warning) otherwise. The
    trigger, the forked RNG with fixed latents (``seed``), ``history``, ``best`` and :meth:`summary` come from
    :class:`~lightning_r1.metrics.iteration_metric.IterationMetric`. Logs ``val/modes_covered``,
    ``val/high_quality_pct`` and ``val/reverse_kl``.

    Args:
        every: generator iterations between evaluations (0: only at the end of training).
        num_samples: generated points per evaluation (PacGAN: 2,500).
        seed: seed of the evaluation latents.
        samples_path: if set, the last evaluation's points are saved there (``.npy``) for scatter plots.

    Raises:
        ValueError: ``every`` negative or ``num_samples`` < 1.
    """

    def __init__(
        self, every: int, num_samples: int = 2500, seed: int = 0, samples_path: str | Path | None = None
    ) -> None:
        super().__init__(every, num_samples, seed)
        self.samples_path = Path(samples_path) if samples_path is not None else None
        self.last_samples: Tensor | None = None  # the last computation's points (what samples_path saves)
        self.modes: Tensor | None = None
        self.std: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        modes, std = getattr(dm, "modes", None), getattr(dm, "std", None)
        if modes is None or std is None:
            log.warning("ModeMetrics: the datamodule has no `modes`/`std` (not a toy mixture); inactive")
            return
        self.modes, self.std = torch.as_tensor(modes), float(std)
        self.provenance = {key: {"num_generated": self.num_samples} for key in KEYS}
        self.active = True

    def measure(self, pl_module: L.LightningModule) -> dict[str, float]:
        """Metrics of ``num_samples`` EMA samples; the samples kept in ``last_samples``."""
        if self.modes is None or self.std is None:
            raise RuntimeError("ModeMetrics.compute() before on_fit_start() found a mixture")
        self.last_samples = self.draw(pl_module.sample).float().cpu()
        values = mode_metrics(self.last_samples, self.modes, self.std)
        return {f"val/{k}": float(v) for k, v in values.items()}

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        metrics = super().evaluate(trainer, pl_module)
        if self.samples_path is not None and trainer.is_global_zero:
            self.samples_path.parent.mkdir(parents=True, exist_ok=True)
            np.save(self.samples_path, self.last_samples.numpy())
        return metrics

"""IterationCheckpoint: Lightning's ModelCheckpoint, with ``{iteration}`` (generator updates) in file names."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor


class IterationCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``filename`` and ``monitor`` may use ``iteration``, read from the module.

    The GAN logs step values only on Lightning's logging steps (see ``lightning_r1.step_logging``), so a logged
    ``iteration`` could be up to ``log_every_n_steps`` batches old when a checkpoint is written; this reads the
    module's counter instead. ``global_step`` counts optimizer steps (``d_steps + 1`` per iteration).
    """

    def _monitor_candidates(self, trainer: L.Trainer) -> dict[str, Tensor]:
        candidates = super()._monitor_candidates(trainer)
        iteration = getattr(trainer.lightning_module, "iteration", None)
        if iteration is not None:
            candidates["iteration"] = torch.tensor(float(iteration))
        return candidates

"""Where a run stands: its counters and its random streams, saved in every checkpoint so a resumed run continues
bit for bit (on CPU).

A checkpoint keeps both under ``checkpoint["lightning_r1"]``: ``{"iteration", "images_seen", "d_step_in_iteration",
"nonfinite_skips", "rng_states"}`` (the layout every checkpoint written so far has).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch


# ---- the counters ------------------------------------------------------------------------------------------------
@dataclass
class Progress:
    """The GAN's counters; regularizers read ``iteration`` from here (their schedules run over iterations)."""

    iteration: int = 0  # generator updates done
    images_seen: int = 0  # real images (global batch) consumed by generator updates, for the EMA ramp-up
    d_step_in_iteration: int = 0  # D steps done in the iteration under way
    nonfinite_skips: int = 0  # optimizer steps skipped on a NaN/Inf loss (skip_nonfinite)

    def finish_iteration(self, global_batch: int) -> None:
        """One generator update done, on ``global_batch`` real images (all processes)."""
        self.iteration += 1
        self.d_step_in_iteration = 0
        self.images_seen += global_batch

    def state_dict(self) -> dict[str, int]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for f in fields(self):
            setattr(self, f.name, state[f.name])


# ---- the random streams ------------------------------------------------------------------------------------------
def rng_states() -> dict[str, Any]:
    """Python, NumPy, torch CPU (and this process's CUDA device) RNG states, so a resumed run draws the same numbers.

    Under DDP the checkpoint comes from rank 0 and every rank restores these states. That is exact because every
    rank's generators are in the same state by construction: all are seeded alike and every random draw is made
    for the global batch (``lightning_r1.distributed``), which tests/distributed/test_scale_equivalence.py checks. The CUDA
    state is the *current* device's only: ``get_rng_state_all`` would hand rank 1 the state rank 0 saw of
    device 1, which rank 0 never used (README, "Scaling up").
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # plain Python/torch types only, so Lightning can reload the checkpoint with torch.load(weights_only=True)
    numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))
    states = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda_device"] = torch.cuda.get_rng_state()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda_device" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda_device"])  # onto this process's current device


# ---- the checkpoint entry ----------------------------------------------------------------------------------------
CHECKPOINT_KEY = "lightning_r1"


def save_progress(progress: Progress, checkpoint: dict[str, Any]) -> None:
    """Write the counters and this process's RNG states into ``checkpoint``."""
    checkpoint[CHECKPOINT_KEY] = progress.state_dict() | {"rng_states": rng_states()}


def load_progress(progress: Progress, checkpoint: dict[str, Any]) -> None:
    """Restore the counters (in place: regularizers hold this object) and the RNG states from ``checkpoint``."""
    state = checkpoint[CHECKPOINT_KEY]
    progress.load_state_dict(state)
    restore_rng_states(state["rng_states"])

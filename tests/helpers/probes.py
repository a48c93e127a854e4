"""Probe callbacks that tests add to real runs through the config (``+callbacks.<name>._target_=helpers.probes...``)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor

from lightning_r1.distributed import rank_and_world
from lightning_r1.regularizers import DiscriminatorPass, Regularizer
from lightning_r1.regularizers.base import strength_schedule


class NaNOnSlice(Regularizer):
    """A penalty that is 0, except NaN on one D step in the process holding global-batch slice ``slice_rank``.

    With N processes that is rank ``slice_rank`` alone; with one process (which holds every slice) it is that
    process. Both runs then see a NaN in the same rows of the same global batch, and must skip (or stop at) the
    same step.
    """

    name = "nan_probe"

    def __init__(self, d_step: int = 3, slice_rank: int = 1) -> None:
        super().__init__()
        self.weight = strength_schedule("weight", 1.0)
        self.d_step, self.slice_rank = d_step, slice_rank

    def per_sample(self, d_pass: DiscriminatorPass) -> Tensor:
        rank, world = rank_and_world()
        values = d_pass.d_real.new_zeros(d_pass.d_real.shape[0])
        hit = self.d_steps_seen - 1 == self.d_step and rank == min(self.slice_rank, world - 1)
        return values + float("nan") if hit else values


class RNGDigest(L.Callback):
    """Writes ``rng_rank<r>.json`` at the end of training: a digest of this process's Python/NumPy/torch RNG states."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import random

        digest = hashlib.sha256()
        digest.update(repr(random.getstate()).encode())
        digest.update(np.random.get_state()[1].tobytes())
        digest.update(torch.get_rng_state().numpy().tobytes())
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"rng_rank{trainer.global_rank}.json"
        path.write_text(json.dumps({"digest": digest.hexdigest(), "iteration": pl_module.iteration}))


class Rendezvous(L.Callback):
    """Each job checks in at fit start, then waits until ``parties`` jobs have checked in (or fails after
    ``timeout_s``): a sweep whose jobs all pass it had them running at the same time."""

    def __init__(self, directory: str, parties: int = 2, timeout_s: float = 240.0) -> None:
        self.directory, self.parties, self.timeout_s = Path(directory), parties, timeout_s

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{os.getpid()}.json").write_text(
            json.dumps({"pid": os.getpid(), "t": time.time()})
        )
        deadline = time.time() + self.timeout_s
        while len(list(self.directory.glob("*.json"))) < self.parties:
            if time.time() > deadline:
                raise RuntimeError(
                    f"Rendezvous: no other job started within {self.timeout_s} s (not parallel)"
                )
            time.sleep(0.2)

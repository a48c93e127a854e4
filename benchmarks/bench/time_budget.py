"""A callback that checkpoints a run when its own training time passes each of a list of budgets, then stops it.

The clock is the CPU time of the training thread (``time.thread_time``): on a shared machine two runs side by side
each get their own seconds of computation, whatever the load (a one-thread run: ``OMP_NUM_THREADS=1``, data loading
in the main process). The time spent writing the checkpoints is taken off the clock. Used by ``budget_quality.py``:

    python train.py ... +callbacks.budget._target_=bench.time_budget.BudgetCheckpoints \
        '+callbacks.budget.budgets=[300,600]' +callbacks.budget.dirpath=RUN_DIR/checkpoints   # bench on PYTHONPATH

writes ``budget_300s.ckpt`` (the weights when the clock first reached 300 s, at an iteration boundary),
``budget_600s.ckpt``, and ``budgets.json`` = ``{"300": {"iteration": N, "cpu_s": t}, ...}`` beside them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L

from lightning_r1.callbacks.iteration_checkpoint import save_checkpoint_atomically


def budget_key(budget: float) -> str:
    """How a budget is named in files and in ``budgets.json``: ``300`` for 300 s, ``0.5`` for half a second."""
    return f"{float(budget):g}"


def checkpoint_name(budget: float) -> str:
    """``budget_300s.ckpt`` for 300 s."""
    return f"budget_{budget_key(budget)}s.ckpt"


class BudgetCheckpoints(L.Callback):
    """Save a checkpoint at the first iteration boundary after each budget (CPU seconds of training), stop after
    the last.

    Args:
        budgets: seconds of the training thread's CPU time, each > 0.
        dirpath: folder for the checkpoints and ``budgets.json``.
    """

    def __init__(self, budgets: list[float], dirpath: str) -> None:
        self.budgets = sorted(float(b) for b in budgets)
        if not self.budgets or self.budgets[0] <= 0:
            raise ValueError(f"Expected `budgets` to be positive seconds, got {budgets!r}")
        self.dirpath = Path(dirpath)
        self.reached: dict[str, dict[str, float]] = {}
        self._start = 0.0
        self._off_clock = 0.0  # seconds spent writing checkpoints

    def elapsed(self) -> float:
        return time.thread_time() - self._start - self._off_clock

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self._off_clock = time.thread_time(), 0.0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if getattr(pl_module, "d_step_in_iteration", 0):  # between two D steps of one iteration
            return
        spent = self.elapsed()
        due = [b for b in self.budgets if b <= spent and budget_key(b) not in self.reached]
        if not due:
            return
        write_start = time.thread_time()
        path = self.dirpath / checkpoint_name(due[0])
        save_checkpoint_atomically(trainer, path)
        for budget in due:  # a step longer than the gap between two budgets: the same weights serve both
            if budget != due[0]:
                (self.dirpath / checkpoint_name(budget)).write_bytes(path.read_bytes())
            self.reached[budget_key(budget)] = {"iteration": int(pl_module.iteration), "cpu_s": spent}
        (self.dirpath / "budgets.json").write_text(json.dumps(self.reached, indent=2))
        self._off_clock += time.thread_time() - write_start
        if len(self.reached) == len(self.budgets):
            trainer.should_stop = True

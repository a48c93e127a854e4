"""``summary.json``: the one file a sweep report reads from each run directory (docs/architecture.md, "The run directory")."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_r1.augment import InstanceNoise
from lightning_r1.callbacks.preemption import PreemptionCheckpoint
from lightning_r1.errors import one_line
from lightning_r1.metrics.iteration_metric import IterationMetric
from lightning_r1.regularizers import Regularizer


class RunSummary(L.Callback):
    """Writes ``summary.json`` at the end of training, and with ``"status": "failed"`` when training raises.

    Contents: ``iterations`` (generator updates done), ``wall_time_s``, ``regularizers`` (names), ``metrics`` (the
    final value of every logged scalar), ``best`` and ``provenance`` (what each metric value was measured with; both from the metric callbacks'
    ``summary()``), ``overrides``,
    ``status`` (``completed``, ``failed``, or ``stopped`` by SIGTERM); a failed or stopped run also ``error``, one line
    (``NonFiniteLossError: iteration 5: train/r1 is nan; ...``, ``stopped by signal SIGTERM at iteration 40; resume
    with ckpt_path=...``). The file is replaced atomically: a reader (or a full disk) never finds it half written.

    Args:
        path: the JSON file to write.
        overrides: the command-line overrides of this run (recorded for reports).
    """

    def __init__(self, path: str | Path, overrides: list[str] | None = None) -> None:
        self.path = Path(path)
        self.overrides = list(overrides or [])
        self.start_time: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_time = time.perf_counter()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.write(trainer, pl_module, status="completed")

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        status = "stopped" if isinstance(exception, SIGTERMException) else "failed"
        saved = next(
            (cb.saved for cb in trainer.callbacks if isinstance(cb, PreemptionCheckpoint) and cb.saved), None
        )
        self.write(trainer, pl_module, status=status, error=failure_reason(exception, pl_module, saved))

    def write(
        self, trainer: L.Trainer, pl_module: L.LightningModule, status: str, **extra: Any
    ) -> dict | None:
        if not trainer.is_global_zero:
            return None
        summary: dict[str, Any] = {
            "iterations": int(getattr(pl_module, "iteration", 0)),
            "wall_time_s": 0.0 if self.start_time is None else time.perf_counter() - self.start_time,
            "regularizers": [
                cb.name for cb in trainer.callbacks if isinstance(cb, Regularizer | InstanceNoise)
            ],
            "metrics": final_metrics(trainer.callback_metrics),
            "best": {},
            "provenance": {},
            "overrides": self.overrides,
            "status": status,
            **extra,
        }
        for cb in trainer.callbacks:  # metric callbacks (FID, modes, class accuracy) report their best values
            if isinstance(cb, IterationMetric):
                measured = cb.summary()
                summary["best"].update(measured["best"])
                summary["provenance"].update(measured["provenance"])  # what each value was measured with
        write_json_atomically(self.path, summary)
        return summary


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """``path`` replaced by ``data`` as JSON in one step (written to ``<path>.tmp``, then renamed): the previous file
    stays whole when the write fails (a full disk), and the partial ``.tmp`` is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def failure_reason(
    exception: BaseException, pl_module: L.LightningModule | None = None, saved: Path | None = None
) -> str:
    """One line for ``summary.json``'s ``error``: the exception type and the first line of its message; for a
    signal, which one, the iteration and (``saved``: the checkpoint written on the way out) how to resume."""
    if isinstance(exception, SIGTERMException | KeyboardInterrupt):
        where = f" at iteration {int(getattr(pl_module, 'iteration', 0))}" if pl_module is not None else ""
        resume = f"; resume with ckpt_path={saved}" if saved is not None else ""
        if isinstance(exception, SIGTERMException):
            return f"stopped by signal SIGTERM{where}{resume}"
        return f"interrupted by Ctrl+C (KeyboardInterrupt){where}"
    return f"{type(exception).__name__}: {one_line(exception)}"


def write_failed_summary(path: str | Path, error: str, overrides: list[str] | None = None) -> None:
    """``summary.json`` of a run that failed before training started (bad input): status, reason, no metrics."""
    summary = {"iterations": 0, "wall_time_s": 0.0, "regularizers": [], "metrics": {}, "best": {},
               "overrides": list(overrides or []), "status": "failed", "error": error}  # fmt: skip
    try:
        write_json_atomically(Path(path), summary)
    except OSError:  # an unwritable run directory is itself the error being reported
        pass


def final_metrics(callback_metrics: dict[str, torch.Tensor]) -> dict[str, float | None]:
    """Logged scalars as plain floats (non-finite values become null so the JSON stays valid)."""
    out: dict[str, float | None] = {}
    for key, value in sorted(callback_metrics.items()):
        number = float(value)
        out[key] = number if math.isfinite(number) else None
    return out

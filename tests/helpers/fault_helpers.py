"""Faults injected through the real training loop (used by tests/app/test_faults.py, also from `python train.py`
subprocesses: ``PYTHONPATH=tests python train.py +callbacks.crash._target_=helpers.fault_helpers.RaiseAt ...``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn


class RaiseAt(L.Callback):
    """Raises ``ValueError(message)`` at the end of the batch that completes iteration ``iteration``: a bug in the
    middle of a run, which must keep its traceback (exit 1), not be reported as bad input."""

    def __init__(self, iteration: int, message: str = "injected fault") -> None:
        self.iteration = iteration
        self.message = message

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        if pl_module.iteration == self.iteration:
            raise ValueError(f"{self.message} at iteration {self.iteration}")


class FaultyD(nn.Module):
    """Wraps a discriminator; on its ``at``-th call (1-based, counted among calls of the given ``kind``: "any", or
    "g_step" = while D is frozen for the generator step) it runs ``action(output)`` and returns its result.

    The same wrapper (``at=None``) is used for reference runs, so state-dict keys match.
    """

    def __init__(self, inner: nn.Module, at: int | None = None, kind: str = "any",
                 action: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.inner = inner
        self.at, self.kind, self.action = at, kind, action
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        frozen = not any(p.requires_grad for p in self.inner.parameters())
        if self.kind == "any" or (self.kind == "g_step" and frozen):
            self.calls += 1
            if self.calls == self.at and self.action is not None:
                return self.action(out)
        return out


def nan_output(out: torch.Tensor) -> torch.Tensor:
    return out * float("nan")


def send_sigint(out: torch.Tensor) -> torch.Tensor:
    """A real Ctrl+C: SIGINT to this process, delivered to the main thread at the next bytecode."""
    os.kill(os.getpid(), signal.SIGINT)
    return out


def send_sigint_twice(out: torch.Tensor) -> torch.Tensor:
    """Two real Ctrl+C in a row: the first asks for a stop, the second stops at once (mid-iteration)."""
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)
    return out


def raise_keyboard_interrupt(out: torch.Tensor) -> torch.Tensor:
    """A KeyboardInterrupt in the middle of an iteration (what a second Ctrl+C, or one outside training, does)."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def tmpfs(mount_point: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted at ``mount_point`` (skips the test where mounting is not permitted)."""
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)

"""Run the variants in turns: each in a thread of its own, one iteration at a time, round-robin.

Only one variant runs at any moment, and a change in the machine's load hits every variant alike, iteration by
iteration. Every runner (``RawLoop``, ``GANVariant``) offers ``start(batches, iterations)``, ``advance()`` (run
one iteration) and ``finish()`` (join the thread, return its record). A record holds one entry per iteration:
``step``, ``loop`` and ``cpu`` seconds, and ``due`` (whether a lazy regularizer penalised that iteration).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import torch

from bench.common import synchronize

Record = dict[str, list]


def empty_record() -> Record:
    return {"step": [], "loop": [], "cpu": [], "due": []}


class Turns:
    """Hands turns between the main thread and one worker thread: ``give()`` (main) lets the worker run until its
    next ``wait()`` and blocks until then."""

    def __init__(self) -> None:
        self._go, self._done = threading.Semaphore(0), threading.Semaphore(0)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def wait(self) -> None:  # worker: "my turn is over", then sleep until the next one
        self._done.release()
        self._go.acquire()

    def give(self) -> None:  # main thread
        self._go.release()
        self.ready()

    def ready(self) -> None:  # main thread: until the worker reaches its next wait() (or fails)
        self._done.acquire()
        self._raise_error()

    def start_thread(self, work: Callable[[], None], name: str, flush_denormal: bool) -> None:
        """Run ``work`` in a new thread and return once it first calls ``wait()``. ``work`` must call ``wait()``
        before its first iteration and after each one."""

        def target() -> None:
            torch.set_flush_denormal(flush_denormal)  # per thread (the MXCSR register on x86)
            try:
                work()
            except BaseException as e:  # noqa: BLE001  (re-raised in the main thread)
                self.error = e
                self._done.release()

        self.thread = threading.Thread(target=target, name=name, daemon=True)
        self.thread.start()
        self.ready()

    def finish(self) -> None:
        """Give the final turn (the worker's teardown) and wait for the thread to end."""
        self._go.release()
        self.thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the {self.thread.name} thread failed") from self.error


def run_round_robin(runners: dict[str, Any], batches: list, iterations: int) -> dict[str, Record]:
    """Start every runner, advance them one iteration each in turn (the order rotated every iteration),
    ``iterations`` times, then finish them; their records by name."""
    names = list(runners)
    t0 = time.perf_counter()
    for name in names:
        runners[name].start(batches, iterations)
    for i in range(iterations):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            runners[name].advance()
        if (i + 1) % 16 == 0:
            print(f"iteration {i + 1}/{iterations} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {name: runners[name].finish() for name in names}


def iteration_timer(device: torch.device, lazy: list, turns: Turns | None = None) -> Any:
    """A Lightning callback that records each training batch (after a device sync): ``step`` (batch start → end),
    ``loop`` (resumed after the previous batch end → this end), ``cpu`` (process time over ``step``) and ``due``.
    With ``turns``, it waits for its turn before the first batch and at every batch end (the last one included:
    the teardown waits for the final turn)."""
    import lightning as L  # imported late: set_up_process() quietens it

    class IterationTimer(L.Callback):
        def __init__(self) -> None:
            self.rec = empty_record()
            self.t_resume = self.t_start = self.c_start = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
            if turns is not None and batch_idx == 0:
                turns.wait()
                self.t_resume = time.perf_counter()
            synchronize(device)
            self.rec["due"].append(any(reg.d_steps_seen % reg.every == 0 for reg in lazy))
            self.t_start, self.c_start = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
            synchronize(device)
            t, c = time.perf_counter(), time.process_time()
            self.rec["step"].append(t - self.t_start)
            self.rec["cpu"].append(c - self.c_start)
            self.rec["loop"].append(t - self.t_resume if turns is not None else float("nan"))
            if turns is not None:
                turns.wait()
                self.t_resume = time.perf_counter()

    return IterationTimer()

"""The non-finite loss guard without a host sync on every step.

``bool(torch.isfinite(loss))`` after every backward waits for the device to finish the step (on a GPU, a
``cudaStreamSynchronize`` per D step and per G step), so the host can never queue the next step ahead. The guard
instead keeps each step's "finite" flag as a 0-d device tensor (under DDP the world's flag, which already travels in
the gradient all-reduce, ``distributed.average_gradients``) together with its detached loss and terms, and reads all
pending flags with **one** sync when a check is due:

- every ``every`` iterations (``gan.finite_check_every``) and at the end of training,
- before any checkpoint is written (``GAN.on_save_checkpoint``), so no checkpoint ever holds weights updated by a
  non-finite step: the check raises and the checkpoint is not written;

Every process holds the same world flags and checks at the same iteration, so all processes stop together. The
error names the iteration and the term of the *first* non-finite step, as the per-step check did. After a failure
the guard stays failed: a later save (an exception handler's checkpoint) raises again instead of writing.

What deferral costs: the steps between the NaN and the check still run (on weights that may now be NaN); nothing of
them is saved. ``gan.skip_nonfinite=true`` must decide before each optimizer step, so it keeps the per-step check.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lightning_r1.errors import NonFiniteLossError


@dataclass
class _Step:
    iteration: int
    flag: Tensor  # 0-d bool on the device: True when the step's loss was finite on every process
    loss: Tensor
    terms: dict[str, Tensor]


class DeferredFiniteCheck:
    """Pending "loss was finite" flags, read in one sync when :meth:`check` is called.

    Args:
        every: check every this many iterations (1: every step, as an immediate check would).

    Raises:
        ValueError: when ``every`` is not a positive int.
    """

    def __init__(self, every: int) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"Expected `finite_check_every` to be an int >= 1, got {every!r}")
        self.every = every
        self.pending: list[_Step] = []
        self.failure: NonFiniteLossError | None = None

    def note(self, iteration: int, flag: Tensor, loss: Tensor, terms: dict[str, Tensor]) -> None:
        """Remember one optimizer step's flag (no sync: nothing is read from the device)."""
        self.pending.append(_Step(iteration, flag.detach(), loss.detach(), dict(terms)))

    def due(self, iteration: int) -> bool:
        """Whether the iteration just finished is a checking one."""
        return bool(self.pending) and iteration % self.every == 0

    def check(self) -> None:
        """Read every pending flag with one sync; raise for the first non-finite step.

        Raises:
            NonFiniteLossError: naming the iteration and term of the first non-finite step (or saying that another
                process saw it), now and at every later call.
        """
        if self.failure is not None:
            raise self.failure
        if not self.pending:
            return
        steps, self.pending = self.pending, []
        if bool(torch.stack([s.flag for s in steps]).all()):  # the one sync
            return
        first = next(s for s in steps if not bool(s.flag))
        self.failure = NonFiniteLossError.from_terms(first.iteration, first.loss, first.terms)
        raise self.failure

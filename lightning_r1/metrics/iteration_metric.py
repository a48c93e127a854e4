"""``IterationMetric``: the one shell of every metric measured during training (FID, modes, class accuracy).

What a metric computes is a pure function of samples, as torch-fidelity's ``metric_fid.py`` splits FID into stages
(features → statistics → metric): :func:`torch_fidelity.calculate_metrics` and its ``*_featuresdict_to_metric``
stages, :func:`~lightning_r1.metrics.modes.mode_metrics`, :func:`~lightning_r1.metrics.stacked_mnist_modes.
stacked_mode_metrics`, :func:`~lightning_r1.metrics.class_accuracy.class_accuracy`. *When* and *how* is this
shell's, written once (docs/metrics.md, "The metric shell"):

- the trigger: when the module's ``iteration`` is a positive multiple of ``every``, and at the end of training; at
  most once per iteration (a GAN iteration spans ``d_steps`` batches);
- a forked RNG: the samples' latents come from ``seed`` (the same at every evaluation) and training's random streams
  are as the evaluation found them;
- rank 0 computes and broadcasts its values, or (``sharded = True``) every rank takes its share;
- ``history``, ``best`` (directions from :mod:`lightning_r1.metrics.vocabulary`), :func:`~lightning_r1.step_logging.
  publish`, :meth:`summary` for ``summary.json`` and ``state_dict`` for checkpoints (resume keeps the history);
- ``provenance``: what each value was measured with (:mod:`lightning_r1.metrics.provenance`).

A subclass sets ``active`` in ``on_fit_start`` and implements :meth:`measure`, drawing its samples with :meth:`draw`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from lightning_r1.metrics.vocabulary import best_of, higher_is_better
from lightning_r1.step_logging import publish


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an int ``>= minimum`` (bools excluded).

    Raises:
        ValueError: ``Expected `name` to be a non-negative integer, got -1`` (a positive integer, an integer >= k).
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"Expected `{name}` to be {kind}, got {value!r}")
    return value


def cuda_devices(pl_module: L.LightningModule) -> list[int]:
    """The CUDA device whose RNG an evaluation must leave as it found it (none on CPU)."""
    device = pl_module.device
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


class IterationMetric(L.Callback):
    """A metric of the EMA generator, every ``every`` generator iterations and at the end of training.

    Args:
        every: generator iterations between evaluations (0: only at the end of training).
        num_samples: generated samples per evaluation.
        seed: seed of the evaluation latents.
        min_samples: the smallest ``num_samples`` the metric is defined for.

    Attributes:
        active: whether the metric runs (set by the subclass at fit start; e.g. no FID for 2-D data).
        history: ``[{"iteration": i, "val/fid": v, ...}, ...]``, one entry per evaluation.
        provenance: ``{key: {field: value}}``, what each value is measured with (set by the subclass at fit start).

    Raises:
        ValueError: ``every`` negative, ``num_samples`` below ``min_samples`` or ``seed`` negative.
    """

    sharded: bool = False  # True: every rank computes its share (compute is collective); else rank 0 alone
    prog_bar: tuple[str, ...] = ()  # keys shown on the progress bar

    def __init__(self, every: int, num_samples: int, seed: int = 0, min_samples: int = 1) -> None:
        self.every = check_int("every", every, 0)
        self.num_samples = check_int("num_samples", num_samples, min_samples)
        self.seed = check_int("seed", seed, 0)
        self.active = False
        self.history: list[dict[str, float]] = []
        self.provenance: dict[str, dict[str, Any]] = {}
        # the provenance the history was measured with (in checkpoints), and the first iteration measured as now
        self.measured_with: dict[str, dict[str, Any]] = {}
        self.comparable_from = 0

    # ------------------------------------------------------------------------------------------------ trigger
    @property
    def last_iteration(self) -> int | None:
        """Iteration of the latest evaluation, ``None`` before the first."""
        return int(self.history[-1]["iteration"]) if self.history else None

    def due(self, iteration: int) -> bool:
        """Whether ``iteration`` is a positive multiple of ``every`` not evaluated yet."""
        periodic = self.every > 0 and iteration > 0 and iteration % self.every == 0
        return periodic and iteration != self.last_iteration

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self.active and self.due(int(pl_module.iteration)):
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active and int(pl_module.iteration) != self.last_iteration:
            self.evaluate(trainer, pl_module)

    # ------------------------------------------------------------------------------------------------ compute
    def measure(self, pl_module: L.LightningModule) -> dict[str, float]:
        """The metric's values (``{"val/...": v}``), from samples drawn with :meth:`draw`; called by :meth:`compute`."""
        raise NotImplementedError

    def draw(self, sampler: Callable[..., Any], **kwargs: Any) -> Any:
        """``sampler(num_samples, ema=True, **kwargs)`` (``pl_module.sample`` or ``sample_batches``) with the latents
        of ``seed``: the same at every evaluation. Inside :meth:`measure` (the RNG is forked there)."""
        torch.manual_seed(self.seed)
        return sampler(self.num_samples, ema=True, **kwargs)

    def compute(self, pl_module: L.LightningModule) -> dict[str, float]:
        """:meth:`measure` under a forked RNG: training's random streams are left as they were (torch-fidelity's
        DataLoaders each draw a seed from the global RNG; tests/metrics/test_metrics.py)."""
        with torch.no_grad(), torch.random.fork_rng(devices=cuda_devices(pl_module)):
            return self.measure(pl_module)

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        """Compute (rank 0, or every rank when ``sharded``), broadcast rank 0's values, record and publish them."""
        it = int(pl_module.iteration)
        values = None
        if trainer.is_global_zero or (self.sharded and trainer.world_size > 1):
            values = self.compute(pl_module)
        values = trainer.strategy.broadcast(values, src=0)
        # resumed with other metrics.* settings: earlier values were measured otherwise, best never pairs them
        if self.measured_with and self.measured_with != self.provenance:
            self.comparable_from = it
        self.measured_with = self.provenance
        self.history.append({"iteration": it, **values})
        # loggers, progress bar and callback_metrics (so ModelCheckpoint can monitor val/fid)
        publish(trainer, pl_module, values, prog_bar=self.prog_bar)
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        rank_zero_info(f"{type(self).__name__} @ iteration {it}: {shown}")
        return values

    # ------------------------------------------------------------------------------------------------ results
    @property
    def best(self) -> dict[str, tuple[float, int]]:
        """``{key: (value, iteration)}``: the best of each key with a direction (the earliest of equal values), over
        the evaluations of today's provenance (a run resumed with other ``metrics.*`` settings starts afresh)."""
        comparable = [h for h in self.history if h["iteration"] >= self.comparable_from]
        keys = dict.fromkeys(k for h in comparable for k in h if higher_is_better(k) is not None)
        found = {k: best_of(k, [(h[k], int(h["iteration"])) for h in comparable if k in h]) for k in keys}
        return {k: v for k, v in found.items() if v is not None}

    def summary(self) -> dict[str, Any]:
        """For ``summary.json``: ``{"final": {"val/fid": v, ...}, "final_iteration": i, "best": {"val/fid":
        {"value": v, "iteration": i}}, "provenance": {"val/fid": {...}}}``; ``final`` is the latest evaluation (empty
        before the first), ``provenance`` that of its keys."""
        final = {k: v for k, v in self.history[-1].items() if k != "iteration"} if self.history else {}
        return {
            "final": final,
            "final_iteration": self.last_iteration,
            "best": {k: {"value": v, "iteration": i} for k, (v, i) in self.best.items()},
            "provenance": {k: dict(p) for k, p in self.provenance.items() if k in final},
        }

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(h) for h in self.history], "provenance": self.measured_with,
                "comparable_from": self.comparable_from}  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(h) for h in state_dict.get("history", [])]
        self.provenance = {k: dict(p) for k, p in state_dict.get("provenance", {}).items()}
        self.measured_with = self.provenance  # fit start sets today's provenance over it
        self.comparable_from = int(state_dict.get("comparable_from", 0))

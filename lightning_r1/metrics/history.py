"""``MetricHistory``: the evaluations a metric callback made, the best value of each metric, and the summary /
checkpoint state built from them (a mixin for Lightning callbacks)."""

from __future__ import annotations

from typing import Any

from lightning_r1.metrics.vocabulary import higher_is_better, is_better


class MetricHistory:
    """Keeps ``history`` (``[{"iteration": i, "val/fid": v, ...}, ...]``) and ``best`` (``{"val/fid": (v, i)}``).

    Mixed into a callback, its ``state_dict``/``load_state_dict`` put both into Lightning checkpoints.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[dict[str, float]] = []
        self.best: dict[str, tuple[float, int]] = {}

    @property
    def last_iteration(self) -> int | None:
        """Iteration of the latest evaluation, ``None`` before the first."""
        return int(self.history[-1]["iteration"]) if self.history else None

    def record(self, iteration: int, metrics: dict[str, float]) -> None:
        """Append one evaluation and update ``best``."""
        self.history.append({"iteration": iteration, **metrics})
        for k, v in metrics.items():
            if higher_is_better(k) is None:  # no direction (e.g. val/kid_std): no best entry
                continue
            if k not in self.best or is_better(k, v, self.best[k][0]):
                self.best[k] = (v, iteration)

    def summary(self) -> dict[str, Any]:
        """``{"final": {"val/fid": v, ...}, "final_iteration": i, "best": {"val/fid": {"value": v, "iteration": i}}}``.

        ``final`` is the latest evaluation (empty before the first); ``final_iteration`` its iteration.
        """
        final = {k: v for k, v in self.history[-1].items() if k != "iteration"} if self.history else {}
        return {
            "final": final,
            "final_iteration": self.last_iteration,
            "best": {k: {"value": v, "iteration": i} for k, (v, i) in self.best.items()},
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": [dict(h) for h in self.history],
            "best": {k: list(v) for k, v in self.best.items()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(h) for h in state_dict.get("history", [])]
        self.best = {k: (float(v[0]), int(v[1])) for k, v in state_dict.get("best", {}).items()}

"""Records the Dirac-GAN's parameters (theta, psi) after every iteration to ``trajectory.csv``."""

from __future__ import annotations

from pathlib import Path

import lightning as L


class TrajectoryRecorder(L.Callback):
    """Writes ``iteration,theta,psi`` rows: iteration 0 is the start, then one row per generator update.

    Expects the Dirac-GAN models (``generator.theta``, ``discriminator.psi``: one scalar parameter each).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[tuple[int, float, float]] = []

    def _record(self, pl_module: L.LightningModule) -> None:
        theta = float(pl_module.generator.theta.detach())
        psi = float(pl_module.discriminator.psi.detach())
        self.rows.append((pl_module.iteration, theta, psi))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.rows:
            self._record(pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        if pl_module.iteration != self.rows[-1][0]:
            self._record(pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lines = ["iteration,theta,psi"] + [f"{i},{t:.10g},{p:.10g}" for i, t, p in self.rows]
            self.path.write_text("\n".join(lines) + "\n")

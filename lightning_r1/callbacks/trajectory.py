"""Records the Dirac-GAN's parameters (theta, psi) after every iteration: ``trajectory.csv`` and ``trajectory.png``."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch

from lightning_r1.augment import InstanceNoise
from lightning_r1.regularizers import R1, R2, WGANGP, Regularizer, ZeroGP
from lightning_r1.schedules import value_at
from lightning_r1.theory.dirac import DiracSetup

log = logging.getLogger(__name__)


def dirac_setup(pl_module: L.LightningModule, callbacks: list) -> DiracSetup | None:
    """The :class:`~lightning_r1.theory.DiracSetup` of a run: its loss and the strengths of its regularizers.

    R1 and R2 add their gammas (each is gamma/2·ψ² on the Dirac-GAN), ZeroGP counts as gamma = 2·weight.
    Returns None when a regularizer has no Dirac-GAN model here (or the strength is "auto").
    """
    gamma = sigma = gp_weight = 0.0
    iteration = pl_module.iteration
    for noise in (cb for cb in callbacks if isinstance(cb, InstanceNoise)):
        sigma = float(np.hypot(sigma, value_at(noise.sigma, iteration)))
    for reg in (cb for cb in callbacks if isinstance(cb, Regularizer)):
        if isinstance(reg, R1) and reg.gamma == "auto":
            return None
        strength = reg.strength_at(iteration)
        if isinstance(reg, ZeroGP):
            gamma += 2.0 * strength
        elif isinstance(reg, WGANGP):
            gp_weight += strength
        elif isinstance(reg, R1 | R2):
            gamma += strength
        else:
            return None
    return DiracSetup(loss=pl_module.loss.name, gamma=gamma, sigma=sigma, gp_weight=gp_weight)


class TrajectoryRecorder(L.Callback):
    """Writes ``iteration,theta,psi`` rows: iteration 0 is the start, then one row per generator update.

    At the end of training also draws ``trajectory.png`` next to the CSV: the run's gradient vector field on
    ``[-2, 2]²`` (from :mod:`lightning_r1.theory`, for the run's loss and regularizer strengths) with the measured
    trajectory on top. Expects the Dirac-GAN models (``generator.theta``, ``discriminator.psi``: one scalar each).

    Args:
        path: the CSV file.
        figure: also write the PNG (same name, ``.png``).
    """

    def __init__(self, path: str | Path, figure: bool = True) -> None:
        self.path = Path(path)
        self.figure = figure
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
        if not trainer.is_global_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["iteration,theta,psi"] + [f"{i},{t:.10g},{p:.10g}" for i, t, p in self.rows]
        self.path.write_text("\n".join(lines) + "\n")
        if self.figure:
            self.write_figure(trainer, pl_module)

    def write_figure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Path | None:
        """``trajectory.png``: the vector field of this run's set-up with the recorded trajectory."""
        from lightning_r1.theory.figures import save_trajectory_figure  # matplotlib only when drawing

        setup = dirac_setup(pl_module, trainer.callbacks)
        if setup is None:
            log.warning(
                "trajectory.png skipped: a regularizer of this run has no Dirac-GAN vector field here"
            )
            return None
        trajectory = np.array([(t, p) for _, t, p in self.rows])
        return save_trajectory_figure(
            self.path.with_suffix(".png"),
            trajectory,
            setup,
            lr=plain_sgd_lr(pl_module),
            update=pl_module.update,
        )


def plain_sgd_lr(pl_module: L.LightningModule) -> float | None:
    """The shared learning rate h when both players use plain SGD (the theory's rates assume it), else None."""
    groups = [opt.optimizer.param_groups[0] for opt in pl_module.optimizers()]
    plain = all(isinstance(opt.optimizer, torch.optim.SGD) for opt in pl_module.optimizers())
    if not plain or any(g.get("momentum") for g in groups) or len({g["lr"] for g in groups}) != 1:
        return None
    return float(groups[0]["lr"])

"""PosthocEMA: power-function EMAs of the generator, snapshotted for post-hoc EMA (Karras et al. 2024, EDM2).

The math and the reconstruction command live in :mod:`lightning_r1.posthoc_ema`; this callback only tracks the EMAs
during training and writes the snapshots. The GAN's own half-life EMA (``generator_ema``) is untouched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from lightning_r1.checks import check_positive_int
from lightning_r1.ema import make_ema_copy, update_ema
from lightning_r1.errors import ConfigError
from lightning_r1.posthoc_ema import Snapshot, check_sigma_rel, power_beta, sigma_rel_to_gamma, snapshot_path

CONFIG_KEY = "posthoc_ema"  # gan.posthoc_ema: the callback's settings, not GAN arguments


class PosthocEMA(L.Callback):
    """Keeps one power-function EMA of G per σ_rel and saves them every ``snapshot_every`` iterations.

    After each completed iteration t (the module's ``progress.iteration``) every EMA takes
    ema ← β_t·ema + (1 − β_t)·G with β_t = (1 − 1/t)^(γ+1) (EDM2 Eq. 127). At multiples of ``snapshot_every`` rank 0
    writes ``<run_dir>/checkpoints/posthoc/iter_<t>.pt`` (:class:`~lightning_r1.posthoc_ema.Snapshot`). The EMAs and
    the iteration they stand at are part of every checkpoint, so a resumed run continues the same averages and the
    same snapshot grid. Every process holds the same G, hence the same EMAs; only rank 0 writes.

    Args:
        sigma_rels: the tracked profiles' relative widths, each in (0, 1/√12).
        snapshot_every: iterations between snapshots.
        run_dir: the run directory.
    """

    def __init__(self, sigma_rels: list[float], snapshot_every: int, run_dir: str | os.PathLike) -> None:
        self.sigma_rels = [check_sigma_rel(f"gan.{CONFIG_KEY}.sigma_rels", s) for s in sigma_rels]
        self.gammas = [sigma_rel_to_gamma(s) for s in self.sigma_rels]
        self.snapshot_every = check_positive_int(f"gan.{CONFIG_KEY}.snapshot_every", snapshot_every)
        self.run_dir = Path(run_dir)
        self.iteration = 0  # the iteration the EMAs stand at
        self.emas: list[torch.nn.Module] = []
        self._pending: dict[str, Any] | None = None
        self._trainer: L.Trainer | None = None
        self._module: L.LightningModule | None = None

    # ---- state: in every checkpoint ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        self._advance()  # a checkpoint taken at the end of iteration t holds the EMAs at t, whatever the hook order
        return {
            "iteration": self.iteration,
            "sigma_rels": list(self.sigma_rels),
            "emas": [ema.state_dict() for ema in self.emas],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if [float(s) for s in state["sigma_rels"]] != self.sigma_rels:
            raise ConfigError(
                f"gan.{CONFIG_KEY}.sigma_rels: expected the checkpoint's {list(state['sigma_rels'])} to resume, "
                f"got {self.sigma_rels}"
            )
        self._pending = state
        if self.emas:
            self._apply_pending()

    def _apply_pending(self) -> None:
        assert self._pending is not None
        for ema, saved in zip(self.emas, self._pending["emas"], strict=True):
            ema.load_state_dict(saved)
        self.iteration = int(self._pending["iteration"])
        self._pending = None

    # ---- training ----------------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._trainer, self._module = trainer, pl_module
        self.emas = [make_ema_copy(pl_module.generator) for _ in self.sigma_rels]
        if self._pending is not None:
            self._apply_pending()
        elif pl_module.iteration:
            raise ConfigError(
                f"gan.{CONFIG_KEY}: expected a run that tracked post-hoc EMA from iteration 0, got a checkpoint at "
                f"iteration {pl_module.iteration} without it (its profiles would miss the first iterations)"
            )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        self._advance()

    @torch.no_grad()
    def _advance(self) -> None:
        """Take the module's just-finished iteration into every EMA (once), and snapshot on the grid."""
        module = self._module
        if module is None or module.d_step_in_iteration or module.iteration == self.iteration:
            return
        if module.iteration != self.iteration + 1:
            raise RuntimeError(
                f"PosthocEMA: the EMAs stand at iteration {self.iteration}, the generator at {module.iteration}"
            )
        t = module.iteration
        for ema, gamma in zip(self.emas, self.gammas, strict=True):
            update_ema(ema, module.generator, power_beta(gamma, t))
        self.iteration = t
        if t % self.snapshot_every == 0:
            self.write_snapshot()

    def write_snapshot(self) -> Path | None:
        """Rank 0 writes ``checkpoints/posthoc/iter_<t>.pt`` (to a ``.tmp`` name, then renamed)."""
        assert self._trainer is not None and self._module is not None
        if not self._trainer.is_global_zero:
            return None
        snapshot = Snapshot(
            iteration=self.iteration,
            images_seen=int(self._module.images_seen),
            sigma_rels=list(self.sigma_rels),
            params=[{n: p.detach().cpu().clone() for n, p in ema.named_parameters()} for ema in self.emas],
            buffers={n: b.detach().cpu().clone() for n, b in self.emas[0].named_buffers()},
        )
        path = snapshot_path(self.run_dir, self.iteration)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(snapshot.to_dict(), tmp)
        os.replace(tmp, path)
        return path


# ---- the app's side ------------------------------------------------------------------------------------------------
def posthoc_ema_callbacks(cfg: DictConfig, run_dir: str | os.PathLike) -> list[L.Callback]:
    """``[PosthocEMA]`` when ``gan.posthoc_ema.sigma_rels`` is set, else ``[]`` (the default)."""
    node = OmegaConf.select(cfg, f"gan.{CONFIG_KEY}", default=None)
    if not node or not node.get("sigma_rels"):
        return []
    if not isinstance(node.sigma_rels, ListConfig):
        raise ConfigError(
            f"gan.{CONFIG_KEY}.sigma_rels: expected a list ([0.05,0.10]), got {node.sigma_rels!r}"
        )
    return [PosthocEMA(list(node.sigma_rels), node.get("snapshot_every"), run_dir)]


def gan_arguments(node: DictConfig) -> DictConfig:
    """The ``gan`` group without its ``posthoc_ema`` block (a callback's settings, not an argument of GAN)."""
    node = node.copy()
    if CONFIG_KEY in node:
        with open_dict(node):
            del node[CONFIG_KEY]
    return node

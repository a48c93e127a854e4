"""Post-hoc EMA of the generator (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of Diffusion
Models", EDM2, Sec. 3 and Appendix C): choose the EMA length after training.

    python -m lightning_r1.posthoc_ema run_dir=DIR sigma_rel=0.08
    python -m lightning_r1.posthoc_ema run_dir=DIR sigma_rel=[0.04,0.08]

During training (``gan.posthoc_ema.sigma_rels=[0.05,0.10]``, :class:`~lightning_r1.callbacks.posthoc_ema.PosthocEMA`)
a few *power-function* EMAs of G are kept and snapshotted every ``snapshot_every`` iterations into
``<run_dir>/checkpoints/posthoc/``. A power-function EMA at time t averages the weights θ(τ), τ ∈ [0, t], with the
profile p_{γ,t}(τ) = (γ+1) τ^γ / t^(γ+1) (EDM2 Eq. 121); its width relative to t is σ_rel (EDM2 Eq. 123). Any other
profile (another σ_rel, at the last snapshot's time) is approximated in L2 by a linear combination of the
snapshots' profiles; the same combination of the snapshots' weights is the reconstructed EMA (EDM2 Appendix C.3,
Algorithm 3). This command solves that least-squares problem and writes ``checkpoints/posthoc_ema_<σ_rel>.ckpt``:
``last.ckpt`` with the EMA generator's weights replaced, which ``evaluate`` and ``generate`` take as they take
``last.ckpt``.

Time is counted in iterations (generator updates), t = 1, 2, ...: the update after iteration t is
ema ← β_t·ema + (1 − β_t)·θ_t with β_t = (1 − 1/t)^(γ+1) (EDM2 Eq. 127 with t_delta = 1). Unrolled, θ_k's weight at
time t is (k^(γ+1) − (k−1)^(γ+1)) / t^(γ+1) = ∫_{k−1}^{k} p_{γ,t}(τ) dτ: the discrete EMA is the continuous profile
applied to the trajectory held constant over each iteration, so the profile inner products below are exact for it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from lightning_r1 import run_dir as rd
from lightning_r1.config_dir import CONFIG_DIR
from lightning_r1.errors import CheckpointError, ConfigError, run_app
from lightning_r1.resume import CONFIG_KEY, load_checkpoint

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "posthoc"  # under <run_dir>/checkpoints
SNAPSHOT_GLOB = "iter_*.pt"
CHECKPOINT_KEY = "lightning_r1_posthoc_ema"  # the field saying what a written checkpoint is
SIGMA_REL_MAX = 1.0 / math.sqrt(12.0)  # γ = 0, the uniform average over all of training (EDM2 Eq. 123)


# ---- the math (float64, NumPy) ---------------------------------------------------------------------------------
def gamma_to_sigma_rel(gamma: float) -> float:
    """Relative standard deviation of the power-function profile of exponent γ (EDM2 Eq. 123)."""
    return math.sqrt((gamma + 1) / ((gamma + 2) ** 2 * (gamma + 3)))


def sigma_rel_to_gamma(sigma_rel: float) -> float:
    """The exponent γ > 0 whose profile has relative width ``sigma_rel`` (EDM2 Eq. 126, Algorithm 2).

    Eq. 123 squared and rearranged: γ³ + 7γ² + (16 − σ⁻²)γ + (12 − σ⁻²) = 0; γ is its largest real root.
    """
    check_sigma_rel("sigma_rel", sigma_rel)
    s = sigma_rel**-2.0
    roots = np.roots([1.0, 7.0, 16.0 - s, 12.0 - s])
    return float(roots[np.abs(roots.imag) < 1e-9].real.max())


def check_sigma_rel(field: str, value: Any) -> float:
    """``value`` as a float in (0, 1/√12) (γ > 0), else a one-line :class:`ConfigError` naming ``field``."""
    try:
        sigma = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{field}: expected a number in (0, {SIGMA_REL_MAX:.4f}), got {value!r}") from None
    if not 0.0 < sigma < SIGMA_REL_MAX:
        raise ConfigError(
            f"{field}: expected a number in (0, {SIGMA_REL_MAX:.4f}) (1/√12 is the plain average), got {value!r}"
        )
    return sigma


def power_beta(gamma: float, t: int) -> float:
    """Decay of the power-function EMA for the update at iteration ``t`` ≥ 1 (EDM2 Eq. 127): (1 − 1/t)^(γ+1)."""
    return (1.0 - 1.0 / t) ** (gamma + 1.0)


def profile_inner(t_a: np.ndarray, gamma_a: np.ndarray, t_b: np.ndarray, gamma_b: np.ndarray) -> np.ndarray:
    """⟨p_{γa,ta}, p_{γb,tb}⟩ = ∫₀^min(ta,tb) p_a p_b dτ, broadcast over arrays (EDM2 Eq. 151, Algorithm 3).

    = (γa+1)(γb+1) / ((γa+γb+1)·max(ta,tb)) · (min/max)^γ, with γ the exponent of the profile that ends later.
    """
    t_a, gamma_a, t_b, gamma_b = (np.asarray(x, dtype=np.float64) for x in (t_a, gamma_a, t_b, gamma_b))
    t_max = np.maximum(t_a, t_b)
    later_gamma = np.where(t_a < t_b, gamma_b, gamma_a)
    ratio = np.minimum(t_a, t_b) / t_max
    return (gamma_a + 1) * (gamma_b + 1) / ((gamma_a + gamma_b + 1) * t_max) * ratio**later_gamma


def solve_coefficients(t: np.ndarray, gamma: np.ndarray, target_t: float, target_gamma: float) -> np.ndarray:
    """Weights x of the snapshots (times ``t``, exponents ``gamma``) whose profile mix is nearest to the target's.

    Least squares in L2 over τ: the normal equations A x = b with A_ij = ⟨p_i, p_j⟩, b_i = ⟨p_i, p_target⟩ (EDM2
    Appendix C.3, Algorithm 3); x is rescaled to sum to 1, so the result is a weighted average of the snapshots.
    """
    t, gamma = np.asarray(t, dtype=np.float64), np.asarray(gamma, dtype=np.float64)
    a = profile_inner(t[:, None], gamma[:, None], t[None, :], gamma[None, :])
    b = profile_inner(t, gamma, np.float64(target_t), np.float64(target_gamma))
    x = np.linalg.solve(a, b)
    return x / x.sum()


# ---- snapshots ---------------------------------------------------------------------------------------------------
def snapshot_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / rd.CHECKPOINTS / SNAPSHOT_DIR


def snapshot_path(run_dir: str | os.PathLike, iteration: int) -> Path:
    return snapshot_dir(run_dir) / f"iter_{iteration}.pt"


@dataclass
class Snapshot:
    """One snapshot file: the tracked EMAs' parameters at ``iteration``, and G's buffers then.

    Attributes:
        iteration: generator updates done (the profile's end time t).
        images_seen: real images consumed by then (all processes).
        sigma_rels: the tracked σ_rel of each entry of ``params``.
        params: per tracked EMA, its parameters by name.
        buffers: the generator's buffers (BatchNorm statistics), which every EMA copies.
    """

    iteration: int
    images_seen: int
    sigma_rels: list[float]
    params: list[dict[str, torch.Tensor]]
    buffers: dict[str, torch.Tensor]

    def to_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "images_seen": self.images_seen,
            "sigma_rels": list(self.sigma_rels),
            "params": self.params,
            "buffers": self.buffers,
        }


def load_snapshots(run_dir: str | os.PathLike) -> list[Snapshot]:
    """The run's snapshots in iteration order (weights-only reads).

    Raises:
        ConfigError: the run directory has none.
    """
    folder = snapshot_dir(run_dir)
    files = sorted(folder.glob(SNAPSHOT_GLOB)) if folder.is_dir() else []
    if not files:
        raise ConfigError(
            f"run_dir: expected post-hoc EMA snapshots in {folder}, got none (train with "
            "gan.posthoc_ema.sigma_rels=[0.05,0.10] and gan.posthoc_ema.snapshot_every=N)"
        )
    snapshots = []
    for path in files:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            snapshots.append(Snapshot(**state))
        except Exception as err:  # noqa: BLE001 - any unreadable file is one line naming it
            raise CheckpointError(
                f"run_dir: expected a readable post-hoc EMA snapshot, got {path} ({err})"
            ) from None
    return sorted(snapshots, key=lambda s: s.iteration)


def reconstruct(snapshots: list[Snapshot], sigma_rel: float) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """The EMA of relative width ``sigma_rel`` at the last snapshot's iteration, from all snapshots.

    Returns:
        ``(parameters by name, in the snapshots' dtype; coefficients [snapshots × tracked σ_rel])``.
    """
    gamma = sigma_rel_to_gamma(sigma_rel)
    entries = [(s, i) for s in snapshots for i in range(len(s.sigma_rels))]
    t = np.array([s.iteration for s, _ in entries], dtype=np.float64)
    gammas = np.array([sigma_rel_to_gamma(s.sigma_rels[i]) for s, i in entries])
    x = solve_coefficients(t, gammas, snapshots[-1].iteration, gamma)
    names = snapshots[-1].params[0].keys()
    out = {}
    for name in names:  # accumulate in float64: the coefficients alternate in sign and largely cancel
        total = sum(float(c) * s.params[i][name].double() for c, (s, i) in zip(x, entries, strict=True))
        out[name] = total.to(snapshots[-1].params[0][name].dtype)
    return out, x.reshape(len(snapshots), -1)


# ---- the command ---------------------------------------------------------------------------------------------------
def checkpoint_name(sigma_rel: float) -> str:
    return f"posthoc_ema_{sigma_rel:g}.ckpt"


def sigma_rel_list(value: Any) -> list[float]:
    """``sigma_rel=0.08`` or ``sigma_rel=[0.04,0.08]`` → checked floats."""
    if value is None:
        raise ConfigError(
            "sigma_rel: expected a number or a list (sigma_rel=0.08, sigma_rel=[0.04,0.08]), got none"
        )
    values = list(value) if isinstance(value, ListConfig | list | tuple) else [value]
    if not values:
        raise ConfigError("sigma_rel: expected at least one value, got []")
    return [check_sigma_rel("sigma_rel", v) for v in values]


def write_posthoc_checkpoints(run_dir: str | os.PathLike, sigma_rels: list[float]) -> list[Path]:
    """For each σ_rel: ``last.ckpt`` with ``generator_ema``'s parameters reconstructed (buffers from the last
    snapshot) and a ``lightning_r1_posthoc_ema`` field saying so, written as ``checkpoints/posthoc_ema_<σ>.ckpt``.

    The snapshots used are those up to ``last.ckpt``'s iteration; the reconstruction stands at the last of them.

    Raises:
        ConfigError: no run directory, a run trained without post-hoc EMA, or no snapshots.
        CheckpointError: ``last.ckpt`` missing or damaged.
    """
    run_dir = Path(str(run_dir)).expanduser()
    if not run_dir.is_dir():
        raise ConfigError(f"run_dir: expected a run directory, got {run_dir} (no such directory)")
    last = rd.last_checkpoint(run_dir)
    state = load_checkpoint(last)
    saved = OmegaConf.create(state.get(CONFIG_KEY) or "{}")
    if not OmegaConf.select(saved, "gan.posthoc_ema.sigma_rels", default=None):
        raise ConfigError(
            f"run_dir: expected a run trained with post-hoc EMA (gan.posthoc_ema.sigma_rels set), got {run_dir}"
        )
    ckpt_iteration = (state.get("lightning_r1") or {}).get("iteration")
    snapshots = load_snapshots(run_dir)
    if ckpt_iteration is not None:  # a run resumed from an earlier checkpoint may have left later, stale ones
        snapshots = [s for s in snapshots if s.iteration <= ckpt_iteration]
        if not snapshots:
            raise ConfigError(
                f"run_dir: expected snapshots up to last.ckpt's iteration {ckpt_iteration}, got none"
            )
        if snapshots[-1].iteration != ckpt_iteration:
            log.warning(
                "last.ckpt is at iteration %s, the last snapshot before it at %s: the reconstruction stands there",
                ckpt_iteration,
                snapshots[-1].iteration,
            )
    written = []
    for sigma_rel in sigma_rels:
        params, x = reconstruct(snapshots, sigma_rel)
        out = dict(state, state_dict=dict(state["state_dict"]))
        for name, value in {**params, **snapshots[-1].buffers}.items():
            out["state_dict"][f"generator_ema.{name}"] = value
        out[CHECKPOINT_KEY] = {
            "sigma_rel": sigma_rel,
            "iteration": snapshots[-1].iteration,
            "images_seen": snapshots[-1].images_seen,
            "snapshots": [s.iteration for s in snapshots],
            "tracked_sigma_rels": list(snapshots[-1].sigma_rels),
            "coefficients": torch.from_numpy(x),
        }
        path = last.with_name(checkpoint_name(sigma_rel))
        tmp = path.with_name(path.name + ".tmp")
        torch.save(out, tmp)
        os.replace(tmp, path)  # a reader never sees half a file
        print(
            f"sigma_rel={sigma_rel:g} at iteration {snapshots[-1].iteration} ({len(snapshots)} snapshots): {path}"
        )
        written.append(path)
    return written


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="posthoc_ema")
def main(cfg: DictConfig) -> None:
    def body() -> list[Path]:
        if not cfg.get("run_dir"):
            raise ConfigError("run_dir: expected a run directory (run_dir=DIR), got none")
        return write_posthoc_checkpoints(cfg.run_dir, sigma_rel_list(cfg.get("sigma_rel")))

    run_app(body)


if __name__ == "__main__":
    main()

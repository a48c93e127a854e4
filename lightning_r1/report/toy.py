"""2-D mixture sweeps (ring8, grid25): mode-metric table, sample scatters, grad-norm curves real vs fake.

    OMP_NUM_THREADS=1 python train.py -m experiment=ring8 'regularizer=none,r1,r2,[r1,r2],wgan_gp' seed=0,1,2 \
        hydra.sweep.dir=multirun/toy_ring8
    python -m lightning_r1.report.toy multirun/toy_ring8 --figures docs/figures

Reads each job's ``config.yaml``, ``summary.json`` (``val/modes_covered``, ``val/high_quality_pct``,
``val/reverse_kl``), ``metrics.csv`` (``train/grad_norm_real``, ``train/grad_norm_fake``) and ``mode_samples.npy``
(or, without it, samples from the EMA generator in ``checkpoints/last.ckpt``), all through
:func:`lightning_r1.report.jobs.find_jobs`.
"""

from __future__ import annotations

import argparse
import math
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate

from lightning_r1 import run_dir as rd
from lightning_r1.data.toy import grid_modes, ring_modes
from lightning_r1.plotting import subplots
from lightning_r1.report.jobs import Job, finished_jobs
from lightning_r1.report.table import fmt, markdown, mean_se

# WGAN-GP is named with its λ: the table has two recipes of it (Gulrajani et al.'s toy code, λ = 0.1, and λ = 10)
METHOD_ORDER = [
    "none",
    "r1",
    "r2",
    "r1+r2",
    "wgan_gp λ=10",
    "wgan_gp λ=10 (wasserstein)",
    "wgan_gp λ=0.1 (wasserstein)",
]
MODES = {"ring8": ring_modes(8).numpy(), "grid25": grid_modes().numpy()}


@dataclass
class ToyJob:
    dataset: str
    method: str
    seed: int
    iterations: int
    wall_time_s: float | None  # training time the run recorded (summary.json)
    metrics: dict[str, float | None]
    grad_norms: np.ndarray  # rows (iteration, E||∇D(real)||², E||∇D(fake)||²)
    samples: np.ndarray | None


GRAD_NORMS = ("iteration", "train/grad_norm_real", "train/grad_norm_fake")


def read_grad_norms(job: Job) -> np.ndarray:
    """One row per diagnostic measurement (the GAN writes each on its own CSV row, with the iteration it was taken at)."""
    h = job.history
    if not all(key in h for key in GRAD_NORMS):
        return np.zeros((0, 3))
    table = np.stack([h[key] for key in GRAD_NORMS], axis=1)
    return table[~np.isnan(table).any(axis=1)].reshape(-1, 3)


def samples_from_checkpoint(path: Path, cfg, num_samples: int = 2500, seed: int = 0) -> np.ndarray | None:
    """EMA-generator samples rebuilt from ``checkpoints/last.ckpt`` (when the run saved no ``mode_samples.npy``)."""
    ckpt = rd.last_checkpoint(path)
    if not ckpt.exists():
        return None
    generator = instantiate(cfg.model).generator
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    prefix = "generator_ema."
    generator.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    with torch.no_grad():
        z = torch.randn(num_samples, int(cfg.gan.latent_dim), generator=torch.Generator().manual_seed(seed))
        return generator.eval()(z).numpy()


def load_job(job: Job) -> ToyJob:
    """A 2-D mixture run: dataset, method, seed, final metrics, grad-norm curves, last samples."""
    cfg = job.config
    names = list((cfg.get("regularizer") or {}).keys())
    samples = job.path / rd.MODE_SAMPLES
    method = (
        "+".join(f"{n} λ={fmt(cfg.regularizer[n].weight)}" if n == "wgan_gp" else n for n in names) or "none"
    )
    if cfg.loss.name != "nonsaturating":
        method += f" ({cfg.loss.name})"
    summary = job.summary or {}
    return ToyJob(str(cfg.dataset._target_).rsplit(".", 1)[-1].replace("DataModule", "").lower(),
                  method, int(cfg.seed), int(summary.get("iterations") or 0), summary.get("wall_time_s"),
                  job.metrics, read_grad_norms(job),
                  np.load(samples) if samples.exists() else samples_from_checkpoint(job.path, cfg))  # fmt: skip


def load_sweeps(dirs: list[str | Path]) -> list[ToyJob]:
    """Every finished run under each of ``dirs``, in job order (:func:`~lightning_r1.report.jobs.finished_jobs`)."""
    return [load_job(job) for job in finished_jobs(dirs)]


def _tail_ratio(job: ToyJob) -> float:
    """Median over the last half of the run of E||∇D(fake)||² / E||∇D(real)||²."""
    g = job.grad_norms
    if len(g) == 0:
        return math.nan
    tail = g[len(g) // 2 :]
    return float(np.median(tail[:, 2] / np.maximum(tail[:, 1], 1e-12)))


TABLE_HEADER = ["dataset", "method", "seeds", "iterations", "modes covered", "high-quality %", "reverse KL",
                "fake/real ‖∇D‖² (median, 2nd half)", "train time (s), mean / max"]  # fmt: skip


def _time_cell(runs: list[ToyJob]) -> str:
    times = [r.wall_time_s for r in runs if r.wall_time_s is not None]
    return f"{np.mean(times):.0f} / {max(times):.0f}" if times else "–"


def markdown_table(jobs: list[ToyJob]) -> str:
    """One row per (dataset, method): the mode metrics and the grad-norm ratio, mean over seeds and per seed."""
    rows = []
    groups: dict[tuple[str, str], list[ToyJob]] = defaultdict(list)
    for job in jobs:
        groups[(job.dataset, job.method)].append(job)
    for dataset, method in sorted(
        groups, key=lambda k: (k[0], METHOD_ORDER.index(k[1]) if k[1] in METHOD_ORDER else 99)
    ):
        runs = sorted(groups[(dataset, method)], key=lambda j: j.seed)
        cols = {
            key: [r.metrics.get(key) for r in runs]
            for key in ("val/modes_covered", "val/high_quality_pct", "val/reverse_kl")
        }
        rows.append([dataset, method, str(len(runs)), ", ".join(sorted({str(r.iterations) for r in runs})),
                     mean_se(cols["val/modes_covered"], 1), mean_se(cols["val/high_quality_pct"], 1),
                     mean_se(cols["val/reverse_kl"], 3), mean_se([_tail_ratio(r) for r in runs], 2),
                     _time_cell(runs)])  # fmt: skip
    seeds = sorted({j.seed for j in jobs})
    note = (
        f"Mean ± standard error over the seeds of each row (of {seeds}; per-seed values in brackets, in seed "
        "order); '–': a seed had no high-quality sample (KL = inf). Train time: the runs' `wall_time_s`."
    )
    return markdown(TABLE_HEADER, rows) + "\n\n" + note + "\n"


def _grid(panels: int, size: float, sharey: bool = False):
    """Up to three panels per row; unused axes switched off."""
    cols = min(3, panels)
    rows = math.ceil(panels / cols)
    fig, axes = subplots(
        rows, cols, figsize=(size * cols, size * rows), dpi=100, squeeze=False, sharey=sharey
    )
    for ax in axes.flat[panels:]:
        ax.axis("off")
    return fig, axes


def _suptitle(fig, text: str, panel_inches: float) -> None:
    """The figure's title, wrapped to its width (one panel is narrower than the title)."""
    columns = max(1, round(fig.get_figwidth() / panel_inches))
    fig.suptitle(textwrap.fill(text, width=int(14 * panel_inches * columns)), fontsize=10)


def scatter_figure(jobs: list[ToyJob], dataset: str, path: Path, seed: int = 0) -> Path:
    runs = {j.method: j for j in jobs if j.dataset == dataset and j.seed == seed and j.samples is not None}
    methods = [m for m in METHOD_ORDER if m in runs]
    fig, axes = _grid(len(methods), 3.4)
    modes = MODES[dataset]
    lim = float(np.abs(modes).max()) * 1.6 + 0.3
    for ax, method in zip(axes.flat, methods, strict=False):
        pts, m = runs[method].samples, runs[method].metrics
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.35)
        ax.scatter(modes[:, 0], modes[:, 1], c="red", marker="x", s=20)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        covered = m.get("val/modes_covered") or 0
        title = f"{method}: {covered:.0f} mode{'' if covered == 1 else 's'}, {m.get('val/high_quality_pct') or 0:.1f}% HQ"
        ax.set_title(textwrap.fill(title, width=34), fontsize=9)
    _suptitle(fig, f"{dataset}, seed {seed}: 2,500 EMA-generator samples (blue) and the modes (red)", 3.4)
    fig.tight_layout()
    fig.savefig(path)
    return path


def grad_norm_figure(jobs: list[ToyJob], dataset: str, path: Path) -> Path:
    by_method: dict[str, list[ToyJob]] = defaultdict(list)
    for job in jobs:
        if job.dataset == dataset:
            by_method[job.method].append(job)
    methods = [m for m in METHOD_ORDER if m in by_method]
    fig, axes = _grid(len(methods), 3.6, sharey=True)
    for ax, method in zip(axes.flat, methods, strict=False):
        for job in sorted(by_method[method], key=lambda j: j.seed):
            g = job.grad_norms
            (line,) = ax.plot(g[:, 0], g[:, 1], lw=1, label=f"real, seed {job.seed}")
            ax.plot(g[:, 0], g[:, 2], lw=1, ls="--", color=line.get_color(), label=f"fake, seed {job.seed}")
        ax.set_yscale("log")
        ax.set_title(method, fontsize=10)
        ax.set_xlabel("iteration")
    for row in axes:
        row[0].set_ylabel("E ||∇_x D(x)||²\n(solid: real, dashed: fake)")
    axes[0][0].legend(fontsize=6)
    _suptitle(fig, f"{dataset}: squared input-gradient norms of D on real vs generated samples", 3.6)
    fig.tight_layout()
    fig.savefig(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweep_dirs", nargs="+")
    parser.add_argument(
        "--figures", help="folder for toy_<dataset>_scatter.png and toy_<dataset>_grad_norms.png"
    )
    args = parser.parse_args(argv)
    jobs = load_sweeps(args.sweep_dirs)
    print(markdown_table(jobs))
    if args.figures:
        out = Path(args.figures)
        out.mkdir(parents=True, exist_ok=True)
        for dataset in sorted({j.dataset for j in jobs}):
            print(scatter_figure(jobs, dataset, out / f"toy_{dataset}_scatter.png"))
            print(grad_norm_figure(jobs, dataset, out / f"toy_{dataset}_grad_norms.png"))


if __name__ == "__main__":
    main()

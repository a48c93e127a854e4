"""Samples from a trained checkpoint's EMA generator, as files.

    python -m lightning_r1.generate ckpt_path=outputs/.../checkpoints/last.ckpt num_samples=1000
    python -m lightning_r1.generate ckpt_path=FILE num_samples=64 interpolate=true seed=1 out_dir=/tmp/samples

Writes into ``out_dir`` (default ``<run_dir>/generated/iter_<N>/``):

- images: ``000000.png`` ... (one per sample) and ``grid.png`` (the first ``grid.max_images``, ``grid.nrow`` a row);
- 2-D toys: ``samples.png`` (a scatter over the data's modes) and ``samples.npy`` (the points ``[N, 2]``) instead;
- other data (the Dirac-GAN): ``samples.npy`` only;
- with ``interpolate=true``: ``interpolation.png``, ``interpolation.rows`` rows of ``interpolation.steps`` samples
  along slerp (or lerp) paths between fixed pairs of latents (toys: the paths drawn over the modes, and
  ``interpolation.npy`` ``[rows, steps, 2]``).

Latents come from a CPU generator seeded with ``seed``: the same seed gives the same images, on any device.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor
from torchvision.utils import save_image

from lightning_r1 import run_dir as rd
from lightning_r1.callbacks.sample_grid import save_scatter
from lightning_r1.checks import check_positive_int
from lightning_r1.errors import ConfigError, check_writable_dir
from lightning_r1.from_checkpoint import TrainedRun, load_run, run_app, setup_step
from lightning_r1.plotting import subplots
from lightning_r1.version_flag import answers_version

log = logging.getLogger(__name__)

INTERPOLATIONS = ("slerp", "lerp")


def latents(n: int, dim: int, seed: int) -> Tensor:
    """``n`` standard-normal latents ``[n, dim]`` from a CPU generator seeded with ``seed`` (global RNG untouched)."""
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def interpolate(a: Tensor, b: Tensor, steps: int, method: str = "slerp") -> Tensor:
    """Paths from each row of ``a [R, D]`` to the same row of ``b``: ``[R, steps, D]``, endpoints included.

    ``slerp`` follows the great circle between the two directions, with the norm interpolated linearly (a Gaussian
    latent's norm stays typical, unlike the straight line's midpoint); ``lerp`` is the straight line.

    Raises:
        ValueError: an unknown ``method`` or fewer than 2 ``steps``.
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"Expected `method` to be one of {list(INTERPOLATIONS)}, got {method!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"Expected `steps` to be an int >= 2, got {steps!r}")
    a, b = a.to(torch.float64), b.to(torch.float64)
    t = torch.linspace(0, 1, steps, dtype=torch.float64).view(1, steps, 1)
    if method == "lerp":
        return (1 - t) * a[:, None] + t * b[:, None]
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na, b / nb
    omega = torch.acos((ua * ub).sum(dim=1, keepdim=True).clamp(-1, 1))[:, None]  # [R, 1, 1]
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6  # (anti)parallel endpoints: the direction is undefined, go straight
    wa = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / torch.where(parallel, 1, sin))
    wb = torch.where(parallel, t, torch.sin(t * omega) / torch.where(parallel, 1, sin))
    direction = wa * ua[:, None] + wb * ub[:, None]
    return direction * ((1 - t) * na[:, None] + t * nb[:, None])


def generate_in_batches(run: TrainedRun, z: Tensor, batch_size: int, ema: bool = True) -> Tensor:
    """Samples (float32, CPU) for latents ``z``, ``batch_size`` at a time."""
    return torch.cat([run.gan.generate(chunk, ema=ema).float().cpu() for chunk in z.split(batch_size)])


def default_out_dir(run: TrainedRun) -> Path:
    tag = f"iter_{run.iteration}" if run.iteration is not None else run.checkpoint.stem
    return rd.generated_dir(run.run_dir, tag)


def check_options(cfg: DictConfig) -> None:
    check_positive_int("num_samples", cfg.num_samples)
    check_positive_int("batch_size", cfg.batch_size)
    check_positive_int("grid.max_images", cfg.grid.max_images)
    check_positive_int("grid.nrow", cfg.grid.nrow)
    if cfg.interpolate:
        check_positive_int("interpolation.rows", cfg.interpolation.rows)
        if (
            isinstance(cfg.interpolation.steps, bool)
            or not isinstance(cfg.interpolation.steps, int)
            or (cfg.interpolation.steps < 2)
        ):
            raise ConfigError(f"interpolation.steps: expected an int >= 2, got {cfg.interpolation.steps!r}")
        if cfg.interpolation.method not in INTERPOLATIONS:
            raise ConfigError(
                f"interpolation.method: expected one of {list(INTERPOLATIONS)}, got {cfg.interpolation.method!r}"
            )
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"seed: expected a non-negative int, got {cfg.seed!r}")


def generate(cfg: DictConfig) -> dict[str, Any]:
    """The app: write the samples of ``cfg.ckpt_path``; returns ``{"out_dir", "files", "shape"}``."""
    setup_step(lambda: check_options(cfg))
    run = load_run(
        cfg.ckpt_path,
        accelerator=cfg.trainer.accelerator,
        precision=cfg.trainer.get("precision"),
        dataset_overrides=cfg.get("dataset"),
    )
    out_dir = Path(str(cfg.out_dir)).expanduser() if cfg.get("out_dir") else default_out_dir(run)
    check_writable_dir("out_dir", out_dir)
    n = int(cfg.num_samples)
    modes = getattr(run.datamodule, "modes", None)
    files: list[Path] = []
    kept: list[Tensor] = []  # images: the grid's; other data: every point
    for start, chunk in zip(
        range(0, n, cfg.batch_size),
        latents(n, run.gan.latent_dim, cfg.seed).split(cfg.batch_size),
        strict=True,
    ):
        samples = run.gan.generate(chunk, ema=cfg.ema).float().cpu()
        if samples.dim() != 4:
            kept.append(samples)
            continue
        for i, image in enumerate(samples, start):  # written as they come: memory stays one batch
            files.append(out_dir / f"{i:06d}.png")
            save_image(image, files[-1], normalize=True, value_range=(-1, 1))
        kept.append(samples[: max(0, cfg.grid.max_images - start)])
    samples = torch.cat(kept)
    shape = tuple(samples.shape[1:])
    if len(shape) == 3:  # images, in [-1, 1]
        files.append(out_dir / "grid.png")
        save_image(samples, files[-1], nrow=cfg.grid.nrow, normalize=True, value_range=(-1, 1))
    else:
        files.append(out_dir / "samples.npy")
        np.save(files[-1], samples.numpy())
        if shape == (2,):
            files.append(out_dir / "samples.png")
            save_scatter(samples, modes, files[-1], run.iteration if run.iteration is not None else 0)
    if cfg.interpolate:
        files += write_interpolation(run, cfg, out_dir, shape, modes)
    log.info("generate: %d samples of shape %s from %s", n, shape, run.checkpoint)
    print(f"wrote {len(files)} files to {out_dir}")
    return {"out_dir": out_dir, "files": files, "shape": shape}


def write_interpolation(
    run: TrainedRun, cfg: DictConfig, out_dir: Path, shape: tuple[int, ...], modes: Tensor | None
) -> list[Path]:
    """``interpolation.png``: one row per endpoint pair (latents seeded with ``seed + 1``, apart from the samples')."""
    rows, steps = int(cfg.interpolation.rows), int(cfg.interpolation.steps)
    ends = latents(2 * rows, run.gan.latent_dim, cfg.seed + 1)
    path_z = interpolate(ends[:rows], ends[rows:], steps, cfg.interpolation.method).to(torch.float32)
    points = generate_in_batches(run, path_z.reshape(rows * steps, -1), cfg.batch_size, ema=cfg.ema)
    png = out_dir / "interpolation.png"
    if len(shape) == 3:
        save_image(points, png, nrow=steps, normalize=True, value_range=(-1, 1))
        return [png]
    paths = points.reshape(rows, steps, *shape)
    npy = out_dir / "interpolation.npy"
    np.save(npy, paths.numpy())
    if shape != (2,):
        return [npy]
    save_paths(paths, modes, png)
    return [npy, png]


def save_paths(paths: Tensor, modes: Tensor | None, path: Path) -> None:
    """2-D interpolation paths ``[rows, steps, 2]`` as lines over the data's modes (red crosses)."""
    fig, ax = subplots(figsize=(4, 4), dpi=100)  # a Figure of its own: whatever the backend
    for row in paths:
        ax.plot(row[:, 0], row[:, 1], "-o", ms=2, lw=1)
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], c="red", marker="x", s=30)
        lim = float(modes.abs().max()) * 1.5 + 0.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title("latent interpolation")
    fig.tight_layout()
    fig.savefig(path)


@answers_version
@hydra.main(version_base="1.3", config_path="conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    run_app(lambda: generate(cfg))


if __name__ == "__main__":
    main()

"""Samples from a trained checkpoint's EMA generator, as files.

    python -m lightning_r1.generate ckpt_path=outputs/.../checkpoints/last.ckpt num_samples=1000
    python -m lightning_r1.generate ckpt_path=FILE num_samples=64 interpolate=true seed=1 out_dir=/tmp/samples
    python -m lightning_r1.generate ckpt_path=FILE num_samples=100 class=7 truncation=1.0

Writes into ``out_dir`` (default ``<run_dir>/generated/iter_<N>/``, or ``generated/<file name>/`` for a checkpoint
other than ``last.ckpt`` / ``iter_<N>.ckpt``):

- images: ``000000.png`` ... (one per sample) and ``grid.png`` (the first ``grid.max_images``, ``grid.nrow`` a row);
- 2-D toys: ``samples.png`` (a scatter over the data's modes) and ``samples.npy`` (the points ``[N, 2]``) instead;
- other data (the Dirac-GAN): ``samples.npy`` only;
- with ``interpolate=true``: ``interpolation.png``, ``interpolation.rows`` rows of ``interpolation.steps`` samples
  along slerp (or lerp) paths between fixed pairs of latents (toys: the paths drawn over the modes, and
  ``interpolation.npy`` ``[rows, steps, 2]``).

Latents come from a CPU generator seeded with ``seed``: the same seed gives the same images, on any device;
``truncation=t`` redraws latent entries beyond ±t (BigGAN's truncation trick). Conditional checkpoints draw the
classes balanced over the whole request, or ``class=3`` / ``class=[1,7]`` in turn. An ``out_dir`` holding an
earlier generation's files that this one would not overwrite is refused (nothing is ever deleted).
"""

from __future__ import annotations

import logging
import math
import re
import sys
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, ListConfig
from torch import Tensor
from torchvision.utils import save_image

from lightning_r1 import run_dir as rd
from lightning_r1.callbacks.sample_grid import sample_shape, save_scatter
from lightning_r1.checks import check_positive_int
from lightning_r1.config_dir import CONFIG_DIR
from lightning_r1.errors import ConfigError, check_writable_dir, run_app
from lightning_r1.from_checkpoint import TrainedRun, load_run, quote_paths, setup_step
from lightning_r1.plotting import subplots
from lightning_r1.version_flag import answers_version

log = logging.getLogger(__name__)

INTERPOLATIONS = ("slerp", "lerp")


def latents(n: int, dim: int, seed: int, truncation: float | None = None) -> Tensor:
    """``n`` standard-normal latents ``[n, dim]`` from a CPU generator seeded with ``seed`` (global RNG untouched).

    ``truncation=t``: the truncation trick of BigGAN (Brock et al. 2019, §3.1) for a Gaussian latent: every entry
    with ``|z_j| > t`` is redrawn (from the same generator) until it falls inside, so z follows the normal
    truncated to ``[-t, t]``; smaller t trades variety for fidelity. (StyleGAN's ψ pulls w toward its mean through a
    mapping network, which these generators do not have; for a zero-mean z it would only scale z.)
    """
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, dim, generator=generator)
    if truncation is not None:
        outside = z.abs() > truncation
        while bool(outside.any()):
            z[outside] = torch.randn(int(outside.sum()), generator=generator)
            outside = z.abs() > truncation
    return z


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


def generate_in_batches(
    run: TrainedRun, z: Tensor, batch_size: int, ema: bool = True, labels: Tensor | None = None
) -> Tensor:
    """Samples (float32, CPU) for latents ``z`` (and a conditional GAN's ``labels``), ``batch_size`` at a time."""
    batches = run.gan.sample_batches(z.shape[0], ema=ema, batch_size=batch_size, labels=labels, z=z)
    return torch.cat([batch.float().cpu() for batch in batches])


def default_out_dir(run: TrainedRun) -> Path:
    """``generated/iter_<N>`` for the app's training checkpoints (``last.ckpt``, ``iter_<N>.ckpt``: the same weights
    at iteration N); ``generated/<file name>`` for any other (a post-hoc EMA reconstruction, a LightningCLI
    checkpoint), so two checkpoints with other weights never share a folder."""
    training = run.iteration is not None and run.checkpoint.stem in ("last", f"iter_{run.iteration}")
    return rd.generated_dir(run.run_dir, f"iter_{run.iteration}" if training else run.checkpoint.stem)


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
    t = cfg.get("truncation")
    if t is not None and (
        isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t <= 0
    ):
        raise ConfigError(f"truncation: expected a positive number (or null for none), got {t!r}")


def requested_classes(cfg: DictConfig, num_classes: int | None) -> list[int] | None:
    """``class=`` as a list of labels: one class, a list (``class=[1,7]``), or None (every class, balanced).

    Raises:
        ConfigError: a class on an unconditional checkpoint, or one outside ``[0, num_classes)``.
    """
    value = cfg.get("class")
    if value is None:
        return None
    classes = list(value) if isinstance(value, ListConfig | list | tuple) else [value]
    if num_classes is None:
        raise ConfigError(f"class: the checkpoint's GAN is unconditional (no classes), got class={value}")
    bad = [c for c in classes if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < num_classes]
    if not classes or bad:
        raise ConfigError(f"class: expected classes in [0, {num_classes}), got {bad[0] if bad else '[]'}")
    return classes


def labels_for(n: int, classes: list[int] | None, num_classes: int | None) -> Tensor | None:
    """The i-th sample's label: ``classes[i mod len(classes)]`` (every class when None), over the whole request."""
    if num_classes is None:
        return None
    pool = torch.tensor(classes) if classes is not None else torch.arange(num_classes)
    return pool[torch.arange(n) % len(pool)]


def planned_files(out_dir: Path, shape: tuple[int, ...], n: int, interpolate: bool) -> list[Path]:
    """The files a generation of ``n`` samples of ``shape`` writes into ``out_dir``."""
    if len(shape) == 3:
        names = (
            [f"{i:06d}.png" for i in range(n)] + ["grid.png"] + (["interpolation.png"] if interpolate else [])
        )
    else:
        points = ["samples.npy"] + (["samples.png"] if shape == (2,) else [])
        names = points + (
            ["interpolation.npy"] + (["interpolation.png"] if shape == (2,) else []) if interpolate else []
        )
    return [out_dir / name for name in names]


GENERATED = re.compile(r"^(\d{6}\.png|grid\.png|samples\.(npy|png)|interpolation\.(npy|png))$")


def check_no_stale_files(out_dir: Path, planned: list[Path]) -> None:
    """Refuse an ``out_dir`` holding files of an earlier generation that this one would not overwrite (they would
    sit beside the new files as if they were of this run). Files of other names are never touched.

    Raises:
        ConfigError: naming ``out_dir``, how many such files and the first.
    """
    if not out_dir.is_dir():
        return
    keep = {p.name for p in planned}
    stale = sorted(p.name for p in out_dir.iterdir() if GENERATED.match(p.name) and p.name not in keep)
    if stale:
        raise ConfigError(
            f"out_dir: expected a folder without an earlier generation's files, got {out_dir} holding {len(stale)} "
            f"this run would not overwrite ({stale[0]}, ...); choose another out_dir or remove them"
        )


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
    n = int(cfg.num_samples)
    classes = setup_step(lambda: requested_classes(cfg, run.gan.num_classes))
    setup_step(
        lambda: check_no_stale_files(
            out_dir, planned_files(out_dir, sample_shape(run.gan), n, cfg.interpolate)
        )
    )
    check_writable_dir("out_dir", out_dir)
    modes = getattr(run.datamodule, "modes", None)
    files: list[Path] = []
    kept: list[Tensor] = []  # images: the grid's; other data: every point
    z = latents(n, run.gan.latent_dim, cfg.seed, cfg.get("truncation"))
    # one request through GAN.sample_batches: the labels are balanced over all n samples (and `class`)
    labels = labels_for(n, classes, run.gan.num_classes)
    batches = run.gan.sample_batches(n, ema=cfg.ema, batch_size=cfg.batch_size, labels=labels, z=z)
    for start, batch in zip(range(0, n, cfg.batch_size), batches, strict=True):
        samples = batch.float().cpu()
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
        files += write_interpolation(run, cfg, out_dir, shape, modes, classes)
    log.info("generate: %d samples of shape %s from %s", n, shape, run.checkpoint)
    print(f"wrote {len(files)} files to {out_dir}")
    return {"out_dir": out_dir, "files": files, "shape": shape}


def write_interpolation(
    run: TrainedRun,
    cfg: DictConfig,
    out_dir: Path,
    shape: tuple[int, ...],
    modes: Tensor | None,
    classes: list[int] | None = None,
) -> list[Path]:
    """``interpolation.png``: one row per endpoint pair (latents seeded with ``seed + 1``, apart from the samples');
    a conditional GAN keeps one class along a row (row r: the r-th of ``classes``, or class r, cyclically)."""
    rows, steps = int(cfg.interpolation.rows), int(cfg.interpolation.steps)
    ends = latents(2 * rows, run.gan.latent_dim, cfg.seed + 1, cfg.get("truncation"))
    path_z = interpolate(ends[:rows], ends[rows:], steps, cfg.interpolation.method).to(torch.float32)
    row_labels = labels_for(rows, classes, run.gan.num_classes)
    labels = None if row_labels is None else row_labels.repeat_interleave(steps)
    points = generate_in_batches(run, path_z.reshape(rows * steps, -1), cfg.batch_size, cfg.ema, labels)
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
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="generate")
def main(cfg: DictConfig) -> None:
    run_app(lambda: generate(cfg))


if __name__ == "__main__":
    sys.argv = quote_paths(sys.argv)  # ckpt_path=…/epoch=3-step=40.ckpt as Lightning names checkpoints
    main()

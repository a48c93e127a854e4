"""Sample grids from the EMA generator, written to ``<run_dir>/samples`` every N iterations and at the end."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from matplotlib.figure import Figure
from torchvision.utils import save_image

from lightning_r1.lightning_compat import batches_that_stepped
from lightning_r1.run_dir import sample_grid


class SampleGrid(L.Callback):
    """Saves ``iter_XXXXXX.png``: an image grid for image data, a scatter over the data's modes for 2-D data.

    The latents are fixed (drawn once from a private generator, so the global RNG and thus training are untouched)
    so successive grids show the same z evolving. A class-conditional GAN's image grid has one row per class (the
    first ``max_classes``), the same 8 latents in every row, so conditioning shows at a glance (:func:`class_rows`).

    Args:
        directory: where PNGs go.
        every: iterations between grids (0: only at the end).
        num_samples: images per grid (64) — for 2-D data, points per scatter (2,500).
    """

    def __init__(self, directory: str | Path, every: int = 250, num_samples: int | None = None) -> None:
        self.directory = Path(directory)
        self.every = every
        self.num_samples = num_samples
        self.last_written: int | None = None
        self.latest: Path | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        it = pl_module.iteration
        if self.every and it % self.every == 0 and it != self.last_written and it > 0:
            self.write(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.iteration != self.last_written:
            self.write(trainer, pl_module)

    def write(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Path | None:
        if not trainer.is_global_zero:
            return None
        shape = sample_shape(pl_module)
        n = self.num_samples or (2500 if shape == (2,) else 64)
        z = torch.randn(n, pl_module.latent_dim, generator=torch.Generator().manual_seed(1234))
        classes = getattr(pl_module, "num_classes", None)
        if classes and len(shape) == 3:
            z, labels = class_rows(z[:8], classes)
            samples = pl_module.generate(z, labels=labels).float().cpu()
        else:
            samples = pl_module.generate(z).float().cpu()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = sample_grid(self.directory, pl_module.iteration)
        if len(shape) == 3:
            save_image(samples, path, nrow=8, normalize=True, value_range=(-1, 1))
        elif shape == (2,):
            save_scatter(samples, getattr(trainer.datamodule, "modes", None), path, pl_module.iteration)
        else:
            return None  # 1-D data (Dirac-GAN) has its trajectory instead
        self.last_written, self.latest = pl_module.iteration, path
        step = batches_that_stepped(trainer)  # the step the scalars are logged at
        for logger in trainer.loggers:  # dashboards that take images (wandb) get the grid too
            if hasattr(logger, "log_image"):
                logger.log_image("samples", [str(path)], step=step)
        return path


def class_rows(z: torch.Tensor, num_classes: int, max_classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents and labels of a per-class grid: row c repeats the latents ``z [k, latent_dim]`` with label c.

    Args:
        z: the latents of one row.
        num_classes: the GAN's classes; the first ``max_classes`` get a row.
        max_classes: most rows in a grid (StackedMNIST's 1000 classes would not fit).

    Returns:
        ``(z [rows·k, latent_dim], labels [rows·k])`` in row-major order, for ``save_image(nrow=k)``.
    """
    rows = min(num_classes, max_classes)
    return z.repeat(rows, 1), torch.arange(rows).repeat_interleave(z.shape[0])


def sample_shape(pl_module: L.LightningModule) -> tuple[int, ...]:
    """Shape of one generated sample (from the generator's ``sample_shape`` attribute, else by generating one)."""
    shape = getattr(pl_module.generator, "sample_shape", None)
    if shape is None:
        shape = pl_module.generate(torch.zeros(1, pl_module.latent_dim)).shape[1:]
    return tuple(shape)


def save_scatter(points: torch.Tensor, modes: torch.Tensor | None, path: Path, iteration: int) -> None:
    """Scatter of generated 2-D points (blue) over the true modes (red crosses)."""
    fig = Figure(figsize=(4, 4), dpi=100)  # no pyplot: the caller's backend stays as it was
    ax = fig.subplots()
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, label="generated")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], c="red", marker="x", s=30, label="data modes")
        lim = float(modes.abs().max()) * 1.5 + 0.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(f"iteration {iteration}")
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)

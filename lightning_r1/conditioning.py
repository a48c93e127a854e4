"""Class labels through the training step: how a batch splits into images and labels, which labels the fakes get.

Class-conditional GANs (Mirza & Osindero 2014; projection discriminator: Miyato & Koyama 2018, "cGANs with Projection
Discriminator") feed the label to both networks: ``G(z, y)`` and ``D(x, y)``. The GAN module passes the labels to D as
its *extra* inputs (:class:`~lightning_r1.regularizers.DiscriminatorPass`), so every penalty differentiates D with
respect to the images only: integer labels are never differentiated. Fakes take the real batch's labels by default,
so the i-th real and the i-th fake share a class (R3GAN's relativistic pairs, Huang et al. 2024; WGAN-GP interpolates
within a class); ``fake_labels="uniform"`` draws them for the global batch and slices this process's share, like
the latents, so 1 and N processes draw the same labels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lightning_r1.checks import check_positive_int
from lightning_r1.distributed import rank_and_world, rank_slice

FAKE_LABELS = ("real", "uniform")


def check_conditioning(num_classes: int | None, fake_labels: str) -> None:
    """Raise a one-line ``ValueError`` for a bad ``num_classes`` or ``fake_labels``.

    Args:
        num_classes: None (unconditional) or the number of classes, an integer >= 1.
        fake_labels: one of :data:`FAKE_LABELS`.

    Raises:
        ValueError: naming the argument and what was expected.
    """
    if num_classes is not None:
        check_positive_int("num_classes", num_classes)
    if fake_labels not in FAKE_LABELS:
        raise ValueError(f"Expected `fake_labels` to be one of {list(FAKE_LABELS)}, got {fake_labels!r}")


def split_batch(batch: Any, num_classes: int | None) -> tuple[Tensor, Tensor | None]:
    """A training batch as ``(images, labels)``; labels None when unconditional (any labels are then ignored).

    Args:
        batch: a tensor, or a tuple/list whose first item is the images and (conditional) second the labels.
        num_classes: the GAN's number of classes, or None.

    Returns:
        ``(x, y)`` with ``y`` int64 ``[N]`` in ``[0, num_classes)``, or ``(x, None)``.

    Raises:
        ValueError: conditional training on a batch without labels, or labels of the wrong shape, type or range.
    """
    if num_classes is None:
        return (batch[0] if isinstance(batch, tuple | list) else batch), None
    if not isinstance(batch, tuple | list) or len(batch) < 2:
        raise ValueError(
            f"Expected batches (x, y) with class labels since num_classes={num_classes}, got a batch without "
            "labels; use a dataset with labels (dataset.labels=true) or num_classes=None"
        )
    x, y = batch[0], batch[1]
    check_labels(torch.as_tensor(y), num_classes, x.shape[0])
    return x, torch.as_tensor(y, device=x.device).long()


def check_labels(y: Tensor, num_classes: int, n: int) -> None:
    """Raise unless ``y`` holds ``n`` integer labels in ``[0, num_classes)``.

    Raises:
        ValueError: naming the labels found and ``num_classes``.
    """
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.dim() != 1 or y.shape[0] != n:
        raise ValueError(
            f"Expected labels to be integers of shape [{n}], got {y.dtype} of shape {tuple(y.shape)}"
        )
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"Expected labels in [0, num_classes={num_classes}), got labels from {int(y.min())} to {int(y.max())}"
        )


def draw_fake_labels(real_labels: Tensor | None, num_classes: int | None, how: str) -> Tensor | None:
    """The labels the fakes of this step are generated with.

    Args:
        real_labels: the real batch's labels (None when unconditional).
        num_classes: the number of classes.
        how: "real" (the real batch's labels) or "uniform" (uniform over the classes, drawn for the global batch
            and sliced by rank; :mod:`lightning_r1.distributed`).

    Returns:
        int64 labels ``[N]`` on the real labels' device, or None when unconditional.
    """
    if real_labels is None or num_classes is None:
        return None
    if how == "real":
        return real_labels
    n = real_labels.shape[0]
    drawn = torch.randint(num_classes, (n * rank_and_world()[1],), device=real_labels.device)
    return rank_slice(drawn, n)


def balanced_labels(n: int, num_classes: int, device: torch.device | str | None = None) -> Tensor:
    """``0, 1, …, K−1, 0, 1, …``: ``n`` labels with every class equally often (±1), for class-balanced sampling."""
    return torch.arange(n, device=device) % num_classes


def as_extra(labels: Tensor | None) -> tuple[Tensor, ...]:
    """D's (and G's) extra inputs: ``(labels,)`` when conditional, ``()`` otherwise (``D(x)`` unchanged)."""
    return () if labels is None else (labels,)


def check_fit_labels(num_classes: int | None, fake_labels: str, datamodule: Any, regularizers: list) -> None:
    """Before training: the data's classes match the GAN's, and the penalties can pair fakes with reals.

    Args:
        num_classes: the GAN's number of classes (None: unconditional, nothing to check).
        fake_labels: the GAN's ``fake_labels``.
        datamodule: the trainer's datamodule (its ``num_classes`` is read when it has one), or None.
        regularizers: the attached regularizers.

    Raises:
        ValueError: naming both class counts, a dataset without labels, or an interpolating penalty (WGAN-GP,
            zero-GP: real and fake pairs must share a label) with ``fake_labels="uniform"``.
    """
    if num_classes is None:
        return
    if datamodule is not None and hasattr(datamodule, "num_classes"):
        data_classes = datamodule.num_classes
        name = getattr(datamodule, "name", "") or type(datamodule).__name__
        if data_classes is None:
            raise ValueError(
                f"num_classes={num_classes} needs batches with class labels, but dataset {name} gives none "
                "(dataset.labels=false or a dataset without labels)"
            )
        if data_classes != num_classes:
            raise ValueError(
                f"Expected `num_classes` to match the dataset's classes: GAN num_classes={num_classes}, "
                f"dataset {name} has {data_classes}"
            )
    pairing = [reg.name for reg in regularizers if getattr(reg, "needs_fake_batch", False)]
    if fake_labels == "uniform" and pairing:
        raise ValueError(
            f"fake_labels='uniform' cannot be used with {', '.join(pairing)}: it interpolates the i-th real and "
            "the i-th fake, which must share a label; use fake_labels='real'"
        )

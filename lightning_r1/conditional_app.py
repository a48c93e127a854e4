"""The app's class-conditional set-up: ``python train.py conditional=true``.

``conditional=true`` turns on ``dataset.labels`` (each labelled dataset's config reads ``labels: ${conditional}``),
takes ``gan.num_classes`` from the dataset (the model configs read ``num_classes: ${gan.num_classes}``), lists the
classes in the run directory (``classes.txt``) and, on MNIST data, adds ``val/class_accuracy``. Bad combinations
fail here, before anything is trained, with one line naming both values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from lightning_r1 import run_dir as rd
from lightning_r1.errors import ConfigError
from lightning_r1.metrics.class_accuracy import ClassAccuracy

LABELLED_DATASETS = ("mnist_5k", "mnist", "cifar10", "image_folder", "ring8", "grid25", "stacked_mnist")


def configure_classes(cfg: DictConfig, datamodule: L.LightningDataModule, run_dir: Path) -> int | None:
    """Set ``gan.num_classes`` from the dataset when ``conditional=true``; write ``classes.txt``.

    Args:
        cfg: the composed config (``gan.num_classes`` is filled in place, before ``build.build_run`` writes
            ``config.yaml``).
        datamodule: the built dataset (its ``num_classes`` / ``class_names``).
        run_dir: the run directory.

    Returns:
        The number of classes, or None for an unconditional run.

    Raises:
        ConfigError: ``conditional=true`` on a dataset without labels; ``gan.num_classes`` not matching the
            dataset's classes, or set without ``conditional=true``.
    """
    requested = cfg.gan.get("num_classes")
    name = getattr(datamodule, "name", "") or type(datamodule).__name__
    if not cfg.get("conditional", False):
        if requested is not None:
            raise ConfigError(f"gan.num_classes={requested} needs conditional=true, got conditional=false")
        return None
    classes = getattr(datamodule, "num_classes", None)
    if classes is None:
        raise ConfigError(
            f"conditional=true needs a dataset with class labels, got dataset={name}, which has none "
            f"(labelled: {', '.join(LABELLED_DATASETS)})"
        )
    if requested is not None and requested != classes:
        raise ConfigError(
            f"gan.num_classes={requested} does not match the {classes} classes of dataset={name}; "
            "leave gan.num_classes unset (conditional=true takes it from the dataset)"
        )
    OmegaConf.update(cfg, "gan.num_classes", classes)
    names = getattr(datamodule, "class_names", None) or [str(i) for i in range(classes)]
    (run_dir / rd.CLASSES).write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(names)))
    return classes


def class_callbacks(cfg: DictConfig, datamodule: L.LightningDataModule) -> list[L.Callback]:
    """``val/class_accuracy`` (on the ``metrics`` group's schedule) for conditional runs on MNIST-like data."""
    mnist_like = getattr(datamodule, "default_feature_extractor", None) == "mnist-classifier"
    metrics: Any = cfg.get("metrics") or {}
    selected = (
        "_target_" in metrics
    )  # metrics=none leaves at most a preset's settings, no _target_ (build.metric_callbacks)
    if (
        not cfg.get("conditional", False)
        or not mnist_like
        or cfg.gan.get("num_classes") != 10
        or not selected
    ):
        return []
    return [
        ClassAccuracy(
            every=int(metrics.get("every", 1000)), num_samples=int(metrics.get("num_samples", 5000))
        )
    ]

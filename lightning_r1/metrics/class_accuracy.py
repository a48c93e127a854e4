"""``val/class_accuracy``: does a class-conditional generator draw the class it is asked for?

The shipped MNIST classifier (:mod:`lightning_r1.metrics.mnist_classifier`, 99 % on held-out MNIST-5k digits)
classifies samples generated for known labels; the metric is the share it assigns to the label they were generated
with (the "classification accuracy" of conditional GAN evaluations, e.g. Odena, Olah & Shlens 2017, "Conditional
Image Synthesis with Auxiliary Classifier GANs", §4.1, and Miyato & Koyama 2018, §5.2, with an Inception classifier).
Samples are class-balanced, from the EMA generator, with fixed latents under a forked RNG, so evaluating does not
change training.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from lightning_r1.conditioning import balanced_labels
from lightning_r1.metrics.inputs import to_uint8
from lightning_r1.metrics.mnist_classifier import NUM_CLASSES, load_mnist_classifier
from lightning_r1.metrics.vocabulary import best_of
from lightning_r1.step_logging import publish

log = logging.getLogger(__name__)
KEY = "val/class_accuracy"


@torch.no_grad()
def class_accuracy(classifier: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    """Share of ``images`` (floats in [-1, 1]) that ``classifier`` (returning ``(features, logits)``) assigns to
    their ``labels``.

    Args:
        classifier: e.g. :func:`~lightning_r1.metrics.mnist_classifier.load_mnist_classifier`'s network.
        images: ``[N, 1 or 3, H, W]`` in [-1, 1] (quantised to uint8 as saved images are).
        labels: int ``[N]``.
        batch_size: images per classifier call.

    Returns:
        The accuracy in [0, 1].
    """
    correct = 0
    for start in range(0, len(images), batch_size):
        pixels = to_uint8(images[start : start + batch_size])
        predicted = classifier(pixels)[1].argmax(dim=1).cpu()
        correct += int((predicted == labels[start : start + batch_size].cpu()).sum())
    return correct / len(images)


class ClassAccuracy(L.Callback):
    """Logs ``val/class_accuracy`` every ``every`` iterations and at the end (MNIST-like data, 10 classes).

    Args:
        every: generator iterations between evaluations (0: only at the end of training).
        num_samples: generated images per evaluation, class-balanced.
        seed: seed of the evaluation latents.

    Raises:
        ValueError: ``every`` negative or ``num_samples`` < 1; at fit start, a GAN that is not conditional on
            exactly the classifier's 10 classes.
    """

    def __init__(self, every: int = 1000, num_samples: int = 5000, seed: int = 0) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ValueError(f"Expected `every` to be a non-negative integer, got {every!r}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"Expected `num_samples` to be a positive integer, got {num_samples!r}")
        self.every, self.num_samples, self.seed = every, num_samples, seed
        self.history: list[dict[str, float]] = []
        self.classifier: nn.Module | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        classes = getattr(pl_module, "num_classes", None)
        if classes != NUM_CLASSES:
            raise ValueError(
                f"class accuracy uses the MNIST classifier: expected a GAN conditional on {NUM_CLASSES} classes, "
                f"got num_classes={classes}"
            )
        self.classifier = load_mnist_classifier().to(pl_module.device)

    @property
    def last_iteration(self) -> int | None:
        return int(self.history[-1]["iteration"]) if self.history else None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        it = int(pl_module.iteration)
        if self.every and it > 0 and it % self.every == 0 and it != self.last_iteration:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if int(pl_module.iteration) != self.last_iteration:
            self.evaluate(trainer, pl_module)

    def compute(self, pl_module: L.LightningModule) -> float:
        """The accuracy on ``num_samples`` class-balanced EMA samples (fixed latents, RNG state restored)."""
        if self.classifier is None:
            raise RuntimeError("ClassAccuracy.compute() before on_fit_start() loaded the classifier")
        labels = balanced_labels(self.num_samples, NUM_CLASSES, device=pl_module.device)
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            images = pl_module.sample(self.num_samples, ema=True, labels=labels).float()
        return class_accuracy(self.classifier, images, labels)

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        it = int(pl_module.iteration)
        metrics = {KEY: self.compute(pl_module)}
        self.history.append({"iteration": it, **metrics})
        publish(trainer, pl_module, metrics)
        log.info("ClassAccuracy @ iteration %d: %.4f", it, metrics[KEY])
        return metrics

    def summary(self) -> dict[str, Any]:
        """``{"final": {KEY: v}, "best": {KEY: {"value": v, "iteration": i}}}`` for ``summary.json``."""
        if not self.history:
            return {"final": {}, "best": {}}
        best = best_of(KEY, [(h[KEY], int(h["iteration"])) for h in self.history])
        assert best is not None
        return {
            "final": {KEY: self.history[-1][KEY]},
            "best": {KEY: {"value": best[0], "iteration": best[1]}},
        }

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(h) for h in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(h) for h in state_dict.get("history", [])]

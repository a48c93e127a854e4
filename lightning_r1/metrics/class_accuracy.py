"""``val/class_accuracy``: does a class-conditional generator draw the class it is asked for?

The shipped MNIST classifier (:mod:`lightning_r1.metrics.mnist_classifier`, 99 % on held-out MNIST-5k digits)
classifies samples generated for known labels; the metric is the share it assigns to the label they were generated
with (the "classification accuracy" of conditional GAN evaluations, e.g. Odena, Olah & Shlens 2017, "Conditional
Image Synthesis with Auxiliary Classifier GANs", §4.1, and Miyato & Koyama 2018, §5.2, with an Inception classifier).
Samples are class-balanced, from the EMA generator, with fixed latents under a forked RNG, so evaluating does not
change training.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor, nn

from lightning_r1.conditioning import balanced_labels
from lightning_r1.metrics.inputs import to_uint8
from lightning_r1.metrics.iteration_metric import IterationMetric
from lightning_r1.metrics.mnist_classifier import NUM_CLASSES, expected_sha256, load_mnist_classifier
from lightning_r1.metrics.mnist_extractor import MNIST_EXTRACTOR_NAME
from lightning_r1.metrics.provenance import classifier_provenance

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


class ClassAccuracy(IterationMetric):
    """Logs ``val/class_accuracy`` every ``every`` iterations and at the end (MNIST-like data, 10 classes); the
    trigger, forked RNG, history and summary are :class:`~lightning_r1.metrics.iteration_metric.IterationMetric`'s.

    Args:
        every: generator iterations between evaluations (0: only at the end of training).
        num_samples: generated images per evaluation, class-balanced.
        seed: seed of the evaluation latents.

    Raises:
        ValueError: ``every`` negative or ``num_samples`` < 1; at fit start, a GAN that is not conditional on
            exactly the classifier's 10 classes.
    """

    def __init__(self, every: int = 1000, num_samples: int = 5000, seed: int = 0) -> None:
        super().__init__(every, num_samples, seed)
        self.classifier: nn.Module | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        classes = getattr(pl_module, "num_classes", None)
        if classes != NUM_CLASSES:
            raise ValueError(
                f"class accuracy uses the MNIST classifier: expected a GAN conditional on {NUM_CLASSES} classes, "
                f"got num_classes={classes}"
            )
        self.classifier = load_mnist_classifier().to(
            pl_module.device
        )  # the shipped weights, checksum-verified
        self.provenance = {
            KEY: classifier_provenance(MNIST_EXTRACTOR_NAME, expected_sha256(), self.num_samples)
        }
        self.active = True

    def measure(self, pl_module: L.LightningModule) -> dict[str, float]:
        """The accuracy on ``num_samples`` class-balanced EMA samples."""
        if self.classifier is None:
            raise RuntimeError("ClassAccuracy.compute() before on_fit_start() loaded the classifier")
        labels = balanced_labels(self.num_samples, NUM_CLASSES, device=pl_module.device)
        images = self.draw(pl_module.sample, labels=labels).float()
        return {KEY: class_accuracy(self.classifier, images, labels)}

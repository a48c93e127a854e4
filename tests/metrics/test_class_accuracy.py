"""``val/class_accuracy``: the shipped MNIST classifier against the labels images were made for."""

from __future__ import annotations

import pytest
import torch

from lightning_r1.data.mnist_5k import load_mnist_5k, load_mnist_5k_labels
from lightning_r1.metrics import load_mnist_classifier
from lightning_r1.metrics.class_accuracy import ClassAccuracy, class_accuracy


def test_class_accuracy_of_real_digits_matches_the_classifier_on_their_pixels() -> None:
    classifier = load_mnist_classifier()
    pixels, labels = load_mnist_5k()[::10], load_mnist_5k_labels()[::10]  # 500 digits, 50 per class
    images = pixels.float() / 255 * 2 - 1  # what a generator emits: [-1, 1]
    # independent: the classifier straight on the uint8 pixels, counted by hand
    predicted = classifier(pixels)[1].argmax(dim=1)
    expected = sum(int(p == t) for p, t in zip(predicted.tolist(), labels.tolist(), strict=True)) / 500
    assert class_accuracy(classifier, images, labels, batch_size=128) == pytest.approx(expected)
    assert expected > 0.95  # the classifier knows MNIST
    assert class_accuracy(classifier, images, (labels + 1) % 10) < 0.05  # wrong labels are caught


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(every=-1), "Expected `every` to be a non-negative integer"),
     (dict(num_samples=0), "Expected `num_samples` to be a positive integer")],
)  # fmt: skip
def test_bad_class_accuracy_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ClassAccuracy(**kwargs)


def test_class_accuracy_needs_a_ten_class_gan() -> None:
    class Unconditional(torch.nn.Module):
        num_classes = None

    with pytest.raises(ValueError, match="expected a GAN conditional on 10 classes, got num_classes=None"):
        ClassAccuracy().on_fit_start(None, Unconditional())  # type: ignore[arg-type]

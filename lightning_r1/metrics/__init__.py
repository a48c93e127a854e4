"""Sample-quality metrics over torch-fidelity.

Importing this package registers the project's ``mnist-classifier`` feature extractor with torch-fidelity.
"""

from lightning_r1.metrics.extractor_weights import MetricsSetupError, check_extractor_weights
from lightning_r1.metrics.fidelity_callback import FidelityMetrics
from lightning_r1.metrics.inputs import RealImages, UInt8Images, to_uint8
from lightning_r1.metrics.iteration_metric import IterationMetric
from lightning_r1.metrics.mnist_classifier import MnistClassifier, load_mnist_classifier, verify_weights
from lightning_r1.metrics.mnist_extractor import (
    MNIST_EXTRACTOR_NAME,
    MnistClassifierFeatureExtractor,
    register,
)
from lightning_r1.metrics.modes import ModeMetrics, mode_metrics
from lightning_r1.metrics.stacked_mnist_modes import StackedMNISTModes, stacked_mode_metrics

register()

__all__ = [
    "MNIST_EXTRACTOR_NAME",
    "FidelityMetrics",
    "IterationMetric",
    "MetricsSetupError",
    "ModeMetrics",
    "mode_metrics",
    "MnistClassifier",
    "MnistClassifierFeatureExtractor",
    "RealImages",
    "StackedMNISTModes",
    "UInt8Images",
    "check_extractor_weights",
    "load_mnist_classifier",
    "stacked_mode_metrics",
    "to_uint8",
    "verify_weights",
]

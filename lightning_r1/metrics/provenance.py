"""What a metric value was measured with, and whether two values may be put side by side.

FIDs are comparable only under the same extractor, weights, resize filter, dtype and sample counts (StyleGAN2-ADA
issue #283: box vs Lanczos resize moved one model's FID from 4.3 to 5.3; torchmetrics issue #1620: a batch-size-
dependent FID). So every value in ``summary.json`` and ``eval.json`` carries a provenance record (docs/metrics.md,
"Provenance"), and the sweep report and ``evaluate`` rank or pair only values whose records are equal.

Fields, by metric:

- FID, KID, IS, precision/recall, intra-FID (``FidelityMetrics``): ``extractor``, ``extractor_weights_sha256``,
  ``resolution`` (of the images the extractor is given), ``resize`` (the extractor's own resize: filter and size,
  or ``none``), ``dtype`` (inside the extractor), ``num_generated``, ``num_real``, ``real_stats_cache_key``; KID also
  ``kid_subset_size``.
- StackedMNIST modes and class accuracy: ``classifier``, ``classifier_weights_sha256``, ``num_generated``.
- 2-D mixture modes: ``num_generated``.
"""

from __future__ import annotations

from typing import Any

from lightning_r1.metrics.extractor_weights import INCEPTION_NAME
from lightning_r1.metrics.mnist_classifier import NATIVE_SIZE
from lightning_r1.metrics.mnist_extractor import MNIST_EXTRACTOR_NAME

# Each extractor's own resize of its input (torch-fidelity's, or MnistClassifier.preprocess): (filter, size).
EXTRACTOR_RESIZE = {
    INCEPTION_NAME: ("bilinear-tf1", 299),  # torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x
    "vgg16": ("bilinear-tf1", 224),
    MNIST_EXTRACTOR_NAME: ("bilinear-antialias", NATIVE_SIZE),  # F.interpolate(antialias=True)
}
# inside the extractor: torch-fidelity's default feature_extractor_internal_dtype, and the MNIST classifier's
EXTRACTOR_DTYPE = "float32"
KID_KEYS = ("val/kid_mean", "val/kid_std")


def resize(extractor: str, resolution: int) -> str:
    """``bilinear-tf1 32->299``; ``none`` when the images already have the extractor's size; ``unknown`` for an
    extractor whose resize is not listed in ``EXTRACTOR_RESIZE``."""
    if extractor not in EXTRACTOR_RESIZE:
        return "unknown"
    kind, size = EXTRACTOR_RESIZE[extractor]
    return "none" if resolution == size else f"{kind} {resolution}->{size}"


def fidelity_provenance(
    extractor: str,
    weights_sha256: str,
    resolution: int,
    num_generated: int,
    num_real: int,
    cache_key: str,
) -> dict[str, Any]:
    """The record of a torch-fidelity value (FID, KID, IS, precision/recall)."""
    return {
        "extractor": extractor,
        "extractor_weights_sha256": weights_sha256,
        "resolution": int(resolution),
        "resize": resize(extractor, int(resolution)),
        "dtype": EXTRACTOR_DTYPE,
        "num_generated": int(num_generated),
        "num_real": int(num_real),
        "real_stats_cache_key": cache_key,
    }


def classifier_provenance(classifier: str, weights_sha256: str, num_generated: int) -> dict[str, Any]:
    """The record of a classifier-read value (StackedMNIST modes, class accuracy)."""
    return {
        "classifier": classifier,
        "classifier_weights_sha256": weights_sha256,
        "num_generated": int(num_generated),
    }


def difference(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str | None:
    """The first field in which two records differ, with both values (``num_generated (5000 vs 1000)``); ``None`` when
    they are equal. A missing record (a run written before provenance was recorded) differs from any record."""
    if a == b:
        return None
    if a is None or b is None:
        return f"provenance ({'recorded' if a else 'not recorded'} vs {'recorded' if b else 'not recorded'})"
    for field in [*a, *(f for f in b if f not in a)]:
        if a.get(field) != b.get(field):
            return f"{field} ({a.get(field)} vs {b.get(field)})"
    return None

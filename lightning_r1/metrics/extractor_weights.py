"""Cheap, fail-fast checks that a feature extractor's weights are present or obtainable, run before training.

Each check returns a short *weights tag* that goes into the real-statistics cache key, so statistics computed
with one set of weights are never reused with another.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch.hub
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from lightning_r1.metrics.mnist_classifier import (
    expected_sha256,
    load_mnist_classifier,
    sha256_file,
    verify_weights,
)
from lightning_r1.metrics.mnist_extractor import MNIST_EXTRACTOR_NAME

INCEPTION_NAME = "inception-v3-compat"
DOWNLOAD_TIMEOUT_S = 20.0


class MetricsSetupError(RuntimeError):
    """A metrics option cannot work (missing weights, bad path); raised before the first training step."""


def inception_cache_path() -> Path:
    """Where torch-fidelity's ``load_state_dict_from_url`` keeps the Inception weights (torch hub's cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(URL_INCEPTION_V3).path)


def ensure_inception_weights(timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Return the cached Inception weights, downloading them into torch hub's cache if missing.

    Raises:
        MetricsSetupError: not cached and the download failed (e.g. no network); the message says how to pass
            ``metrics.weights_path``.
    """
    path = inception_cache_path()
    if path.is_file():
        return path
    old_timeout = socket.getdefaulttimeout()
    try:
        socket.setdefaulttimeout(timeout_s)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(path), progress=False)
    except Exception as e:  # noqa: BLE001 - any failure means "not obtainable"
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MetricsSetupError(
            f"FID feature extractor '{INCEPTION_NAME}' needs Inception-v3 weights: {path} is missing and downloading "
            f"{URL_INCEPTION_V3} failed ({reason}). Offline? Download that file on a machine with network and pass "
            f"metrics.weights_path=/path/to/{path.name} (or copy it to {path}), or disable metrics with metrics=none."
        ) from None
    finally:
        socket.setdefaulttimeout(old_timeout)
    return path


def check_extractor_weights(extractor: str, weights_path: str | None) -> str:
    """Fail fast if ``extractor``'s weights are neither present nor obtainable; return the weights tag.

    Args:
        extractor: a name registered with torch-fidelity.
        weights_path: user weights file (torch-fidelity's ``feature_extractor_weights_path``) or ``None``.

    Raises:
        MetricsSetupError: unknown extractor, missing ``weights_path`` file, bad mnist-classifier checksum, or
            Inception weights neither cached nor downloadable.
    """
    if extractor not in FEATURE_EXTRACTORS_REGISTRY:
        raise MetricsSetupError(
            f"Unknown feature extractor '{extractor}'; registered: {', '.join(sorted(FEATURE_EXTRACTORS_REGISTRY))}"
        )
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise MetricsSetupError(f"metrics.weights_path={weights_path}: file not found ({path.resolve()})")
        if extractor == MNIST_EXTRACTOR_NAME:
            try:
                load_mnist_classifier(path)
            except Exception as e:  # noqa: BLE001
                raise MetricsSetupError(
                    f"metrics.weights_path={weights_path}: not mnist-classifier weights ({e})"
                ) from None
        return sha256_file(path)[:12]
    if extractor == MNIST_EXTRACTOR_NAME:
        try:
            return verify_weights()[:12]
        except (FileNotFoundError, RuntimeError) as e:
            raise MetricsSetupError(str(e)) from None
    if extractor == INCEPTION_NAME:
        ensure_inception_weights()
        return "tfid-" + os.path.basename(URL_INCEPTION_V3).rsplit("-", 1)[-1].split(".")[0]
    # Other torch-fidelity extractors (vgg16, clip-*, dinov2-*) download their own weights on first use.
    return "default"


def weights_sha256(extractor: str, weights_path: str | None) -> str:
    """The sha256 of the weights ``extractor`` computes with (for provenance records; after
    :func:`check_extractor_weights` found them): the user's file, the shipped mnist-classifier's checksum, the cached
    Inception download; ``torch-fidelity default`` for an extractor whose weights torch-fidelity fetches itself."""
    if weights_path is not None:
        return sha256_file(Path(weights_path).expanduser())
    if extractor == MNIST_EXTRACTOR_NAME:
        return expected_sha256()
    if extractor == INCEPTION_NAME and inception_cache_path().is_file():
        return sha256_file(inception_cache_path())
    return "torch-fidelity default"


def shipped_weights_tag() -> str:
    """Tag of the shipped mnist-classifier weights (first 12 hex digits of their sha256)."""
    return expected_sha256()[:12]

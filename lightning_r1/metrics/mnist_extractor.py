"""torch-fidelity wrapper of :class:`MnistClassifier`, registered as ``mnist-classifier``.

    torch_fidelity.calculate_metrics(input1=..., input2=..., fid=True, feature_extractor="mnist-classifier")

Features: ``"128"`` (global average pool of the last conv block; default for FID, KID and PRC) and ``"logits"`` (default for
IS). ``feature_extractor_weights_path`` overrides the shipped weights.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_fidelity import FeatureExtractorBase, register_feature_extractor
from torch_fidelity.helpers import vassert
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from lightning_r1.metrics.mnist_classifier import FEATURE_DIM, NATIVE_SIZE, load_mnist_classifier

MNIST_EXTRACTOR_NAME = "mnist-classifier"
FEATURE_LAYER = str(FEATURE_DIM)
LOGITS_LAYER = "logits"


class MnistClassifierFeatureExtractor(FeatureExtractorBase):
    """FeatureExtractorBase contract: ``forward(uint8 [N, 3, H, W])`` returns a tuple with one tensor per
    requested feature, in the order of ``features_list``.

    Args:
        name: registry name (``"mnist-classifier"``).
        features_list: requested features, a subset of ``("128", "logits")``.
        feature_extractor_weights_path: weights file; ``None`` = the shipped, checksum-verified weights.
        **kwargs: the rest of torch-fidelity's options (ignored).
    """

    def __init__(
        self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None, **kwargs
    ) -> None:
        super().__init__(name, features_list)
        self.model = load_mnist_classifier(feature_extractor_weights_path)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return FEATURE_LAYER, LOGITS_LAYER

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {"isc": LOGITS_LAYER, "fid": FEATURE_LAYER, "kid": FEATURE_LAYER, "prc": FEATURE_LAYER}[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return True

    @staticmethod
    def get_dummy_input_for_compile() -> Tensor:
        return torch.zeros(1, 3, NATIVE_SIZE, NATIVE_SIZE, dtype=torch.uint8)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        vassert(
            torch.is_tensor(x) and x.dtype == torch.uint8,
            "Expecting image as torch.Tensor with dtype=torch.uint8",
        )
        vassert(x.dim() == 4 and x.shape[1] == 3, f"Input is not Bx3xHxW: {tuple(x.shape)}")
        features, logits = self.model(x)
        out = {FEATURE_LAYER: features.float(), LOGITS_LAYER: logits.float()}
        return tuple(out[name] for name in self.features_list)


def register() -> None:
    """Register ``mnist-classifier`` with torch-fidelity (idempotent)."""
    if MNIST_EXTRACTOR_NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(MNIST_EXTRACTOR_NAME, MnistClassifierFeatureExtractor)

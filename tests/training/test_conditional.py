"""Class-conditional training: the D step with labels against a per-sample computation, labels never
differentiated, fake labels, and one iteration of each conditional model family."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import Tensor, nn

from lightning_r1 import GAN, R1, R2, WGANGP
from lightning_r1.conditioning import balanced_labels, draw_fake_labels, split_batch
from lightning_r1.data import Ring8DataModule
from lightning_r1.losses import get_loss
from lightning_r1.models import build_dcgan, build_mlp, build_resnet
from lightning_r1.phases import discriminator_loss


def test_conditional_d_step_with_r1_and_r2_matches_a_per_sample_computation() -> None:
    """Loss value and D's weight gradients against one D call per sample and by-hand R1/R2 (γ/2·mean‖∇ₓD‖²)."""
    torch.manual_seed(0)
    models = build_mlp(latent_dim=3, data_dim=2, hidden=8, layers=2, num_classes=4)
    d = models.discriminator.double()
    real, fake = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    y_real, y_fake = torch.tensor([0, 1, 2, 3, 1, 2]), torch.tensor([3, 3, 0, 1, 2, 0])
    r1, r2 = R1(gamma=2.0), R2(gamma=0.5)
    phase = discriminator_loss(
        d,
        get_loss("nonsaturating"),
        real,
        fake,
        [],
        [r1, r2],
        real_extra=(y_real,),
        fake_extra=(y_fake,),
    )
    got = torch.autograd.grad(phase.loss, list(d.parameters()))

    # independent: each sample on its own, its input gradient by autograd on that one logit
    def per_sample(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits, sq_norms = [], []
        for i in range(x.shape[0]):
            xi = x[i : i + 1].clone().requires_grad_(True)
            out = d(xi, y[i : i + 1]).sum()
            (g,) = torch.autograd.grad(out, xi, create_graph=True)
            logits.append(out)
            sq_norms.append((g**2).sum())
        return torch.stack(logits), torch.stack(sq_norms)

    lr, nr = per_sample(real, y_real)
    lf, nf = per_sample(fake, y_fake)
    softplus = nn.functional.softplus
    expected = softplus(-lr).mean() + softplus(lf).mean() + 1.0 * nr.mean() + 0.25 * nf.mean()
    want = torch.autograd.grad(expected, list(d.parameters()))
    assert phase.loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert phase.terms["train/r1"].item() == pytest.approx(nr.mean().item(), rel=1e-12)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


class LabelRecorder(nn.Module):
    """Wraps a conditional D and records every label tensor it is called with."""

    def __init__(self, d: nn.Module) -> None:
        super().__init__()
        self.d = d
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        self.seen.append(y)
        return self.d(x, y)


@pytest.mark.parametrize("fake_labels", ["real", "uniform"])
def test_labels_are_never_differentiated_and_fakes_get_the_labels_asked_for(
    tmp_path: Path, fake_labels: str
) -> None:
    torch.manual_seed(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1, num_classes=8)
    d = LabelRecorder(models.discriminator)
    gan = GAN(models.generator, d, latent_dim=4, iterations=2, num_classes=8, fake_labels=fake_labels)
    regs = [R1(gamma=1.0), R2(gamma=1.0)] + ([WGANGP(weight=1.0)] if fake_labels == "real" else [])
    trainer = L.Trainer(
        callbacks=regs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16, labels=True))
    training = [y for y in d.seen if y.shape == (16,)]  # not the shape check's two zeros
    calls = 3 + (fake_labels == "real")  # D on real, on fake, (on interpolates,) in the G step
    assert len(training) == 2 * calls
    for y in training:
        assert y.dtype == torch.int64 and not y.requires_grad and y.grad_fn is None
        assert 0 <= int(y.min()) and int(y.max()) < 8
    real, fake = training[0], training[1]
    if (
        fake_labels == "real"
    ):  # every D call of a step sees the same labels: fakes and interpolates pair by class
        assert all(torch.equal(y, real) for y in training[:calls])
    else:  # fakes have their own labels, redrawn for the G step (the 2nd iteration: with seed 0 the 1st batch's
        # stream generator is seeded as the global RNG is, so the 1st draws may coincide)
        real, fake = training[calls], training[calls + 1]
        assert not torch.equal(fake, real) and not torch.equal(training[calls + 2], fake)


def test_uniform_fake_labels_are_the_rank_slice_of_a_global_draw() -> None:
    torch.manual_seed(3)
    expected = torch.randint(5, (7,))
    torch.manual_seed(3)
    got = draw_fake_labels(torch.zeros(7, dtype=torch.long), 5, "uniform")
    assert torch.equal(got, expected)
    real = torch.tensor([4, 0, 1])
    assert draw_fake_labels(real, 5, "real") is real
    assert draw_fake_labels(None, None, "uniform") is None


def test_balanced_labels_cover_every_class_equally() -> None:
    counts = torch.bincount(balanced_labels(25, 10), minlength=10)
    assert counts.tolist() == [3] * 5 + [2] * 5


@pytest.mark.parametrize(
    "batch, match",
    [
        (torch.zeros(4, 2), "Expected batches \\(x, y\\) with class labels since num_classes=3"),
        ((torch.zeros(4, 2), torch.tensor([0, 1, 2, 3])), "Expected labels in \\[0, num_classes=3\\), got labels from 0 to 3"),
        ((torch.zeros(4, 2), torch.tensor([0, -1, 2, 1])), "got labels from -1 to 2"),
        ((torch.zeros(4, 2), torch.zeros(4)), "Expected labels to be integers of shape \\[4\\], got torch.float32"),
    ],
    ids=["no_labels", "too_high", "negative", "float"],
)  # fmt: skip
def test_bad_labels_are_one_line(batch: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_batch(batch, 3)


def test_unconditional_gan_ignores_labels_in_batches() -> None:
    x, y = split_batch((torch.ones(2, 2), torch.tensor([0, 1])), None)
    assert y is None and torch.equal(x, torch.ones(2, 2))


IMAGE_MODELS = {
    "dcgan": (build_dcgan, dict(resolution=32, channels=1, width=4), (1, 32, 32)),
    "resnet": (build_resnet, dict(resolution=16, channels=3, width=4, nf_max=8), (3, 16, 16)),
    "mlp": (build_mlp, dict(data_dim=2, hidden=8, layers=1), (2,)),
}


class LabelledTensors(L.LightningDataModule):
    """A few random samples with labels, for one training iteration of any model family."""

    def __init__(self, shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.x = torch.rand(8, *shape, generator=generator) * 2 - 1
        self.y = torch.arange(8) % num_classes
        self.num_classes = num_classes

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(self.x, self.y), batch_size=4)


@pytest.mark.parametrize("family", list(IMAGE_MODELS))
def test_one_iteration_of_each_conditional_model(tmp_path: Path, family: str) -> None:
    build, kwargs, shape = IMAGE_MODELS[family]
    torch.manual_seed(0)
    models = build(latent_dim=6, num_classes=3, **kwargs)
    before = {k: v.clone() for k, v in models.discriminator.state_dict().items()}
    gan = GAN(models.generator, models.discriminator, latent_dim=6, iterations=1, num_classes=3)
    trainer = L.Trainer(
        callbacks=[R1(gamma=1.0)], logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(gan, datamodule=LabelledTensors(shape, 3))
    assert gan.iteration == 1
    after = models.discriminator.state_dict()
    assert not torch.equal(before["projection.embed.weight"], after["projection.embed.weight"])
    # the label changes the sample: same z, two classes
    z = torch.randn(1, 6).repeat(2, 1)
    samples = gan.generate(z, labels=torch.tensor([0, 2]))
    assert samples.shape == (2, *shape) and not torch.equal(samples[0], samples[1])


def test_unconditional_builders_are_unchanged_by_the_conditional_option() -> None:
    """num_classes=None builds today's classes with today's parameters, drawn in the same order."""
    for build, kwargs, _ in IMAGE_MODELS.values():
        torch.manual_seed(1)
        plain = build(latent_dim=6, **kwargs)
        torch.manual_seed(1)
        default = build(latent_dim=6, num_classes=None, **kwargs)
        for a, b in zip(plain, default, strict=True):
            assert type(a) is type(b) and "Conditional" not in type(a).__name__
            for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
                assert ka == kb and torch.equal(va, vb)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_classes=0), "Expected `num_classes` to be a positive integer, got 0"),
        (dict(num_classes=3, fake_labels="random"), "Expected `fake_labels` to be one of \\['real', 'uniform'\\]"),
    ],
)  # fmt: skip
def test_bad_conditional_gan_arguments(kwargs: dict, match: str) -> None:
    models = build_mlp(latent_dim=2, hidden=4, layers=1)
    with pytest.raises(ValueError, match=match):
        GAN(models.generator, models.discriminator, latent_dim=2, **kwargs)

"""The functional core (lightning_r1.functional) against the callbacks and against hand computations, and the plain
callable: D runs only on what the penalty reads, extra D inputs (labels) pass through and are never differentiated."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_r1 import R1, R2, WGANGP, ApproxR1, ZeroGP
from lightning_r1.functional import (
    approx_r1_penalty,
    gradient_penalty,
    interpolate,
    lecam_penalty,
    r1_penalty,
    r2_penalty,
)
from lightning_r1.regularizers import DiscriminatorPass, LeCam


class ConditionalD(nn.Module):
    """A projection-style conditional D: ``lin(h(x)) + <embed(y), h(x)>`` (Miyato & Koyama 2018), counting calls."""

    def __init__(self, dim: int = 5, classes: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim, 8), nn.Tanh())
        self.head = nn.Linear(8, 1)
        self.embed = nn.Embedding(classes, 8)
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        h = self.body(x)
        return self.head(h).squeeze(1) + (self.embed(y) * h).sum(1)


def per_sample_sq_norm(d: nn.Module, x: torch.Tensor, *extra) -> torch.Tensor:
    """||∂D(x_i)/∂x_i||² one sample at a time (no batching trick): the independent reference."""
    rows = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1].detach().requires_grad_(True)
        (g,) = torch.autograd.grad(d(xi, *(e[i : i + 1] for e in extra)).sum(), xi)
        rows.append(g.square().sum())
    return torch.stack(rows)


@pytest.fixture
def batch() -> tuple[ConditionalD, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return ConditionalD(), torch.randn(6, 5), torch.randn(6, 5), torch.randint(0, 3, (6,))


def test_r1_and_r2_equal_the_per_sample_definition_for_a_conditional_d(batch) -> None:
    d, real, fake, y = batch
    x = real.detach().requires_grad_(True)
    expected = 0.5 * 4.0 * per_sample_sq_norm(d, real, y).mean()
    torch.testing.assert_close(r1_penalty(d(x, y), x, gamma=4.0), expected)
    xf = fake.detach().requires_grad_(True)
    torch.testing.assert_close(
        r2_penalty(d(xf, y), xf, gamma=4.0), 0.5 * 4.0 * per_sample_sq_norm(d, fake, y).mean()
    )


def test_functional_r1_equals_the_callable_and_keeps_the_weight_graph(batch) -> None:
    d, real, fake, y = batch
    x = real.detach().requires_grad_(True)
    functional = r1_penalty(d(x, y), x, gamma=2.0)
    callable_value = R1(gamma=2.0)(d, real, fake, y)
    torch.testing.assert_close(functional, callable_value)
    (weight_grad,) = torch.autograd.grad(functional, d.head.weight)  # double backward reaches D's weights
    (reference,) = torch.autograd.grad(callable_value, d.head.weight)
    torch.testing.assert_close(weight_grad, reference)
    assert weight_grad.abs().sum() > 0


def test_gradient_penalties_match_by_hand_on_shared_interpolates(batch) -> None:
    d, real, fake, y = batch
    torch.manual_seed(3)
    x_hat = interpolate(real, fake)
    norms = per_sample_sq_norm(d, x_hat, y)
    torch.testing.assert_close(gradient_penalty(d(x_hat, y), x_hat, weight=10.0),
                               10.0 * (norms.sqrt() - 1).square().mean())  # fmt: skip
    torch.testing.assert_close(
        gradient_penalty(d(x_hat, y), x_hat, weight=3.0, center=0.0), 3.0 * norms.mean()
    )
    torch.manual_seed(3)
    torch.testing.assert_close(
        WGANGP(weight=10.0)(d, real, fake, y), gradient_penalty(d(x_hat, y), x_hat, 10.0)
    )
    torch.manual_seed(3)
    torch.testing.assert_close(ZeroGP(weight=3.0)(d, real, fake, y), 3.0 * norms.mean())


def test_approx_r1_functional_equals_the_callable(batch) -> None:
    d, real, _, y = batch
    torch.manual_seed(5)
    eps = torch.randn_like(real)
    expected = approx_r1_penalty(d(real, y), d(real + 1e-2 * eps, y), sigma=1e-2, gamma=2.0)
    torch.manual_seed(5)
    torch.testing.assert_close(ApproxR1(gamma=2.0, sigma=1e-2)(d, real, None, y), expected)


@pytest.mark.parametrize(
    "penalty, forwards",
    [(R1(gamma=1.0), [6]), (R2(gamma=1.0), [6]), (WGANGP(weight=1.0), [6]), (ApproxR1(gamma=1.0), [6, 6])],
    ids=["r1", "r2", "wgan_gp", "approx_r1"],
)
def test_the_plain_callable_runs_d_only_on_what_the_penalty_reads(batch, penalty, forwards) -> None:
    """R1: the real batch once (it used to run D on real *and* fake); R2: the fake batch; WGAN-GP: the
    interpolates; approximate R1: real and real + σε."""
    d, real, fake, y = batch
    penalty(d, real, fake, y)
    assert d.batch_sizes == forwards


def test_labels_are_never_differentiated_and_r1_needs_no_fake_batch(batch) -> None:
    d, real, _, y = batch
    value = R1(gamma=1.0)(d, real, None, y)  # integer labels: autograd would refuse requires_grad on them
    assert value.requires_grad and not y.requires_grad
    with pytest.raises(ValueError, match="R2 needs the fake batch"):
        R2(gamma=1.0)(d, real, None, y)


def test_each_penalty_class_is_its_functional_form_bitwise(batch) -> None:
    """The class holds the state (strength, LeCam's averages), the function the math: the same numbers, bit for bit."""
    d, real, fake, y = batch
    for reg, function in (
        (R1(gamma=4.0), lambda: r1_penalty(d(x := real.clone().requires_grad_(True), y), x, gamma=4.0)),
        (R2(gamma=4.0), lambda: r2_penalty(d(x := fake.clone().requires_grad_(True), y), x, gamma=4.0)),
    ):
        assert torch.equal(reg(d, real, fake, y), function())
    for reg, center in ((WGANGP(weight=3.0), 1.0), (ZeroGP(weight=3.0), 0.0)):
        torch.manual_seed(1)
        got = reg(d, real, fake, y)
        torch.manual_seed(1)
        x_hat = interpolate(real, fake)
        assert torch.equal(got, gradient_penalty(d(x_hat, y), x_hat, weight=3.0, center=center))
    lecam = LeCam(weight=0.5, decay=0.9)
    lecam.ema_real, lecam.ema_fake = 0.2, -0.1
    d_pass = DiscriminatorPass.forward(d, real, fake, real_grad=False, fake_grad=False, extra=(y,))
    got = lecam.penalty(d_pass)  # moves the averages first, then takes the penalty with them
    expected = lecam_penalty(d_pass.d_real, d_pass.d_fake, lecam.ema_real, lecam.ema_fake, weight=0.5)
    assert torch.equal(got, expected)
    # and by hand: weight · mean(relu(D(real) − α_F)² + relu(α_R − D(fake))²)
    by_hand = (
        0.5
        * (
            (d_pass.d_real - lecam.ema_fake).clamp_min(0) ** 2
            + (lecam.ema_real - d_pass.d_fake).clamp_min(0) ** 2
        ).mean()
    )
    torch.testing.assert_close(got, by_hand)

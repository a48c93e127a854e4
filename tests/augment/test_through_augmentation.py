"""Penalties through the augmentation: R1/R2 w.r.t. the un-augmented input, WGAN-GP interpolating before the
augmentation, approximate R1 reusing its side's augmentation, and G's gradient flowing through it. Each is checked
against autograd on a hand composition (tests/helpers/augment_reference.py) with the same random parameters."""

from __future__ import annotations

import torch
from torch import nn

from helpers.augment_reference import augment_by_hand
from lightning_r1 import phases
from lightning_r1.augment import ADA, DiffAugment
from lightning_r1.losses import get_loss
from lightning_r1.regularizers import DiscriminatorPass, ZeroGP


def small_d() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Softplus(), nn.Flatten(), nn.Linear(4 * 8 * 8, 1))


def hand_sq_norm(d: nn.Module, x: torch.Tensor, ops, draw) -> torch.Tensor:
    """||∂D(aug(x))/∂x||² per sample, composed by hand and differentiated by autograd."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(augment_by_hand(x, ops, draw)).sum(), x)
    return grad.square().sum((1, 2, 3))


def test_r1_and_r2_are_taken_wrt_the_unaugmented_input_through_the_augmentation() -> None:
    d, aug = small_d(), ADA(target=None, p=0.7)
    real, fake = torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)
    d_pass = DiscriminatorPass.forward(d, real, fake, real_grad=True, fake_grad=True, augment=aug)
    for side, x in (("real", real), ("fake", fake)):
        expected = hand_sq_norm(d, x, aug.ops, d_pass.draws[side])
        torch.testing.assert_close(d_pass.sq_norm(side), expected)
    # the augmentation is really in the path: without it the gradient differs
    plain = DiscriminatorPass.forward(d, real, fake, real_grad=True, fake_grad=False)
    assert not torch.allclose(plain.sq_norm("real"), d_pass.sq_norm("real"))


def test_wgan_gp_interpolates_first_and_then_augments() -> None:
    d, aug = small_d(), DiffAugment()
    real, fake = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    d_pass = DiscriminatorPass.forward(d, real, fake, real_grad=False, fake_grad=False, augment=aug)
    torch.manual_seed(7)
    got = ZeroGP(weight=1.0).per_sample(d_pass)
    torch.manual_seed(7)
    eps = torch.rand(5, 1, 1, 1)  # the interpolation weight, then the augmentation's draw, in that order
    x_hat = eps * real + (1 - eps) * fake
    expected = hand_sq_norm(d, x_hat, aug.ops, aug.draw(5))
    torch.testing.assert_close(got, expected)


def test_a_finite_difference_at_a_side_reuses_that_sides_augmentation() -> None:
    d, aug = small_d(), DiffAugment()
    real = torch.randn(4, 3, 8, 8)
    d_pass = DiscriminatorPass.forward(d, real, None, real_grad=False, fake_grad=False, augment=aug)
    rows = torch.tensor([2, 0])
    torch.testing.assert_close(d_pass.logits_of(real[rows], rows=rows, side="real"), d_pass.d_real[rows])


def test_the_generator_gradient_flows_through_the_augmentation() -> None:
    d, aug, loss = small_d(), DiffAugment(), get_loss("nonsaturating")
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8, requires_grad=True)
    torch.manual_seed(3)
    result = phases.generator_loss(d, loss, real, fake, [], augment=aug)
    (got,) = torch.autograd.grad(result.loss, fake)
    torch.manual_seed(3)
    draw = aug.draw(4)
    leaf = fake.detach().clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(
        loss.g_loss(d(augment_by_hand(leaf, aug.ops, draw)).flatten(), None), leaf
    )
    torch.testing.assert_close(got, expected)
    assert got.abs().sum() > 0

"""ApproxR1 / ApproxR2: the finite-difference estimates of R1 / R2 without double backward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import compose_config
from lightning_r1 import R1, R2, ApproxR1
from lightning_r1.app import train
from lightning_r1.regularizers.approx_r2 import ApproxR2


def smooth_d() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(10, 32), nn.Softplus(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1)
    ).double()


@pytest.mark.parametrize("gamma", [0.5, 10.0])
def test_matches_r1_on_a_smooth_d_when_averaged(gamma: float) -> None:
    d = smooth_d()
    x = torch.randn(256, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = R1(gamma=gamma)(d, x, x).item()
    torch.manual_seed(2)
    estimate = torch.stack([ApproxR1(gamma=gamma, sigma=1e-3)(d, x, x) for _ in range(50)]).mean().item()
    assert estimate == pytest.approx(exact, rel=0.03)


def test_approx_r2_matches_r2_on_the_fake_batch_and_runs_d_only_there() -> None:
    """Real and fake batches differ, so a difference taken at the wrong batch would miss R2's value."""
    d = smooth_d()
    real = torch.randn(256, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fake = 3.0 * torch.randn(256, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    exact_r2, exact_r1 = R2(gamma=2.0)(d, real, fake).item(), R1(gamma=2.0)(d, real, fake).item()
    assert exact_r2 != pytest.approx(exact_r1, rel=0.2)
    seen: list[float] = []
    d.register_forward_hook(lambda module, inputs, output: seen.append(float(inputs[0].std())))
    torch.manual_seed(2)
    estimate = torch.stack([ApproxR2(gamma=2.0, sigma=1e-3)(d, real, fake) for _ in range(50)]).mean().item()
    assert estimate == pytest.approx(exact_r2, rel=0.03)
    assert all(std > 2.0 for std in seen)  # every forward was on (perturbed) fakes, std ~3, never on reals


def test_is_exact_in_expectation_for_a_linear_d() -> None:
    """For D(x) = w·x the estimate is gamma/2 · <w, eps>², whose mean over eps is gamma/2 · ||w||² for any sigma."""
    lin = nn.Linear(6, 1).double()
    x = torch.randn(20000, 6, dtype=torch.float64)
    torch.manual_seed(3)
    value = ApproxR1(gamma=2.0, sigma=0.5)(lin, x, x).item()
    assert value == pytest.approx(lin.weight.square().sum().item(), rel=0.03)


def test_needs_no_double_backward_and_trains_d() -> None:
    d = smooth_d()
    x = torch.randn(32, 10, dtype=torch.float64)
    penalty = ApproxR1(gamma=1.0)(d, x, x)
    penalty.backward()  # plain backward: no create_graph anywhere
    assert d[0].weight.grad.abs().sum() > 0


def test_batch_fraction_penalises_a_share_of_the_batch_and_stays_unbiased() -> None:
    """A random quarter of the rows each step (drawn without replacement), so the estimate targets R1 on the
    whole batch, with a forward over the quarter only."""
    d = smooth_d()
    x = torch.randn(256, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = R1(gamma=1.0)(d, x, x).item()
    seen: list[int] = []
    d.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[0]))
    torch.manual_seed(2)
    quarter = ApproxR1(gamma=1.0, sigma=1e-3, batch_fraction=0.25)
    estimate = torch.stack([quarter(d, x, x) for _ in range(400)]).mean().item()
    assert estimate == pytest.approx(exact, rel=0.03)
    assert sorted(set(seen)) == [64, 256] and seen.count(64) == 400  # perturbed forward: ⌈0.25·256⌉ rows only


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5])
def test_bad_batch_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"Expected `batch_fraction` in \(0, 1\]"):
        ApproxR1(batch_fraction=fraction)


def test_bad_sigma() -> None:
    with pytest.raises(ValueError, match="Expected `sigma` to be a positive float, got 0"):
        ApproxR1(sigma=0)
    with pytest.raises(ValueError, match="`sigma`"):
        ApproxR1(sigma=-1.0)


def test_converges_on_the_dirac_gan(tmp_path: Path) -> None:
    cfg = compose_config(
        ["experiment=dirac_gan", "regularizer=approx_r1", "regularizer.approx_r1.gamma=1.0",
         "regularizer.approx_r1.sigma=0.01", "gan.update=simultaneous", "iterations=300", "batch_size=4"],
        tmp_path,
    )  # fmt: skip
    train(cfg)
    last = (tmp_path / "trajectory.csv").read_text().strip().splitlines()[-1].split(",")
    theta, psi = float(last[1]), float(last[2])
    assert (theta**2 + psi**2) ** 0.5 < 0.05  # started at distance sqrt(2)

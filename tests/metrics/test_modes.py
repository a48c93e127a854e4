"""Toy-mixture mode metrics (PacGAN definitions): hand-computed cases and the callback inside a real run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from lightning_r1 import GAN
from lightning_r1.callbacks import RunSummary
from lightning_r1.data import DiracDataModule, Ring8DataModule
from lightning_r1.data.toy import grid_modes, ring_modes
from lightning_r1.metrics.modes import ModeMetrics, mode_metrics
from lightning_r1.models.dirac import build_dirac
from lightning_r1.models.mlp import build_mlp

TWO_MODES = torch.tensor([[0.0, 0.0], [10.0, 0.0]])


def test_all_samples_on_every_mode_evenly() -> None:
    modes = ring_modes(8)
    samples = modes.repeat(5, 1)  # 5 exact copies of each mode
    out = mode_metrics(samples, modes, std=0.01)
    assert out == {"modes_covered": 8, "high_quality_pct": 100.0, "reverse_kl": pytest.approx(0.0, abs=1e-9)}


def test_collapse_on_one_mode_is_log_k() -> None:
    modes = grid_modes()
    samples = modes[7].repeat(100, 1) + 0.01  # 0.01·√2 < 3·0.05 from mode 7
    out = mode_metrics(samples, modes, std=0.05)
    assert out["modes_covered"] == 1 and out["high_quality_pct"] == 100.0
    assert out["reverse_kl"] == pytest.approx(math.log(25), abs=1e-9)


def test_two_of_eight_modes_evenly_is_log_4() -> None:
    # q = (1/2, 1/2, 0, ..., 0), p = 1/8: KL = 2 · 1/2 · log(4)
    modes = ring_modes(8)
    samples = torch.cat([modes[0].repeat(3, 1), modes[5].repeat(3, 1)])
    assert mode_metrics(samples, modes, std=0.01)["reverse_kl"] == pytest.approx(math.log(4), abs=1e-9)


def test_uneven_split_and_low_quality_samples() -> None:
    # mode 0 gets 3 good samples, mode 1 gets 1 good sample; 4 samples are too far from any mode.
    # q = (3/4, 1/4), p = (1/2, 1/2): KL = 3/4·log(3/2) + 1/4·log(1/2) = 0.130812...
    good = torch.tensor([[0.0, 0.0], [0.2, 0.0], [0.0, -0.29], [10.0, 0.1]])
    bad = torch.tensor([[0.31, 0.0], [5.0, 0.0], [10.0, 0.5], [-3.0, 3.0]])
    out = mode_metrics(torch.cat([good, bad]), TWO_MODES, std=0.1)
    assert out["modes_covered"] == 2
    assert out["high_quality_pct"] == pytest.approx(50.0)
    assert out["reverse_kl"] == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5), abs=1e-9)


def test_three_std_boundary() -> None:
    inside = mode_metrics(torch.tensor([[0.299, 0.0]]), TWO_MODES, std=0.1)
    outside = mode_metrics(torch.tensor([[0.301, 0.0]]), TWO_MODES, std=0.1)
    assert inside["high_quality_pct"] == 100.0 and outside["high_quality_pct"] == 0.0


def test_no_high_quality_sample_gives_infinite_kl() -> None:
    out = mode_metrics(torch.full((10, 2), 100.0), TWO_MODES, std=0.1)
    assert out == {"modes_covered": 0, "high_quality_pct": 0.0, "reverse_kl": math.inf}


@pytest.mark.parametrize(
    "samples, modes, std, match",
    [
        (torch.zeros(3, 3), TWO_MODES, 0.1, r"samples \[N, D\] and modes \[K, D\]"),
        (torch.zeros(0, 2), TWO_MODES, 0.1, "at least one sample"),
        (torch.zeros(3, 2), TWO_MODES, 0.0, "`std` to be a positive float, got 0.0"),
    ],
)
def test_bad_inputs(samples, modes, std, match) -> None:
    with pytest.raises(ValueError, match=match):
        mode_metrics(samples, modes, std)


@pytest.mark.parametrize(
    "kwargs, match", [({"every": -1}, "`every`"), ({"every": 5, "num_samples": 0}, "`num_samples`")]
)
def test_callback_argument_checks(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        ModeMetrics(**kwargs)


def fit(tmp_path: Path, callbacks: list, datamodule, iterations: int = 6) -> GAN:
    """A short run of a tiny MLP GAN (2-D data) or of the Dirac-GAN (1-D data)."""
    toy = datamodule.sample_shape == (2,)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=1) if toy else build_dirac()
    gan = GAN(models.generator, models.discriminator, latent_dim=4 if toy else 1, iterations=iterations,
              diagnostics_every=0)  # fmt: skip
    trainer = L.Trainer(callbacks=callbacks, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(gan, datamodule=datamodule)
    return gan


def test_callback_in_a_run_logs_history_and_summary(tmp_path: Path) -> None:
    modes_cb = ModeMetrics(every=2, num_samples=300, samples_path=tmp_path / "samples.npy")
    summary = RunSummary(tmp_path / "summary.json")
    torch.manual_seed(0)
    gan = fit(tmp_path, [modes_cb, summary], Ring8DataModule(batch_size=16), iterations=5)
    assert [h["iteration"] for h in modes_cb.history] == [2, 4, 5]  # every 2, and the end
    written = json.loads((tmp_path / "summary.json").read_text())
    assert set(written["metrics"]) >= {"val/modes_covered", "val/high_quality_pct", "val/reverse_kl"}
    assert written["metrics"]["val/modes_covered"] == modes_cb.history[-1]["val/modes_covered"]
    best = written["best"]["val/high_quality_pct"]
    assert best["value"] == max(h["val/high_quality_pct"] for h in modes_cb.history)
    assert np.load(tmp_path / "samples.npy").shape == (300, 2)
    # the evaluation draws its own latents under a forked RNG: training is untouched
    again = ModeMetrics(every=2, num_samples=300)
    again.on_fit_start(type("T", (), {"datamodule": Ring8DataModule()})(), gan)
    assert again.compute(gan) == again.compute(gan)
    state = modes_cb.state_dict()
    restored = ModeMetrics(every=2)
    restored.load_state_dict(state)
    assert restored.history == modes_cb.history and restored.summary() == modes_cb.summary()


def test_same_seed_same_training_with_or_without_the_callback(tmp_path: Path) -> None:
    def weights(callbacks: list) -> list[torch.Tensor]:
        torch.manual_seed(3)
        gan = fit(tmp_path, callbacks, Ring8DataModule(batch_size=8), iterations=4)
        return [p.detach().clone() for p in gan.generator.parameters()]

    plain, measured = weights([]), weights([ModeMetrics(every=1, num_samples=50)])
    assert all(torch.equal(a, b) for a, b in zip(plain, measured, strict=True))


def test_callback_is_inactive_without_modes(tmp_path: Path) -> None:
    cb = ModeMetrics(every=1, num_samples=10)
    fit(tmp_path, [cb], DiracDataModule(batch_size=2), iterations=2)
    assert not cb.active and cb.history == [] and cb.summary()["final"] == {} and cb.summary()["best"] == {}

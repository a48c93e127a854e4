"""The one metric shell (IterationMetric): its trigger, best values, forked RNG and resume, on a real Trainer."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch

from conftest import TOY, compose_config
from lightning_r1 import GAN
from lightning_r1.app import train
from lightning_r1.callbacks import RunSummary
from lightning_r1.data import Ring8DataModule
from lightning_r1.metrics import IterationMetric
from lightning_r1.models.mlp import build_mlp


class Probe(IterationMetric):
    """A throw-away metric: known values of the iteration, and the latents its draw gets (from the global RNG)."""

    def __init__(self, every: int) -> None:
        super().__init__(every=every, num_samples=5, seed=7)
        self.latents: list[torch.Tensor] = []

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.active = True

    def measure(self, pl_module: L.LightningModule) -> dict[str, float]:
        self.latents.append(self.draw(lambda n, ema: torch.randn(n, 3)))
        it = int(pl_module.iteration)
        return {"val/fid": float((it - 5) ** 2), "val/modes_covered": float(it % 4), "val/kid_std": float(it)}


def fit(callbacks: list, iterations: int = 7, d_steps: int = 2) -> GAN:
    torch.manual_seed(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=1)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, iterations=iterations, d_steps=d_steps,
              diagnostics_every=0)  # fmt: skip
    trainer = L.Trainer(callbacks=callbacks, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=8))
    return gan


@pytest.mark.parametrize("every, expected", [(3, [3, 6, 7]), (0, [7]), (7, [7]), (2, [2, 4, 6, 7])])
def test_every_n_iterations_and_at_the_end_once_each(every: int, expected: list[int], tmp_path: Path) -> None:
    probe = Probe(every)
    fit([probe, RunSummary(tmp_path / "summary.json")])  # 2 batches per iteration: an iteration is seen twice
    assert [h["iteration"] for h in probe.history] == expected
    # best: the minimum of (i - 5)² and the maximum of i mod 4, earliest of equals; kid_std has no direction
    fids = [((i - 5) ** 2, i) for i in expected]
    low = min(v for v, _ in fids)
    modes = [(i % 4, i) for i in expected]
    high = max(v for v, _ in modes)
    want = {
        "val/fid": {"value": low, "iteration": next(i for v, i in fids if v == low)},
        "val/modes_covered": {"value": high, "iteration": next(i for v, i in modes if v == high)},
    }
    assert probe.summary()["best"] == want
    assert json.loads((tmp_path / "summary.json").read_text())["best"] == want
    assert probe.summary()["final"] == {"val/fid": 4.0, "val/modes_covered": 3.0, "val/kid_std": 7.0}
    # the same latents at every evaluation (seed 7), whatever training drew in between
    assert all(
        torch.equal(z, torch.randn(5, 3, generator=torch.Generator().manual_seed(7))) for z in probe.latents
    )


def test_an_evaluation_leaves_training_s_random_stream_untouched() -> None:
    plain = fit([])
    measured = fit([Probe(every=1)])
    for a, b in zip(plain.parameters(), measured.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_resumed_run_keeps_the_history_and_evaluates_where_the_whole_run_does(tmp_path: Path) -> None:
    common = [*TOY, "metrics=modes", "metrics.every=3", "metrics.num_samples=200", "gan.d_steps=2",
              "iterations=7", "gan.diagnostics_every=0"]  # fmt: skip
    train(compose_config([*common, "checkpoint_every=4"], tmp_path / "whole"))
    half = tmp_path / "whole" / "checkpoints" / "iter_4.ckpt"
    train(compose_config([*common, f"ckpt_path={half}"], tmp_path / "resumed"))

    def history(run: str) -> list[dict]:
        state = torch.load(tmp_path / run / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"]
        return next(v for k, v in state.items() if k.startswith("ModeMetrics"))["history"]

    saved = torch.load(half, weights_only=False)["callbacks"]
    assert [
        h["iteration"] for h in next(v for k, v in saved.items() if k.startswith("ModeMetrics"))["history"]
    ] == [3]
    assert [h["iteration"] for h in history("whole")] == [3, 6, 7]
    assert history("resumed") == history("whole")
    best = [json.loads((tmp_path / run / "summary.json").read_text())["best"] for run in ("whole", "resumed")]
    assert best[0] == best[1] and best[0]["val/reverse_kl"]["iteration"] in (3, 6, 7)


class ProvenanceProbe(Probe):
    """A Probe whose values rise with the iteration (the best FID is the earliest) and which records its sample count
    as its provenance; added to a run through the `callbacks` config group."""

    def __init__(self, every: int, num_samples: int) -> None:
        super().__init__(every)
        self.num_samples = num_samples

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.provenance = {"val/fid": {"num_generated": self.num_samples}}
        self.active = True

    def measure(self, pl_module: L.LightningModule) -> dict[str, float]:
        return {"val/fid": float(pl_module.iteration)}


def test_a_run_resumed_with_other_metric_settings_takes_its_best_from_then_on(tmp_path: Path) -> None:
    """The evaluation at iteration 3 used 5 samples, those after the resume 6: its (lower) FID is not their best."""
    probe = "+callbacks.probe._target_=" + __name__ + ".ProvenanceProbe"
    common = [
        *TOY,
        "metrics=none",
        probe,
        "+callbacks.probe.every=3",
        "iterations=7",
        "gan.diagnostics_every=0",
    ]
    train(
        compose_config([*common, "+callbacks.probe.num_samples=5", "checkpoint_every=4"], tmp_path / "whole")
    )
    half = tmp_path / "whole" / "checkpoints" / "iter_4.ckpt"
    train(
        compose_config([*common, "+callbacks.probe.num_samples=6", f"ckpt_path={half}"], tmp_path / "resumed")
    )
    whole, resumed = (
        json.loads((tmp_path / run / "summary.json").read_text()) for run in ("whole", "resumed")
    )
    assert whole["best"]["val/fid"] == {"value": 3.0, "iteration": 3}
    assert whole["provenance"]["val/fid"] == {"num_generated": 5}
    assert resumed["best"]["val/fid"] == {"value": 6.0, "iteration": 6}  # not 3.0: measured with 5 samples
    assert resumed["provenance"]["val/fid"] == {"num_generated": 6} and resumed["metrics"]["val/fid"] == 7.0

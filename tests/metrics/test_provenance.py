"""Metric provenance (docs/metrics.md, "Provenance"): what every FID / class-accuracy value was measured with, recorded
in summary.json and eval.json through the real CLI; the sweep report and evaluate refuse to put values of different
provenance side by side, naming the field."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from lightning_r1.metrics.mnist_classifier import WEIGHTS_PATH
from lightning_r1.metrics.provenance import difference

TINY_MNIST = ["dataset=mnist_5k", "model.width=4", "gan.latent_dim=8", "iterations=2", "batch_size=8",
              "conditional=true", "metrics=fid", "metrics.every=0", "metrics.num_real_samples=128",
              "metrics.batch_size=64", "trainer.enable_progress_bar=false", "samples_every=0", "checkpoint_every=0",
              ]  # fmt: skip


def cli(*args: str, module: str | None = None) -> subprocess.CompletedProcess:
    command = ["-m", module] if module else [str(REPO_ROOT / "train.py")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    return subprocess.run(
        [sys.executable, *command, *args], capture_output=True, text=True, timeout=600, env=env
    )


def test_difference_names_the_first_differing_field() -> None:
    a = {"extractor": "mnist-classifier", "num_generated": 64, "num_real": 128}
    assert difference(a, dict(a)) is None
    assert difference(a, {**a, "num_generated": 96}) == "num_generated (64 vs 96)"
    assert difference(a, {**a, "dtype": "float64"}) == "dtype (None vs float64)"
    assert difference(a, None) == "provenance (recorded vs not recorded)"
    assert difference(None, None) is None


@pytest.mark.slow
def test_cli_records_provenance_and_report_and_evaluate_refuse_different_sample_counts(
    tmp_path: Path,
) -> None:
    """Two tiny conditional MNIST runs through `train.py -m`, 64 and 96 samples per evaluation: summary.json records
    each value's provenance; the report writes its table but ranks nothing (one line naming num_generated, exit 2);
    evaluate with 96 samples against the 64-sample run prints the field instead of the training value."""
    sweep, cache = tmp_path / "sweep", tmp_path / "cache"
    run = cli(
        "-m",
        *TINY_MNIST,
        "metrics.num_samples=64,96",
        f"metrics.cache_dir={cache}",
        f"hydra.sweep.dir={sweep}",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    runs = {json.loads((d / "summary.json").read_text())["provenance"]["val/fid"]["num_generated"]: d
            for d in sorted(sweep.iterdir()) if (d / "summary.json").is_file()}  # fmt: skip
    assert sorted(runs) == [64, 96]

    # what summary.json records, against independent facts: the shipped weights' bytes, the cache file on disk
    summary = json.loads((runs[64] / "summary.json").read_text())
    sha = hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()
    fid = summary["provenance"]["val/fid"]
    key = fid.pop("real_stats_cache_key")
    assert fid == {"extractor": "mnist-classifier", "extractor_weights_sha256": sha, "resolution": 32,
                   "resize": "bilinear-antialias 32->28", "dtype": "float32", "num_generated": 64, "num_real": 128}  # fmt: skip
    assert (cache / f"{key}-mnist-classifier-stat-fid-128.pt").is_file() and "-n128-" in key
    assert summary["provenance"]["val/class_accuracy"] == {
        "classifier": "mnist-classifier", "classifier_weights_sha256": sha, "num_generated": 64,
    }  # fmt: skip
    assert set(summary["provenance"]) == {"val/fid", "val/class_accuracy"} <= set(summary["metrics"])

    # the sweep report: table written, nothing ranked, one line naming the field, exit 2
    report = cli(str(sweep), module="lightning_r1.report")
    assert report.returncode == 2, report.stderr
    refusal = [line for line in report.stderr.splitlines() if "Not ranked" in line]
    assert len(refusal) == 1 and "num_generated (64 vs 96)" in refusal[0], report.stderr
    text = (sweep / "report.md").read_text()
    assert "Ranking" not in text and "num_generated (64 vs 96)" in text and "| final val/fid |" in text

    # evaluate: the same settings are put beside training's value; 96 samples against the 64-sample run are not
    ckpt = f"ckpt_path={runs[64] / 'checkpoints' / 'last.ckpt'}"
    same = cli(ckpt, "trainer.accelerator=cpu", module="lightning_r1.evaluate")
    assert same.returncode == 0, same.stderr[-3000:]
    assert "val/fid: " in same.stdout and "at the end of training (same provenance)" in same.stdout
    other = cli(ckpt, "metrics.num_samples=96", "trainer.accelerator=cpu", module="lightning_r1.evaluate")
    assert other.returncode == 0, other.stderr[-3000:]
    refused = [
        line for line in other.stderr.splitlines() if line.startswith("evaluate: val/fid not put beside")
    ]
    assert len(refused) == 1 and "num_generated (96 vs 64)" in refused[0], other.stderr
    assert "val/fid: " not in other.stdout
    written = json.loads((runs[64] / "eval.json").read_text())
    assert written["provenance"]["val/fid"] == {**fid, "real_stats_cache_key": key, "num_generated": 96}
    assert written["provenance"]["val/class_accuracy"]["num_generated"] == 96

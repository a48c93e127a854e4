"""``python -m lightning_r1.report.stacked_mnist`` on two tiny StackedMNIST runs of the app."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from conftest import compose_config
from lightning_r1 import run_dir as rd
from lightning_r1.app import train
from lightning_r1.models import build_dcgan
from lightning_r1.report import stacked_mnist

TINY = ["experiment=stacked_mnist", "iterations=2", "model.width=8", "dataset.size=256", "batch_size=16",
        "metrics.num_samples=100", "metrics.batch_size=50"]  # fmt: skip


def count(net) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.slow
def test_table_and_histograms_equal_the_runs(tmp_path: Path, capsys) -> None:
    sweep = tmp_path / "sweep"
    for job, seed in enumerate((0, 1)):
        train(compose_config([*TINY, f"seed={seed}"], sweep / str(job)))
    train(compose_config([*TINY, "seed=0", "model.d_width=4"], sweep / "quarter"))  # its own row
    stacked_mnist.main([str(sweep), "--figures", str(tmp_path / "figures")])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| relativistic")]
    pairs = {d_width: build_dcgan(64, 32, 3, 8, d_width=d_width) for d_width in (4, 8)}  # the runs' nets
    d_to_g = {w: count(pair.discriminator) / count(pair.generator) for w, pair in pairs.items()}
    (row,) = [line for line in rows if f"| {d_to_g[8]:.2f} |" in line]
    (quarter,) = [line for line in rows if f"| {d_to_g[4]:.2f} |" in line]
    assert "| 0 | 2 |" in quarter
    summaries = [json.loads((sweep / j / rd.SUMMARY).read_text()) for j in "01"]
    modes = [s["metrics"]["val/modes_covered"] for s in summaries]
    se = statistics.stdev(modes) / math.sqrt(2)
    assert f"{sum(modes) / 2:.1f} ± {se:.1f} ({modes[0]:.1f} / {modes[1]:.1f})" in row
    assert "r1+r2" in row and "0, 1" in row
    # the channel column by hand: MNIST-5k holds 500 of each digit, so each channel's data frequency is 1/10
    by_hand = []
    for j in "01":
        modes = np.load(sweep / j / rd.STACKED_MODES)
        q = [np.bincount(d, minlength=10) / len(d) for d in (modes // 100, modes // 10 % 10, modes % 10)]
        by_hand.append([sum(v * math.log(10 * v) for v in channel if v > 0) for channel in q])
    mean = np.mean(by_hand, axis=0)
    assert f"| {mean.sum():.3f} ({mean[0]:.3f} / {mean[1]:.3f} / {mean[2]:.3f}) |" in row
    for j, s in zip("01", summaries, strict=True):
        predicted = np.load(sweep / j / rd.STACKED_MODES)
        assert predicted.shape == (100,) and len(set(predicted.tolist())) == s["metrics"]["val/modes_covered"]
    assert (tmp_path / "figures" / "stacked_mnist_modes.png").is_file()

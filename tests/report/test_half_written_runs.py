"""``python -m lightning_r1.report`` on a sweep holding a half-written run (a disk filled up, a job killed mid-write):
the report is written from what can be read, and each unreadable file is named with its run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TOY, compose_config
from lightning_r1.app import train


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished toy runs, ``0`` and ``1``, each with sample grids at iterations 1 and 2."""
    root = tmp_path_factory.mktemp("sweep")
    for job, gamma in enumerate(("1", "10")):
        train(
            compose_config(
                [*TOY, "iterations=2", "samples_every=1", f"regularizer.r1.gamma={gamma}"], root / str(job)
            )
        )
    return root


def report(sweep: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lightning_r1.report", str(sweep)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_zero_byte_files_are_skipped_and_named(sweep: Path) -> None:
    """Was: a traceback from PIL on the 0-byte grid, and no report at all."""
    broken = sweep / "1"
    grid = sorted((broken / "samples").glob("iter_*.png"))[-1]
    grid.write_bytes(b"")
    (broken / "metrics.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n")  # not text: a half-flushed block
    result = report(sweep)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    warnings = [
        line for line in result.stderr.splitlines() if line.startswith("lightning_r1.report: warning:")
    ]
    assert any(f"{broken}: unreadable samples/{grid.name}" in line for line in warnings), result.stderr
    assert any(f"{broken}: unreadable metrics.csv" in line for line in warnings), result.stderr
    text = (sweep / "report.md").read_text()
    assert f"{broken}: unreadable samples/{grid.name}" in text  # the report says it too
    assert (sweep / "samples_mosaic.png").stat().st_size > 0 and (sweep / "report.png").stat().st_size > 0

    (broken / "summary.json").write_bytes(b"")  # now also the summary
    result = report(sweep)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{broken}: unreadable summary.json" in result.stderr
    assert "2 runs (1 with problems)" in result.stdout

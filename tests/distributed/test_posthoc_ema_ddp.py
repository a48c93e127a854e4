"""Post-hoc EMA under DDP (2 processes, gloo, CPU): every rank holds the averages one process on the global batch
holds, and the snapshot files are those of one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT


def run(out: Path, devices: int) -> None:
    out.mkdir()
    script = REPO_ROOT / "tests" / "helpers" / "posthoc_ddp_run.py"
    result = subprocess.run([sys.executable, str(script), str(out), str(devices)],
                            capture_output=True, text=True, timeout=400, cwd=out)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow  # about 35 s on a loaded 2-core machine
def test_two_processes_hold_and_write_the_averages_of_one(tmp_path: Path) -> None:
    run(tmp_path / "one", 1)
    run(tmp_path / "two", 2)
    single, rank0, rank1 = (
        torch.load(tmp_path / d / f"rank{r}.pt") for d, r in (("one", 0), ("two", 0), ("two", 1))
    )
    assert single["iteration"] == rank0["iteration"] == rank1["iteration"] == 8
    for ours, other, reference in zip(rank0["emas"], rank1["emas"], single["emas"], strict=True):
        for key, value in reference.items():
            assert torch.equal(ours[key], other[key]), key  # the ranks agree bit for bit
            torch.testing.assert_close(ours[key], value, atol=1e-5, rtol=0)
    folders = [tmp_path / d / "checkpoints" / "posthoc" for d in ("one", "two")]
    names = [sorted(p.name for p in folder.iterdir()) for folder in folders]
    assert names[0] == names[1] == ["iter_4.pt", "iter_8.pt"]  # no stray .tmp files either
    for name in names[0]:
        a, b = (torch.load(folder / name, weights_only=True) for folder in folders)
        for ours, reference in zip(b["params"], a["params"], strict=True):
            for key, value in reference.items():
                torch.testing.assert_close(ours[key], value, atol=1e-5, rtol=0)
        assert a["images_seen"] == b["images_seen"] == 16 * int(name[5:-3])  # the global batch counts

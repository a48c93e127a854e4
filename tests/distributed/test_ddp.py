"""DDP on CPU (2 processes, gloo) ends where one process on the same global batch ends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT


def run(out: Path, devices: int, penalty: str, loss: str) -> dict[str, torch.Tensor]:
    script = REPO_ROOT / "tests" / "helpers" / "ddp_run.py"
    result = subprocess.run([sys.executable, str(script), str(out), str(devices), penalty, loss],
                            capture_output=True, text=True, timeout=400, cwd=out.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return torch.load(out)


# WGAN-GP is also a case of the equivalence harness (test_scale_equivalence.py); here it runs with the slow tests
@pytest.mark.parametrize(
    "penalty, loss",
    [pytest.param("wgan_gp", "wasserstein", marks=pytest.mark.slow), ("r1_lazy_r2", "relativistic")],
)
def test_two_processes_match_one_process_on_the_global_batch(tmp_path: Path, penalty: str, loss: str) -> None:
    single = run(tmp_path / "single.pt", 1, penalty, loss)
    ddp = run(tmp_path / "ddp.pt", 2, penalty, loss)
    assert single.keys() == ddp.keys()
    for key, value in single.items():
        torch.testing.assert_close(ddp[key], value, atol=1e-5, rtol=0)


def test_fid_under_ddp_is_computed_once_and_reaches_every_rank(tmp_path: Path) -> None:
    """Rank 0 computes FID and broadcasts it: both ranks log the same values, equal to a one-process run's."""
    script = REPO_ROOT / "tests" / "helpers" / "ddp_metrics_run.py"
    for devices in (1, 2):
        result = subprocess.run([sys.executable, str(script), str(tmp_path), str(devices)], capture_output=True,
                                text=True, timeout=400, cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
    single, rank0, rank1 = (json.loads((tmp_path / f"devices{d}_rank{r}.json").read_text())
                            for d, r in ((1, 0), (2, 0), (2, 1)))  # fmt: skip
    assert [h["iteration"] for h in rank0["history"]] == [2, 4]
    assert (rank0.pop("compute_calls"), rank1.pop("compute_calls")) == (2, 0)  # rank 0 computes, rank 1 waits
    assert rank1 == rank0  # and receives rank 0's values (history and the logged val/fid)
    for ours, reference in zip(rank0["history"], single["history"], strict=True):
        assert ours["val/fid"] == pytest.approx(reference["val/fid"], rel=1e-3)

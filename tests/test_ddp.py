"""DDP on CPU (2 processes, gloo) ends where one process on the same global batch ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT


def run(out: Path, devices: int, penalty: str, loss: str) -> dict[str, torch.Tensor]:
    script = REPO_ROOT / "tests" / "ddp_run.py"
    result = subprocess.run([sys.executable, str(script), str(out), str(devices), penalty, loss],
                            capture_output=True, text=True, timeout=400, cwd=out.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return torch.load(out)


@pytest.mark.parametrize("penalty, loss", [("wgan_gp", "wasserstein"), ("r1_lazy_r2", "relativistic")])
def test_two_processes_match_one_process_on_the_global_batch(tmp_path: Path, penalty: str, loss: str) -> None:
    single = run(tmp_path / "single.pt", 1, penalty, loss)
    ddp = run(tmp_path / "ddp.pt", 2, penalty, loss)
    assert single.keys() == ddp.keys()
    for key, value in single.items():
        torch.testing.assert_close(ddp[key], value, atol=1e-5, rtol=0)

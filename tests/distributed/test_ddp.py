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


@pytest.mark.parametrize(
    "penalty, loss",
    [("wgan_gp", "wasserstein"), ("r1_lazy_r2", "relativistic")],
)
# slow: two Python-API runs on gloo; built through the app, lazy R1 + R2, the relativistic loss and WGAN-GP under
# DDP are cases of the equivalence harness in the default run (test_scale_equivalence.py)
@pytest.mark.slow
def test_two_processes_match_one_process_on_the_global_batch(tmp_path: Path, penalty: str, loss: str) -> None:
    single = run(tmp_path / "single.pt", 1, penalty, loss)
    ddp = run(tmp_path / "ddp.pt", 2, penalty, loss)
    assert single.keys() == ddp.keys()
    for key, value in single.items():
        torch.testing.assert_close(ddp[key], value, atol=1e-5, rtol=0)


@pytest.mark.slow  # two gloo processes; the sharding itself is tests/metrics/test_sharded.py
def test_fid_kid_prc_under_ddp_are_sharded_and_equal_one_process(tmp_path: Path) -> None:
    """Each rank featurizes its share (the real pass too, on a cold cache) and rank 0 scores the gathered features:
    both ranks log the values of a one-process run (within 1e-3), and the two processes fill torch-fidelity's cache
    with the files (names and contents) one process writes, so a later one-process run reads them."""
    script = REPO_ROOT / "tests" / "helpers" / "ddp_metrics_run.py"
    for devices, cache in ((1, "cold1"), (2, "cold2")):
        result = subprocess.run([sys.executable, str(script), str(tmp_path), str(devices), cache],
                                capture_output=True, text=True, timeout=400, cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
    single, rank0, rank1 = (json.loads((tmp_path / f"devices{d}_{c}_rank{r}.json").read_text())
                            for d, c, r in ((1, "cold1", 0), (2, "cold2", 0), (2, "cold2", 1)))  # fmt: skip
    assert [h["iteration"] for h in rank0["history"]] == [2, 4]
    assert (rank0.pop("compute_calls"), rank1.pop("compute_calls")) == (2, 2)  # every rank takes part
    reads = rank0.pop("real_reads"), rank1.pop("real_reads")  # the real pass was sharded: about half each
    assert sum(reads) >= 501 and max(reads) <= 251 + 1  # (+1: torch-fidelity looks at item 0 of its input)
    assert rank1 == rank0  # rank 0's values reach every rank
    keys = ("val/fid", "val/kid_mean", "val/kid_std", "val/precision", "val/recall")
    for ours, reference in zip(rank0["history"], single["history"], strict=True):
        assert set(keys) <= set(reference)
        for key in keys:
            assert ours[key] == pytest.approx(reference[key], rel=1e-3, abs=1e-3), key
    one, two = ({p.name: p for p in (tmp_path / cache).iterdir()} for cache in ("cold1", "cold2"))
    assert sorted(one) == sorted(two) and len(one) >= 2  # features of each layer and the FID statistics
    for name, path in one.items():  # features: a tensor; FID statistics: {"mu", "sigma"} (numpy)
        ours, reference = (torch.load(p, weights_only=False) for p in (two[name], path))
        if not isinstance(ours, dict):
            ours, reference = {"features": ours}, {"features": reference}
        assert sorted(ours) == sorted(reference)
        for key in ours:
            torch.testing.assert_close(
                torch.as_tensor(ours[key]), torch.as_tensor(reference[key]), atol=1e-4, rtol=1e-4
            )

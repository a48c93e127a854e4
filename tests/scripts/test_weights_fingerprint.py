"""scripts/weights_fingerprint.py, the check that a refactor changes no number: a set-up recorded twice at the same
commit compares bitwise equal, and a weight moved by one float32 ulp is reported (exit 1) with its size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location(
    "weights_fingerprint", REPO_ROOT / "scripts" / "weights_fingerprint.py"
)
weights_fingerprint = importlib.util.module_from_spec(spec)
sys.modules["weights_fingerprint"] = weights_fingerprint
spec.loader.exec_module(weights_fingerprint)

SETUP = "toy_relativistic_lazy_r1r2"


@pytest.mark.slow  # records the script's setups twice
def test_a_recording_repeats_bitwise_and_a_moved_weight_is_found(tmp_path: Path, capsys) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        assert weights_fingerprint.main(["record", str(out), "--setups", SETUP]) == 0
    assert weights_fingerprint.main(["compare", str(first), str(second)]) == 0
    assert f"{SETUP}: bitwise equal" in capsys.readouterr().out

    weights = torch.load(second / f"{SETUP}.weights.pt", weights_only=True)
    name = next(k for k in weights if k.startswith("discriminator.") and weights[k].is_floating_point())
    weights[name].view(-1)[0] = torch.nextafter(weights[name].view(-1)[0], torch.tensor(float("inf")))
    torch.save(weights, second / f"{SETUP}.weights.pt")
    assert weights_fingerprint.main(["compare", str(first), str(second)]) == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{SETUP}: 1 of {len(weights)} tensors differ") and line.endswith(f"first {name}")


def test_compare_refuses_folders_with_nothing_in_common(tmp_path: Path, capsys) -> None:
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    assert weights_fingerprint.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert "no set-up recorded in both" in capsys.readouterr().err

"""The drop-in examples run as users would run them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO_ROOT


@pytest.mark.parametrize("script", ["custom_gan.py", "own_lightning_module.py", "conditional_functional.py"])
def test_example_runs(script: str, tmp_path) -> None:
    args = [sys.executable, str(REPO_ROOT / "examples" / script), "--iterations", "20"]
    if script == "custom_gan.py":
        args += ["--out", str(tmp_path)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "20 iterations" in result.stdout

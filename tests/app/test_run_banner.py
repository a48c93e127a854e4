"""A run prints its run directory and the chosen config groups first, on the screen and in train.log; the README
names every file it writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import CONF_DIR, REPO_ROOT

TINY = ["model.hidden=8", "model.layers=1", "gan.latent_dim=4", "iterations=2", "samples_every=0",
        "checkpoint_every=0", "metrics=none"]  # fmt: skip


def test_the_run_directory_and_each_groups_choice_come_first(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ["experiment=ring8", "regularizer=[r1,r2]", "loss=hinge", *TINY, f"hydra.run.dir={run_dir}"]
    result = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *args], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    shown = result.stdout + result.stderr
    assert f"run directory: {run_dir} (the full config: config.yaml)" in shown
    banner = shown.split(f"run directory: {run_dir} (the full config", 1)[1]
    assert banner.index("metrics=none") < banner.index("Training")  # before the first step
    chosen = dict(re.findall(r"^  (\w+)=(\S+)$", banner, flags=re.M))
    assert (
        chosen["experiment"] == "ring8" and chosen["regularizer"] == "[r1,r2]" and chosen["loss"] == "hinge"
    )
    assert chosen["model"] == "mlp" and chosen["dataset"] == "ring8"  # the experiment's choices
    assert chosen["logger"] == "csv" and chosen["metrics"] == "none"
    groups = {
        p.name for p in Path(CONF_DIR).iterdir() if p.is_dir() and p.name not in ("hydra", "__pycache__")
    }
    assert set(chosen) == groups  # every group, nothing of Hydra's own
    for group, choice in chosen.items():  # each names a file of its group
        for name in choice.strip("[]").split(","):
            assert (Path(CONF_DIR) / group / f"{name}.yaml").is_file(), (group, name)
    log = (run_dir / "train.log").read_text()
    assert "run directory:" in log and "  regularizer=[r1,r2]" in log  # the log file keeps it too
    readme = (REPO_ROOT / "README.md").read_text()
    for entry in run_dir.iterdir():  # the README's run-directory table names every file the run wrote
        assert f"`{entry.name}" in readme, entry.name

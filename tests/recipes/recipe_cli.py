"""What every recipe test does: write a throw-away member (Python in a code folder, YAML in a config folder) outside
the package, then train it for a few iterations through the real CLI (``python train.py``), with the code folder on
``PYTHONPATH`` and the config folder on Hydra's search path (docs/architecture.md, "Where to add …")."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]

# ring8 through 1-layer MLPs of width 8: each run is the interpreter's start-up and three iterations
TINY = ["dataset=ring8", "model=mlp", "model.hidden=8", "model.layers=1", "gan.latent_dim=4", "batch_size=16",
        "iterations=3", "samples_every=0", "checkpoint_every=0", "metrics=none",
        "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1"]  # fmt: skip


def write(root: Path, files: dict[str, str]) -> None:
    """``{relative path: text}`` written under ``root`` (folders made as needed)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def train(tmp_path: Path, *overrides: str, base: list[str] = TINY) -> Path:
    """``python train.py BASE... OVERRIDES...`` with ``tmp_path/code`` importable and ``tmp_path/conf`` on Hydra's
    search path; returns the run directory (the run must succeed).

    An override choosing a group (``model=tanh_pair``) replaces ``base``'s choice and ``base``'s settings for it.
    """
    chosen = {o.split("=")[0] for o in overrides if "." not in o.split("=")[0]}
    kept = [t for t in base if t.split("=")[0].split(".")[0] not in chosen]
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp_path / "code"), env.get("PYTHONPATH")) if p)
    args = [*kept, *overrides, f"hydra.searchpath=[file://{tmp_path / 'conf'}]", f"hydra.run.dir={run_dir}"]
    result = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *args], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def metric_rows(run_dir: Path, *keys: str) -> list[dict[str, float]]:
    """The rows of ``metrics.csv`` that have every one of ``keys``, as floats."""
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {key: float(row[key]) for key in ("iteration", *keys)}
        for row in rows
        if all(row.get(k) for k in keys)
    ]


def last_checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)

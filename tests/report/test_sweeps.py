"""Hydra launchers and sweepers on CPU-sized toy runs: submitit_local, joblib (2 jobs at once), optuna."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, TOY

TESTS_DIR = REPO_ROOT / "tests"  # on the workers' PYTHONPATH, for helpers.probes.Rendezvous
QUIET = ["metrics=none", "trainer.enable_progress_bar=false", "checkpoint_every=0", "samples_every=0"]


def train_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])  # Rendezvous, in workers
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=400,
    )


def summaries(sweep: Path, n: int) -> list[dict]:
    out = [json.loads((sweep / str(i) / "summary.json").read_text()) for i in range(n)]
    assert all(s["status"] == "completed" for s in out)
    return out


@pytest.mark.slow  # two launcher processes: CI runs it in its second step
def test_submitit_local_runs_a_two_job_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=submitit_local", "regularizer=none,r1", *TOY, *QUIET, "iterations=4",
            f"hydra.sweep.dir={sweep}"]  # fmt: skip
    result = train_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Submitit 'local' sweep output dir" in result.stdout + result.stderr
    done = summaries(sweep, 2)
    assert [s["regularizers"] for s in done] == [[], ["r1"]] and all(s["iterations"] == 4 for s in done)
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2  # each job ran as a submitit job


@pytest.mark.slow  # two joblib workers: CI runs it in its second step
def test_optuna_trials_run_two_at_once_with_joblib(tmp_path: Path) -> None:
    sweep, meeting = tmp_path / "sweep", tmp_path / "rendezvous"
    args = ["-m", "experiment=optuna_r1_gamma", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
            "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "objective=train/d_loss", *TOY, *QUIET,
            "iterations=4", "+callbacks.rendezvous._target_=helpers.probes.Rendezvous",
            f"+callbacks.rendezvous.directory={meeting}", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    result = train_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    done = summaries(sweep, 2)
    pids = {json.loads(p.read_text())["pid"] for p in meeting.glob("*.json")}
    # Two worker processes, both inside fit at the same time.
    assert len(pids) == 2 and os.getpid() not in pids
    gammas = [
        float(o.split("=")[1]) for s in done for o in s["overrides"] if o.startswith("regularizer.r1.gamma=")
    ]
    assert len(gammas) == 2 and all(0.01 <= g <= 100 for g in gammas)  # the search space of the experiment
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == min(s["metrics"]["train/d_loss"] for s in done)
    assert results["best_params"]["regularizer.r1.gamma"] in gammas

"""Run-directory faults, each through the real CLI (``python train.py`` in a subprocess): a resume in place (what a
SLURM requeue does), a new run in a used folder, two runs at once in one folder, SIGTERM, ``ckpt_path=last`` with
no checkpoint. The table of docs/faults.md ("Run directories, resume and signals") points here."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import REPO_ROOT, TOY, compose_config
from helpers.fault_helpers import tmpfs
from lightning_r1.app import train
from lightning_r1.callbacks.run_summary import write_json_atomically
from lightning_r1.errors import CheckpointError

TRAIN_PY = str(REPO_ROOT / "train.py")
QUIET = ["trainer.enable_progress_bar=false"]
# Every row of metrics.csv, mode metrics every 2 iterations (their best values go into summary.json).
LOGGED = [*TOY, "trainer.log_every_n_steps=1", "gan.diagnostics_every=1", "samples_every=2", "metrics=modes",
          "metrics.every=2", "metrics.num_samples=200"]  # fmt: skip


def cli(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, TRAIN_PY, *args, *QUIET], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "WANDB_MODE": "offline"})  # fmt: skip


def wandb_records(run_file: Path) -> list[dict]:
    """The records of a ``.wandb`` file, decoded by wandb itself (as in tests/app/test_loggers.py)."""
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_file)],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, TRAIN_PY, *args, *QUIET], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "training did not get going"
        time.sleep(0.05)


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- 26.1: a resume in place keeps and continues the run's history --------------------------------------------
@pytest.mark.slow  # 80 s on 2 busy cores: three runs, two with offline wandb
def test_resume_in_place_continues_metrics_wandb_samples_and_best_values(tmp_path: Path) -> None:
    """A run stopped after iteration 5 whose newest periodic checkpoint is iteration 3 (what a requeue after a
    kill finds), resumed in its own folder to 8: metrics.csv is byte for byte the uninterrupted run's (the rows up
    to the checkpoint kept, those logged after it dropped and logged again), wandb goes on in the same run."""
    reference = tmp_path / "reference"
    train(compose_config([*LOGGED, "iterations=8"], reference))
    run = tmp_path / "run"
    first = cli([*LOGGED, "iterations=5", "checkpoint_every=3", "logger=[csv,wandb]", f"hydra.run.dir={run}"],
                tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    iterations_before = [float(r["iteration"]) for r in csv.DictReader((run / "metrics.csv").open())]
    assert max(iterations_before) == 5
    resumed = cli([*LOGGED, "iterations=8", "logger=[csv,wandb]", f"hydra.run.dir={run}",
                   f"ckpt_path={run / 'checkpoints' / 'iter_3.ckpt'}"], tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # was: only the rows logged after the resume (Lightning's CSV writer deletes the file)
    assert (run / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    # every grid kept: those of the resumed run, and iteration 5's of the stopped one (the only one it wrote
    # after the checkpoint, which the resumed run does not draw: its grids fall on even iterations)
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        f"iter_00000{i}.png" for i in (2, 4, 5, 6, 8)
    ]
    summary, expected = (json.loads((d / "summary.json").read_text()) for d in (run, reference))
    assert summary["status"] == "completed" and summary["iterations"] == 8
    assert summary["best"] == expected["best"]  # over the whole history: found before the resume
    assert all(best["iteration"] < 3 for best in summary["best"].values())
    wandb_runs = sorted((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(wandb_runs) == 2
    records = [wandb_records(path) for path in wandb_runs]
    run_ids = {r["run"]["run_id"] for rs in records for r in rs if r["type"] == "run"}
    assert len(run_ids) == 1  # the resumed run logs into the same wandb run (was: a new one)
    logged = [r["history"]["item"].get("iteration") for r in records[1] if r["type"] == "history"]
    assert max(i for i in logged if i is not None) == 8


# ---- 26.2: a new run in a used folder is refused ------------------------------------------------------------------
@pytest.mark.slow  # three processes (~20 s of CPU)
def test_a_new_run_in_a_used_folder_is_refused_and_default_and_sweep_folders_still_work(
    tmp_path: Path,
) -> None:
    done = cli([*TOY, "iterations=2", "metrics=none"], tmp_path)  # the default outputs/<date>/<time>
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = tmp_path.glob("outputs/*/*")
    last, summary = run / "checkpoints" / "last.ckpt", run / "summary.json"
    before = {p: sha256(p) for p in (last, summary, run / "config.yaml", run / "metrics.csv")}
    again = cli([*TOY, "iterations=3", "metrics=none", f"hydra.run.dir={run}"], tmp_path)
    assert again.returncode == 2, again.stderr[-3000:]
    assert last_line(again) == (
        f"lightning_r1: error: run_dir: expected a new folder, got {run}, which holds an earlier run "
        f"(checkpoints/last.ckpt); give this run a new folder (hydra.run.dir=...), or resume that run with "
        f"ckpt_path={last}"
    )
    assert "Traceback" not in again.stderr
    assert {p: sha256(p) for p in before} == before  # nothing of the earlier run touched
    sweep = cli(["-m", *TOY, "iterations=2", "metrics=none", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                tmp_path)  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    for job in ("0", "1"):
        assert json.loads((tmp_path / "sweep" / job / "summary.json").read_text())["status"] == "completed"


# ---- 26.3: two runs at once in one folder ----------------------------------------------------------------------------
@pytest.mark.slow  # three processes (~20 s of CPU)
def test_a_second_run_in_a_folder_in_use_stops_and_a_killed_runs_lock_does_not_block(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*TOY, "metrics=none", "samples_every=5", "checkpoint_every=5", f"hydra.run.dir={run}"]
    first = start([*args, "iterations=100000"], tmp_path)
    try:
        wait_for(run / "checkpoints" / "iter_5.ckpt", first)
        second = cli([*args, "iterations=7", f"ckpt_path={run / 'checkpoints' / 'iter_5.ckpt'}"], tmp_path)
        assert second.returncode == 2, second.stderr[-3000:]
        assert last_line(second) == (
            f"lightning_r1: error: run_dir: expected a folder no other run is using, got {run}, where process "
            f"{first.pid} is training now; wait for it to end, or give this run a new folder (hydra.run.dir=...)"
        )
        assert first.poll() is None  # the first run trains on
        first.send_signal(signal.SIGKILL)  # a stale lock: its process is gone
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    periodic = max((run / "checkpoints").glob("iter_*.ckpt"), key=lambda p: int(p.stem.split("_")[1]))
    k = int(periodic.stem.split("_")[1])
    resumed = cli([*args, f"iterations={k + 2}", f"ckpt_path={periodic}"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run / "summary.json").read_text())["iterations"] == k + 2


# ---- 26.9: SIGTERM saves, exits 143 and says so ---------------------------------------------------------------------
def test_sigterm_exits_143_and_the_summary_says_a_signal_stopped_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start(
        [*TOY, "metrics=none", "iterations=100000", "samples_every=5", f"hydra.run.dir={run}"], tmp_path
    )
    wait_for(run / "samples" / "iter_000005.png", proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]  # was 0
    summary = json.loads((run / "summary.json").read_text())
    iteration = summary["iterations"]
    assert summary["status"] == "stopped"
    assert summary["error"] == (
        f"stopped by signal SIGTERM at iteration {iteration}; resume with ckpt_path={run / 'checkpoints' / 'last.ckpt'}"
    )


# ---- 26.12: ckpt_path=last without a checkpoint ----------------------------------------------------------------------
def test_ckpt_path_last_without_a_checkpoint_is_one_line_exit_2(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = cli([*TOY, "iterations=2", "metrics=none", "ckpt_path=last", f"hydra.run.dir={run}"], tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]  # was: trained from scratch after a warning
    assert last_line(result) == (
        "lightning_r1: error: ckpt_path: expected a checkpoint to resume, got last, and this run directory has "
        f"none ({run / 'checkpoints' / 'last.ckpt'} does not exist); give the checkpoint's path, or leave "
        "ckpt_path out to start a new run"
    )
    assert not (run / "checkpoints").exists()


# ---- 26.7, 26.8, issue 28: a resume starts from the checkpoint's config; what changes is listed, applied or refused --
@pytest.mark.slow  # three processes (~20 s of CPU)
def test_ckpt_path_alone_resumes_the_same_setup_and_a_changed_lr_is_listed_and_used(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = cli([*TOY, "metrics=none", "iterations=4", f"hydra.run.dir={run}"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    last = run / "checkpoints" / "last.ckpt"
    # no TOY settings: the checkpoint's (ring8, MLP, latent 8) are the base; was: refused as another set-up
    resumed = cli(["iterations=6", "optim.lr=1e-5", f"ckpt_path={last}", f"hydra.run.dir={run}"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    notes = [line for line in (resumed.stdout + resumed.stderr).splitlines() if "changed settings" in line]
    assert len(notes) == 1 and notes[0].endswith(
        f"resuming {last} with changed settings (applied): iterations 4 -> 6, optim.lr 0.0002 -> 1e-05, "
        "optim.g.lr 0.0002 -> 1e-05, optim.d.lr 0.0002 -> 1e-05"
    )
    config = OmegaConf.load(run / "config.yaml")
    assert config.dataset._target_.endswith("Ring8DataModule") and config.gan.latent_dim == 8
    state = torch.load(last, weights_only=True)
    assert state["lightning_r1"]["iteration"] == 6
    # the value config.yaml records is the one the optimizers used (was: the checkpoint's 2e-4 kept)
    trained_with = [group["lr"] for opt in state["optimizer_states"] for group in opt["param_groups"]]
    assert trained_with == [config.optim.g.lr, config.optim.d.lr] == [1e-5, 1e-5]
    sgd = cli(["iterations=8", "optim=sgd", f"ckpt_path={last}", f"hydra.run.dir={run}"], tmp_path)
    assert sgd.returncode == 2, sgd.stderr[-3000:]  # was: KeyError 'momentum' at the first step, exit 1
    assert last_line(sgd) == (
        f"lightning_r1: error: ckpt_path: expected a checkpoint of this run's set-up, got {last}, written by "
        "another one: optimizers Adam (G), Adam (D) there, SGD (G), SGD (D) here"
    )


def test_a_resume_with_another_seed_is_refused(tmp_path: Path) -> None:
    """The resumed run continues the checkpoint's random streams, so ``seed`` cannot take a new value."""
    run = tmp_path / "run"
    train(compose_config([*TOY, "metrics=none", "iterations=2"], run))
    last = run / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError) as info:
        train(compose_config([*TOY, "metrics=none", "iterations=4", "seed=1", f"ckpt_path={last}"], run))
    assert str(info.value) == (
        "seed: expected the checkpoint's value 0 when resuming (a resume continues the checkpoint's random "
        "streams), got 1; start a new run (without ckpt_path) for seed=1"
    )
    assert torch.load(last, weights_only=True)["lightning_r1"]["iteration"] == 2  # nothing trained


# ---- 26.4: a disk that fills up in the middle of a run ----------------------------------------------------------------
def test_a_disk_that_fills_mid_run_fails_the_run_removes_the_partial_checkpoint_and_says_why(
    tmp_path: Path,
) -> None:
    """A real 1 MiB tmpfs, a 72 KiB checkpoint every iteration: the disk fills after a few of them."""
    with tmpfs(tmp_path / "mnt", "size=1m") as mnt:
        run = mnt / "run"
        args = [*TOY, "metrics=none", "iterations=100000", "samples_every=0", "checkpoint_every=1"]
        result = cli([*args, f"hydra.run.dir={run}"], tmp_path)
        assert result.returncode == 1, result.stderr[-3000:]
        summary = json.loads((run / "summary.json").read_text())  # was: a 0-byte file
        assert summary["status"] == "failed"
        assert re.fullmatch(
            rf"OSError: \[Errno 28\] No space left on device: {re.escape(str(run / 'checkpoints'))} while writing "
            r"(iter_\d+|last)\.ckpt \(the partial file was removed; the earlier checkpoints are intact\)",
            summary["error"],
        )
        assert not list(run.rglob("*.tmp"))  # was: a partial .tmp checkpoint filling the disk
        periodic = sorted((run / "checkpoints").glob("iter_*.ckpt"), key=lambda p: int(p.stem.split("_")[1]))
        assert len(periodic) >= 2
        for path in periodic:  # every checkpoint on disk is whole
            assert torch.load(path, weights_only=True)["lightning_r1"]["iteration"] == int(
                path.stem.split("_")[1]
            )


def test_a_summary_that_does_not_fit_leaves_the_previous_one_whole(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "size=64k") as mnt:
        summary = mnt / "summary.json"
        write_json_atomically(summary, {"status": "completed", "iterations": 6})
        before = summary.read_bytes()
        filler = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        with pytest.raises(OSError, match="No space left on device"):  # fill the disk up
            while True:
                os.write(filler, b"\0" * 4096)
        os.close(filler)
        with pytest.raises(OSError, match="No space left on device"):
            write_json_atomically(summary, {"status": "failed", "error": "x" * 100_000})
        assert summary.read_bytes() == before  # was: truncated to 0 bytes by write_text
        assert sorted(p.name for p in mnt.iterdir()) == ["filler", "summary.json"]


# ---- 26.17: a small $TMPDIR ------------------------------------------------------------------------------------------
def test_checkpoints_are_written_in_the_run_directory_not_staged_in_a_small_tmpdir(tmp_path: Path) -> None:
    """A real 32 KiB tmpfs as ``$TMPDIR``, smaller than one 72 KiB toy checkpoint (was: ``No space left on
    device`` at the first checkpoint, naming neither folder: Lightning wrote each file in ``$TMPDIR`` first)."""
    with tmpfs(tmp_path / "small_tmp", "size=32k") as small_tmp:
        run = tmp_path / "run"
        result = subprocess.run(
            [sys.executable, TRAIN_PY, *TOY, "metrics=none", "iterations=4", "checkpoint_every=2",
             f"hydra.run.dir={run}", *QUIET],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, "TMPDIR": str(small_tmp)},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert list(small_tmp.iterdir()) == []
    for name in ("iter_2.ckpt", "iter_4.ckpt", "last.ckpt"):
        assert torch.load(run / "checkpoints" / name, weights_only=True)["lightning_r1"]["iteration"] in (
            2,
            4,
        )

"""Loggers: a 2×2 multirun logging to wandb offline (its run files read back with wandb's own reader, the report's
numbers checked against the summaries), the keyless offline fallback, TensorBoard event files."""

from __future__ import annotations

import contextlib
import http.server
import json
import math
import os
import re
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO_ROOT, TOY
from lightning_r1.app import train
from lightning_r1.loggers import wandb_api_key_available, wandb_logger
from lightning_r1.report import make_report
from lightning_r1.report.table import fmt, fmt_pm

QUIET = ["metrics=none", "trainer.enable_progress_bar=false", "checkpoint_every=0", "samples_every=0"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any wandb setting or netrc location, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") and k != "NETRC"}
    return {**env, **extra}


def train_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # a prompt would fail at once instead of hanging
        capture_output=True,
        text=True,
        timeout=400,
    )


def wandb_records(run_file: Path) -> list[dict]:
    """Every record of a ``.wandb`` transaction log, decoded by wandb itself (``wandb leet inspect --json``)."""
    out = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_file)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def offline_run_file(run_dir: Path) -> Path:
    files = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, f"expected one offline wandb run in {run_dir}, found {files}"
    return files[0]


def table_rows(markdown: str, heading: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the first table after ``## heading`` in report.md."""
    section = markdown.split(f"## {heading}\n", 1)[1].lstrip("\n")
    lines = section.split("\n\n", 1)[0].splitlines()
    split = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]
    return split[0], split[2:]


@pytest.mark.slow  # four wandb runs; one run's wandb files are read back in the default tests
def test_multirun_2x2_logs_each_job_to_its_own_wandb_run(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "regularizer=none,r1", "seed=0,1", "logger=[csv,wandb]", *TOY, *QUIET, "iterations=6",
            "trainer.log_every_n_steps=1", "samples_every=3", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    result = train_cli(args, tmp_path, clean_env(WANDB_MODE="offline"))
    assert result.returncode == 0, result.stderr[-3000:]
    # WANDB_MODE set by the user: no fallback notice
    assert "logged offline" not in result.stderr + result.stdout

    expected_names = ["regularizer=none,seed=0", "regularizer=none,seed=1", "regularizer=r1,seed=0", "regularizer=r1,seed=1"]  # fmt: skip
    summaries, run_ids = [], set()
    for job, name in enumerate(expected_names):
        run_dir = sweep / str(job)
        summary = json.loads((run_dir / "summary.json").read_text())
        summaries.append(summary)
        assert summary["status"] == "completed" and summary["iterations"] == 6
        assert summary["regularizers"] == ([] if "none" in name else ["r1"])
        assert (run_dir / "metrics.csv").is_file() and (run_dir / "samples" / "iter_000006.png").is_file()

        records = wandb_records(offline_run_file(run_dir))
        run = next(r["run"] for r in records if r["type"] == "run")
        run_ids.add(run["run_id"])
        assert run["display_name"] == name
        assert run["run_group"] == "sweep"
        assert run["project"] == "lightning_r1"
        assert set(run["tags"]) == {"unregularized" if "none" in name else "r1", "nonsaturating"}
        history = [r["history"]["item"] for r in records if r["type"] == "history"]
        logged = {k for item in history for k in item}
        assert {"train/d_loss", "train/g_loss", "iteration"} <= logged
        assert ("train/r1" in logged) == ("r1" in name)
        last = [item for item in history if "train/d_loss" in item][-1]
        assert last["train/d_loss"] == pytest.approx(summary["metrics"]["train/d_loss"], rel=1e-6)
        images = [item for item in history if item.get("samples._type") == "images/separated"]
        # The sample grids of iterations 3 and 6 as wandb images, their files beside the log.
        assert len(images) == 2
        assert all(
            (offline_run_file(run_dir).parent / "files" / f).is_file()
            for f in images[-1]["samples.filenames"]
        )
        config = {}
        for r in records:
            if r["type"] == "config":
                config.update(r["config"].get("update", {}))
        assert config["iterations"] == 6 and config["seed"] == int(name[-1])  # the resolved config
        assert next(r["exit"] for r in records if r["type"] == "exit").get("exit_code", 0) == 0
    assert len(run_ids) == 4  # each job its own run, none reused by the next job of the process

    # The report's numbers are the summaries' numbers.
    report = make_report(sweep)
    md = report.markdown.read_text()
    header, rows = table_rows(md, "Runs")
    logged = {k for s in summaries for k in s["metrics"]}
    keys = {col: summary_key(col) for col in header if summary_key(col) in logged}
    assert "train/r1" in keys.values() and len(keys) >= 3
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    for row, summary, name in zip(rows, summaries, expected_names, strict=True):
        cell = dict(zip(header, row, strict=True))
        assert cell["overrides"] == f"`{name}`" and cell["status"] == "completed"
        assert cell["iterations"] == "6" and cell["wall time (s)"] == fmt(summary["wall_time_s"])
        for col, key in keys.items():
            assert cell[col] == fmt(summary["metrics"].get(key)), col
    header, rows = table_rows(md, "Mean ± std across seeds")
    assert len(rows) == 2
    for row in rows:
        cell = dict(zip(header, row, strict=True))
        group = cell["overrides (seeds pooled)"].strip("`")
        members = [s for s, n in zip(summaries, expected_names, strict=True) if n.startswith(group + ",")]
        assert cell["seeds"] == "2" and len(members) == 2
        for col, key in keys.items():
            values = [s["metrics"].get(key) for s in members]
            values = [v for v in values if v is not None and math.isfinite(v)]  # null: not finite
            if len(values) == 2:
                expected = fmt_pm(statistics.fmean(values), statistics.stdev(values))
            else:
                expected = f"{fmt(values[0])} (n=1)" if values else "–"
            assert cell[col] == expected, col
    assert report.plot and report.mosaic and not report.problems


def summary_key(column: str) -> str:
    """The summary.json metric a report column shows (``final val/x`` → ``val/x``)."""
    return column.removeprefix("final ")


def test_without_key_or_mode_wandb_goes_offline_and_says_how_to_sync(tmp_path: Path) -> None:
    home = tmp_path / "home"  # no ~/.netrc, no ~/.config/wandb
    home.mkdir()
    run_dir = tmp_path / "run"
    args = ["logger=wandb", "regularizer=[r1,r2]", *TOY, *QUIET, "iterations=3", f"hydra.run.dir={run_dir}"]
    result = train_cli(args, tmp_path, clean_env(HOME=str(home)))
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    notices = [line for line in output.splitlines() if "lightning_r1.loggers" in line]
    assert len(notices) == 1 and "logged offline" in notices[0], notices
    synced = re.search(r"wandb sync (\S+)$", notices[0])
    assert synced and Path(synced.group(1)) == offline_run_file(run_dir).parent
    records = wandb_records(offline_run_file(run_dir))
    run = next(r["run"] for r in records if r["type"] == "run")
    assert run["display_name"] == ",".join(args[:-1])[:128]  # a single run: named by all its overrides
    assert run.get("run_group", "") == ""  # a single run has no sweep group
    assert set(run["tags"]) == {"r1", "r2", "nonsaturating"}
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert not (home / ".netrc").exists()  # never logged in, never wrote credentials


def test_key_lookup_follows_env_and_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("WANDB_")] + ["NETRC"]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not wandb_api_key_available()
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine example.com login me password secret\n")
    netrc.chmod(0o600)
    assert not wandb_api_key_available()  # another host's entry is not a wandb key
    netrc.write_text(f"machine api.wandb.ai\n  login user\n  password {'a' * 40}\n")
    assert wandb_api_key_available()
    netrc.unlink()
    monkeypatch.setenv("WANDB_API_KEY", "b" * 40)
    assert wandb_api_key_available()


def test_wandb_mode_from_the_user_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("WANDB_")] + ["NETRC"]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    keyless = wandb_logger(save_dir=tmp_path, tags=["extra"])  # lazy: nothing starts until .experiment
    assert keyless._wandb_init["mode"] == "offline" and keyless._offline_notice
    assert keyless._wandb_init["name"] == "default" and keyless._wandb_init["group"] is None
    assert "extra" in keyless._wandb_init["tags"]
    monkeypatch.setenv("WANDB_MODE", "disabled")
    chosen = wandb_logger(save_dir=tmp_path, mode="online")
    assert "mode" not in chosen._wandb_init and not chosen._offline_notice  # wandb reads WANDB_MODE itself
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "c" * 40)
    with http_server() as url:  # a server that answers (any status): online, wandb's default
        monkeypatch.setenv("WANDB_BASE_URL", url)
        assert "mode" not in wandb_logger(save_dir=tmp_path)._wandb_init
    unreachable = wandb_logger(save_dir=tmp_path)  # the same URL, nobody answering: offline, with the reason
    assert unreachable._wandb_init["mode"] == "offline" and "cannot be reached" in unreachable._offline_notice


@contextlib.contextmanager
def http_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers every request (501 for HEAD), in a thread."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_tensorboard_logger_writes_event_files(make_cfg) -> None:
    cfg = make_cfg([*TOY, "logger=[csv,tensorboard]", "iterations=4", "trainer.log_every_n_steps=1"])
    train(cfg)
    events = list((Path(cfg.run_dir) / "tensorboard").rglob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    scalars = acc.Tags()["scalars"]
    assert {"train/d_loss", "train/g_loss"} <= set(scalars)
    assert len(acc.Scalars("train/d_loss")) == 4 and all(
        math.isfinite(e.value) for e in acc.Scalars("train/d_loss")
    )
    assert (Path(cfg.run_dir) / "metrics.csv").is_file()  # the run directory keeps its own history too

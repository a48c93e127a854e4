"""Fault injection: damaged and foreign checkpoints, no network for wandb, damaged FID cache, unwritable folders,
crashes, kill -9, Ctrl+C, skipped steps. Each test injects the fault for real (real Trainer, real CLI, real wandb,
real torch-fidelity) and checks what the user sees. The table of docs/faults.md points here."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT, TOY, compose_config
from helpers.fault_helpers import (
    FaultyD,
    nan_output,
    raise_keyboard_interrupt,
    send_sigint,
    send_sigint_twice,
    tmpfs,
)
from lightning_r1 import GAN
from lightning_r1.app import train
from lightning_r1.callbacks import IterationCheckpoint, PreemptionCheckpoint, RunSummary
from lightning_r1.data import ImageFolderDataModule, Ring8DataModule
from lightning_r1.errors import CheckpointError, ConfigError, is_bad_input
from lightning_r1.metrics import MetricsSetupError
from lightning_r1.metrics.real_stats_cache import data_identity, real_cache_key
from lightning_r1.models.mlp import build_mlp
from lightning_r1.report.jobs import find_jobs

TRAIN_PY = str(REPO_ROOT / "train.py")
QUIET = ["trainer.enable_progress_bar=false"]


def cli(
    args: list[str], cwd: Path, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, TRAIN_PY, *args, *QUIET], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})  # fmt: skip


def state_dict(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished toy run (ring8, MLP) with periodic checkpoints at iterations 3 and 6."""
    run_dir = tmp_path_factory.mktemp("toy") / "run"
    train(compose_config([*TOY, "iterations=6", "checkpoint_every=3"], run_dir))
    return run_dir


# ---- 1. damaged or missing checkpoint -------------------------------------------------------------------------
def test_cli_damaged_checkpoint_is_one_line_exit_2_and_never_suggests_unsafe_loading(
    toy_run: Path, tmp_path: Path
) -> None:
    good = toy_run / "checkpoints" / "iter_6.ckpt"
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # a copy cut short
    result = cli(
        [*TOY, "iterations=8", f"ckpt_path={damaged}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path
    )
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"lightning_r1: error: ckpt_path: expected a readable checkpoint, got {damaged}")
    assert "truncated or damaged" in last
    assert "Traceback" not in result.stderr and "weights_only" not in result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and "CheckpointError" in summary["error"]


def test_missing_and_bitflipped_checkpoints_are_one_line(toy_run: Path, make_cfg, tmp_path: Path) -> None:
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(
        CheckpointError, match=f"expected an existing checkpoint file, got {missing} .no such"
    ):
        train(make_cfg([*TOY, "iterations=8", f"ckpt_path={missing}"], name="a"))
    data = bytearray((toy_run / "checkpoints" / "iter_3.ckpt").read_bytes())
    for i in range(1000, len(data) - 1000, 997):  # flip bytes all over the archive, keep its length
        data[i] ^= 0xFF
    flipped = tmp_path / "flipped.ckpt"
    flipped.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"got {flipped}, which is not one"):
        train(make_cfg([*TOY, "iterations=8", f"ckpt_path={flipped}"], name="b"))
    one_flip = bytearray((toy_run / "checkpoints" / "iter_3.ckpt").read_bytes())
    middle = len(one_flip) // 2  # inside some tensor's bytes: torch.load alone would not notice
    one_flip[middle] ^= 0x01
    flipped.write_bytes(bytes(one_flip))
    with pytest.raises(
        CheckpointError, match=f"got {flipped}, which is not one .truncated or damaged: checksum"
    ):
        train(make_cfg([*TOY, "iterations=8", f"ckpt_path={flipped}"], name="c"))


# ---- 2. a checkpoint of another set-up --------------------------------------------------------------------------
def test_checkpoint_of_another_setup_names_what_differs_before_training(toy_run: Path, make_cfg) -> None:
    ckpt = toy_run / "checkpoints" / "iter_3.ckpt"
    assert "lightning_r1_config" in torch.load(ckpt, weights_only=True)  # every checkpoint carries its config
    cfg = make_cfg(
        ["iterations=8", "batch_size=8", "model.width=8", f"ckpt_path={ckpt}"]
    )  # the MNIST default
    with pytest.raises(CheckpointError) as info:
        train(cfg)
    message = str(info.value)
    assert "\n" not in message and message.startswith(
        f"ckpt_path: expected a checkpoint of this run's set-up, got {ckpt}"
    )
    assert "model build_mlp(" in message and "build_dcgan(" in message
    assert "dataset Ring8DataModule there, MNIST5kDataModule(channels=1, resolution=32) here" in message
    assert "latent size 8 there, 64 here" in message
    assert not (Path(cfg.run_dir) / "checkpoints").exists()  # stopped before the first step
    other_regs = make_cfg([*TOY, "iterations=8", "regularizer=[r1,r2]", f"ckpt_path={ckpt}"], name="regs")
    with pytest.raises(CheckpointError, match=r"regularizers \[r1\] there, \[r1, r2\] here"):
        train(other_regs)


def test_checkpoint_without_saved_config_is_compared_by_tensor_shapes(
    toy_run: Path, make_cfg, tmp_path
) -> None:
    state = torch.load(toy_run / "checkpoints" / "iter_3.ckpt", weights_only=True)
    del state["lightning_r1_config"]  # e.g. written by the Python API without the app
    bare = tmp_path / "bare.ckpt"
    torch.save(state, bare)
    cfg = make_cfg([*TOY, "model.hidden=64", "iterations=8", f"ckpt_path={bare}"])
    with pytest.raises(CheckpointError, match=r"generator\.\S+ \(32, 8\) there, \(64, 8\) here") as info:
        train(cfg)
    print(info.value)


# ---- 3. wandb with a key but no network ---------------------------------------------------------------------------
@pytest.mark.parametrize("server", ["refuses", pytest.param("never_answers", marks=pytest.mark.slow)])  # 24 s
def test_wandb_with_key_but_no_server_goes_offline_quickly(tmp_path: Path, server: str) -> None:
    """A fake 40-character key, WANDB_MODE unset, and a wandb server that is not there: nothing listens on the
    port ("refuses"), or a socket accepts connections and never answers ("never_answers": a firewall, a hung
    proxy). Without the fallback, wandb.init retries for 90 s and the run dies with CommError."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        if server == "never_answers":
            sock.listen(16)  # the kernel completes TCP handshakes; nobody ever reads or writes
        else:
            sock.close()  # nothing listens there any more
        env = {k: v for k, v in os.environ.items() if k != "WANDB_MODE"}
        env |= {"WANDB_API_KEY": "a" * 40, "WANDB_BASE_URL": f"http://127.0.0.1:{port}",
                "WANDB_CONFIG_DIR": str(tmp_path / "wandb_config")}  # fmt: skip
        run_dir = tmp_path / "run"
        args = [*TOY, "iterations=5", "logger=[csv,wandb]", f"hydra.run.dir={run_dir}", *QUIET]
        start = time.perf_counter()
        result = subprocess.run([sys.executable, TRAIN_PY, *args], cwd=tmp_path, capture_output=True, text=True,
                                timeout=120, env=env)  # fmt: skip
        elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    assert elapsed < 50, elapsed  # issue 12: ~107 s to a CommError before; process start: 8-15 s
    notice = [line for line in (result.stdout + result.stderr).splitlines() if "lightning_r1.loggers" in line]
    assert len(notice) == 1, notice
    assert (
        f"the server {env['WANDB_BASE_URL']} cannot be reached" in notice[0] and "logged offline" in notice[0]
    )
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1 and notice[0].endswith(f"wandb sync {offline_runs[0]}")
    assert list(offline_runs[0].glob("*.wandb"))  # the run's records, for `wandb sync`
    assert "train/d_loss" in (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    print(f"wandb fallback ({server}): {elapsed:.1f} s for the whole run")


# ---- 4. damaged FID real-statistics cache -------------------------------------------------------------------------
def test_damaged_fid_cache_file_is_named_rebuilt_and_the_run_goes_on(
    make_cfg, tmp_path: Path, caplog
) -> None:
    cache = tmp_path / "cache"
    fid = ["iterations=2", "batch_size=16", "model.width=8", "metrics.num_samples=200", "metrics.verbose=false",
           "metrics.num_real_samples=500", f"metrics.cache_dir={cache}"]  # fmt: skip
    first = make_cfg(fid, name="first")
    train(first)
    files = sorted(cache.glob("*.pt"))
    assert files
    for path in files:  # a disk that filled up while the file was copied
        path.write_bytes(path.read_bytes()[:100])
    second = make_cfg(fid, name="second")
    with pytest.warns(UserWarning, match=rf"cache file {files[0]} is damaged .*computed again"):
        train(second)
    fid_a = json.loads((Path(first.run_dir) / "summary.json").read_text())["metrics"]["val/fid"]
    fid_b = json.loads((Path(second.run_dir) / "summary.json").read_text())["metrics"]["val/fid"]
    assert fid_b == pytest.approx(fid_a, rel=1e-6)  # the rebuilt statistics are the same statistics
    assert all(p.stat().st_size > 1000 for p in files)


# ---- 11.15: the FID cache key knows which folder ------------------------------------------------------------------
def write_folder(folder: Path, shade: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (16, 16), (shade, i * 60, 0)).save(folder / f"{i}.png")
    return folder


def folder_key(root: Path) -> str:
    dm = ImageFolderDataModule(root=root, batch_size=2, resolution=16)
    dm.setup("fit")
    identity = data_identity(dm, dm.train_dataset)
    return real_cache_key(dm.name, "train", 16, 3, len(dm.train_dataset), "w", identity)


def test_two_image_folders_of_the_same_size_get_different_cache_keys(tmp_path: Path) -> None:
    a, b = write_folder(tmp_path / "a", 0), write_folder(tmp_path / "b", 200)
    assert folder_key(a) == folder_key(a)  # the same folder: the same statistics
    assert folder_key(a) != folder_key(b)
    before = folder_key(b)
    Image.new("RGB", (16, 16), (1, 2, 3)).save(b / "0.png")  # one image replaced
    os.utime(b / "0.png", ns=(1, 1))
    assert folder_key(b) != before


# ---- 5. unwritable run directory or cache directory ---------------------------------------------------------------
def test_unwritable_run_dir_and_cache_dir_are_one_line_before_training(make_cfg, tmp_path: Path) -> None:
    # Tests run as root, whom chmod does not stop; a path below a regular file cannot be created by anyone.
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    cfg = make_cfg([*TOY, "iterations=2"])
    cfg.run_dir = str(blocker / "run")
    with pytest.raises(
        ConfigError, match=f"run_dir: expected a writable directory, got {blocker / 'run'} .Not a"
    ):
        train(cfg)
    cfg = make_cfg(
        ["iterations=2", "batch_size=8", "model.width=8", f"metrics.cache_dir={blocker / 'cache'}"]
    )
    with pytest.raises(
        MetricsSetupError, match=f"metrics.cache_dir: expected a writable directory, got {blocker}"
    ) as e:
        train(cfg)
    assert is_bad_input(e.value)
    assert not (Path(cfg.run_dir) / "checkpoints").exists()


@pytest.mark.parametrize("options, reason", [("size=32k", "No space left on device"), ("ro", "Read-only file system")],
                         ids=["full", "read_only"])  # fmt: skip
def test_full_or_read_only_run_dir_is_one_line_before_training(
    make_cfg, tmp_path: Path, options, reason
) -> None:
    """A 32 KiB file system (the 64 KiB write probe does not fit: a full disk) and a read-only mount, which stop
    root too."""
    with tmpfs(tmp_path / "mnt", options) as mnt:
        cfg = make_cfg([*TOY, "iterations=2"])
        cfg.run_dir = str(mnt / "run") if options != "ro" else str(mnt)
        with pytest.raises(
            ConfigError, match=f"run_dir: expected a writable directory, got {cfg.run_dir} .{reason}"
        ):
            train(cfg)
        assert list(mnt.iterdir()) in ([], [mnt / "run"])  # the probe file was removed again


# ---- 6. a crash mid-run: traceback, exit 1, summary and report say failed ------------------------------------------
def test_cli_crash_mid_run_keeps_traceback_records_failure_and_last_good_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "sweep" / "0"
    args = [*TOY, "iterations=20", "checkpoint_every=2", "+callbacks.crash._target_=helpers.fault_helpers.RaiseAt",
            "+callbacks.crash.iteration=5", f"hydra.run.dir={run_dir}"]  # fmt: skip
    result = cli(args, tmp_path, env={"PYTHONPATH": str(REPO_ROOT / "tests")})
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" in result.stderr and "lightning_r1: error:" not in result.stderr  # not bad input
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["iterations"] == 5
    assert summary["error"] == "ValueError: injected fault at iteration 5"
    ckpts = {p.name for p in (run_dir / "checkpoints").iterdir()}
    assert {"iter_2.ckpt", "iter_4.ckpt"} <= ckpts and not any(n.endswith(".tmp") for n in ckpts)
    assert (
        torch.load(run_dir / "checkpoints" / "iter_4.ckpt", weights_only=True)["lightning_r1"]["iteration"]
        == 4
    )
    (job,) = find_jobs(tmp_path / "sweep")
    assert job.problem == "failed: ValueError: injected fault at iteration 5"


def test_nan_stop_is_recorded_in_summary(make_cfg) -> None:
    cfg = make_cfg([*TOY, "iterations=10", "checkpoint_every=2", "regularizer.r1.gamma=1e39"])  # float32 inf
    with pytest.raises(Exception, match="is (nan|inf)"):
        train(cfg)
    summary = json.loads((Path(cfg.run_dir) / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"].startswith("NonFiniteLossError: iteration ")
    assert "\n" not in summary["error"]


# ---- 7. kill -9 mid-run, resume from the last periodic checkpoint: bitwise equal ------------------------------------
def test_kill_9_then_resume_from_last_periodic_checkpoint_is_bitwise_equal(tmp_path: Path) -> None:
    common = [*TOY, "iterations=100000", "checkpoint_every=25", "seed=3", "regularizer=[r1,r2]"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, TRAIN_PY, *common, f"hydra.run.dir={killed}", *QUIET],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while not (killed / "checkpoints" / "iter_100.ckpt").exists():
        assert proc.poll() is None and time.time() < deadline, "training did not get going"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not (killed / "summary.json").exists()  # died without a word: nothing ran after the kill
    periodic = sorted((killed / "checkpoints").glob("iter_*.ckpt"), key=lambda p: int(p.stem.split("_")[1]))
    for path in periodic:  # written atomically: no truncated file under a real name, the newest included
        torch.load(path, weights_only=True)
    resume_from = periodic[-1]
    k = int(resume_from.stem.split("_")[1])
    end = f"iterations={k + 30}"
    resumed = compose_config([*common, end, f"ckpt_path={resume_from}"], tmp_path / "resumed")
    train(resumed)
    reference = compose_config([*common, end], tmp_path / "reference")
    train(reference)
    assert_bitwise_equal(
        state_dict(tmp_path / "resumed" / "checkpoints" / "last.ckpt"),
        state_dict(tmp_path / "reference" / "checkpoints" / "last.ckpt"),
    )
    print(f"killed after iteration >= {k}, resumed from {resume_from.name}")


# ---- 11.7: periodic checkpoints follow the iteration counter, even after a skipped step ----------------------------
def toy_gan(d_at: int | None = None, kind: str = "any", action=None, iterations: int = 8, **kwargs) -> GAN:
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    d = FaultyD(models.discriminator, at=d_at, kind=kind, action=action)
    return GAN(models.generator, d, latent_dim=4, iterations=iterations, **kwargs)


def toy_trainer(tmp_path: Path, callbacks: list) -> L.Trainer:
    return L.Trainer(callbacks=callbacks, logger=False, enable_progress_bar=False, accelerator="cpu",
                     enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip


def test_a_skipped_step_does_not_stop_periodic_checkpoints(tmp_path: Path) -> None:
    gan = toy_gan(d_at=6, action=nan_output, skip_nonfinite=True)  # call 6: a D forward of iteration 2
    ckpt = IterationCheckpoint(every_n_iterations=2, dirpath=tmp_path, filename="iter_{iteration:.0f}",
                               auto_insert_metric_name=False, save_top_k=-1)  # fmt: skip
    trainer = toy_trainer(tmp_path, [ckpt])
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))
    assert gan.nonfinite_skips == 1 and gan.iteration == 8
    assert trainer.global_step == 2 * 8 - 1  # one optimizer step fewer: a global_step grid is off by one
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == [f"iter_{i}.ckpt" for i in (2, 4, 6, 8)]
    for i in (2, 4, 6, 8):
        assert torch.load(tmp_path / f"iter_{i}.ckpt", weights_only=True)["lightning_r1"]["iteration"] == i


# ---- 11.8: Ctrl+C never leaves a half-updated last.ckpt -----------------------------------------------------------
def test_ctrl_c_stops_at_the_next_boundary_and_that_checkpoint_resumes_exactly(tmp_path: Path) -> None:
    last = tmp_path / "last.ckpt"
    gan = toy_gan(d_at=3, kind="g_step", action=send_sigint)  # a real SIGINT during the G step of iteration 3
    callbacks = [PreemptionCheckpoint(last), RunSummary(tmp_path / "summary.json")]
    # Python's own Ctrl+C handling, as in a terminal, whatever this process inherited (SIGINT starts ignored in a
    # job started in the background; the callback then keeps ignoring it, as the next-but-one test checks)
    with sigint_handler(signal.default_int_handler), pytest.raises(SystemExit):  # Lightning: sys.exit(1)
        toy_trainer(tmp_path, callbacks).fit(gan, datamodule=Ring8DataModule(batch_size=16))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["error"] == "interrupted by Ctrl+C (KeyboardInterrupt) at iteration 3"
    saved = torch.load(last, weights_only=True)
    assert saved["lightning_r1"]["iteration"] == 3 and gan.iteration == 3  # iteration 3 was finished, not cut
    resumed = toy_gan()
    toy_trainer(tmp_path / "r", []).fit(resumed, datamodule=Ring8DataModule(batch_size=16), ckpt_path=last)
    reference = toy_gan()
    toy_trainer(tmp_path / "ref", []).fit(reference, datamodule=Ring8DataModule(batch_size=16))
    assert_bitwise_equal(resumed.state_dict(), reference.state_dict())


def test_interrupt_mid_iteration_keeps_the_previous_checkpoint(tmp_path: Path, caplog) -> None:
    last = tmp_path / "last.ckpt"
    first = toy_gan(iterations=2)
    trainer = toy_trainer(tmp_path, [])
    trainer.fit(first, datamodule=Ring8DataModule(batch_size=16))
    trainer.save_checkpoint(last)
    before = hashlib.sha256(last.read_bytes()).hexdigest()
    gan = toy_gan(d_at=4, kind="g_step", action=raise_keyboard_interrupt)  # D stepped, G and EMA not yet
    handler = signal.getsignal(signal.SIGINT)
    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit):
        toy_trainer(tmp_path, [PreemptionCheckpoint(last)]).fit(
            gan, datamodule=Ring8DataModule(batch_size=16)
        )
    assert hashlib.sha256(last.read_bytes()).hexdigest() == before
    assert (
        f"in the middle of iteration 4: no checkpoint written (its state is half updated); kept {last}"
        in caplog.text
    )
    # Ctrl+C does what it did before (was: `is signal.default_int_handler`, false where SIGINT starts ignored)
    assert signal.getsignal(signal.SIGINT) is handler


# ---- 26.20: the user's SIGINT handler is theirs again, and an ignored SIGINT stays ignored -------------------------
@contextlib.contextmanager
def sigint_handler(handler) -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_second_ctrl_c_gives_back_the_users_own_handler(tmp_path: Path) -> None:
    def users_handler(signum, frame) -> None:
        raise KeyboardInterrupt

    gan = toy_gan(d_at=3, kind="g_step", action=send_sigint_twice)  # two real SIGINTs during iteration 3
    with sigint_handler(users_handler):
        with pytest.raises(SystemExit):
            toy_trainer(tmp_path, [PreemptionCheckpoint(tmp_path / "last.ckpt")]).fit(
                gan, datamodule=Ring8DataModule(batch_size=16)
            )
        assert signal.getsignal(signal.SIGINT) is users_handler  # was: SIG_IGN, left by Lightning's handler


def test_where_sigint_starts_ignored_ctrl_c_stays_ignored(tmp_path: Path) -> None:
    """As under ``nohup`` or in a background job: a SIGINT during training neither stops nor saves."""
    gan = toy_gan(d_at=3, kind="g_step", action=send_sigint, iterations=6)
    with sigint_handler(signal.SIG_IGN):
        toy_trainer(tmp_path, [PreemptionCheckpoint(tmp_path / "last.ckpt")]).fit(
            gan, datamodule=Ring8DataModule(batch_size=16)
        )  # was: stopped at iteration 3 (SystemExit)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert gan.iteration == 6 and not (tmp_path / "last.ckpt").exists()

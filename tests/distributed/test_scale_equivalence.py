"""Same seed ⇒ same run on 1 or N processes: the equivalence harness (README "Scaling up").

Every case of ``helpers/equivalence_run.py`` runs twice through ``lightning_r1.app.train`` (the function behind
``python train.py``) on the same global batch of 16: once in one process, once in 2 CPU processes over gloo with
``trainer=ddp`` and ``batch_size=8``. G, D and the EMA generator must agree within 1e-9 (in float64; the promise is
1e-5), and so must every counter,
regularizer state and optimizer setting saved in the checkpoint, and every process's RNG state.

Why float64 (``trainer.precision=64-true``): in float32, Adam turns summation-order rounding into visible
differences. A gradient component that nearly cancels over the batch (|g| ~ 1e-8, Adam's eps) carries an absolute
rounding error of the same size, which Adam's g/(√v + eps) normalisation turns into an O(lr) step: summing the
batch in two halves (two processes) or at once then differs by ~1e-3 after 8 Adam steps on ring8 while SGD agrees
to 1e-8. In float64 that rounding is 1e-17 and the comparison tests the *slicing*, which is what can be wrong.
bf16-mixed rounds each process's partial weight gradient to bf16 before the all-reduce, so there the test asserts
that 2 processes add no error beyond what bf16 itself makes against float32.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT
from helpers.equivalence_run import CASES

RUNNER = REPO_ROOT / "tests" / "helpers" / "equivalence_run.py"
NOT_COMPARED = ("bf16", "bf16_reference_float32", "stop_nan_on_one_rank", "global_batch_over_dataset")
COMPARED = [case for case in CASES if case not in NOT_COMPARED]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(out: Path, world: int, cases: list[str]) -> None:
    """Start ``world`` runner processes as torchrun would (one thread each) and wait for all of them."""
    # the checkout's package first, not whichever copy is installed (an editable install of another checkout)
    path = os.pathsep.join([str(REPO_ROOT / "tests"), str(REPO_ROOT)])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    if world > 1:
        env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(world),
                "NODE_RANK": "0"}  # fmt: skip
    logs = [out / f"world{world}_rank{rank}.log" for rank in range(world)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(RUNNER), str(out), str(world), *cases],
            env={**env, "LOCAL_RANK": str(rank)} if world > 1 else env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            cwd=out,
        )  # fmt: skip
        for rank, log in enumerate(logs)
    ]
    codes = [proc.wait(timeout=500) for proc in procs]
    assert codes == [0] * world, "\n".join(log.read_text()[-3000:] for log in logs)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("equivalence")
    launch(out, 1, list(CASES))
    launch(out, 2, [case for case in CASES if case != "bf16_reference_float32"])
    return out


def checkpoint(out: Path, world: int, case: str) -> dict:
    return torch.load(out / f"world{world}" / case / "checkpoints" / "last.ckpt", weights_only=False)


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())


def assert_states_close(one: dict, two: dict, name: str) -> None:
    """Equal keys; floats within 1e-12, every other value (counters, None, flags) exactly equal."""
    assert one.keys() == two.keys(), name
    for key, value in one.items():
        if isinstance(value, float):
            assert math.isclose(value, two[key], rel_tol=1e-12, abs_tol=1e-12), (
                f"{name}.{key}: {value} vs {two[key]}"
            )
        else:
            assert value == two[key], f"{name}.{key}: {value!r} vs {two[key]!r}"


@pytest.mark.parametrize("case", COMPARED)
def test_two_processes_end_where_one_process_ends(harness: Path, case: str) -> None:
    one, two = checkpoint(harness, 1, case), checkpoint(harness, 2, case)
    for net in ("generator.", "discriminator.", "generator_ema."):
        part = {k: v for k, v in one["state_dict"].items() if k.startswith(net)}
        assert part, net
        other = {k: v for k, v in two["state_dict"].items() if k.startswith(net)}
        assert max_difference(part, other) < 1e-9, f"{case}: {net} differs"  # float64: far inside 1e-5
    progress = ("iteration", "images_seen", "d_step_in_iteration", "nonfinite_skips")
    assert {k: one["lightning_r1"][k] for k in progress} == {k: two["lightning_r1"][k] for k in progress}
    regularizer_states = {k: v for k, v in one["callbacks"].items() if "d_steps_seen" in v}
    assert regularizer_states.keys() == {k for k, v in two["callbacks"].items() if "d_steps_seen" in v}
    for key, state in regularizer_states.items():  # float states (LeCam's averages): global means summed in
        assert_states_close(state, two["callbacks"][key], key)  # another order, so close rather than equal
    for opt_one, opt_two in zip(one["optimizer_states"], two["optimizer_states"], strict=True):
        assert [g["lr"] for g in opt_one["param_groups"]] == [g["lr"] for g in opt_two["param_groups"]]
    digests = {json.loads((harness / f"world{w}" / case / f"rng_rank{r}.json").read_text())["digest"]
               for w, r in ((1, 0), (2, 0), (2, 1))}  # fmt: skip
    assert len(digests) == 1, "every process's RNG must be where the single process's is"


def test_the_harness_cases_exercise_what_they_name(harness: Path) -> None:
    """Guards against cases that pass because nothing happened (e.g. a NaN never injected)."""
    skipped = checkpoint(harness, 2, "skip_nan_on_one_rank")["lightning_r1"]
    assert skipped["nonfinite_skips"] == 1 and skipped["iteration"] == 6
    lazy = checkpoint(harness, 2, "lazy_r1_r2_corrected")["optimizer_states"][1]["param_groups"][0]
    assert lazy["lr"] == pytest.approx(2e-4 * 2 / 3)  # corrected once for k = 2, not once per regularizer
    assert lazy["betas"] == pytest.approx((0.5 ** (2 / 3), 0.99 ** (2 / 3)))
    auto = next(v for k, v in checkpoint(harness, 2, "images_auto_gamma")["callbacks"].items() if "R1" in k)
    assert auto["resolved_auto"] == pytest.approx(0.0002 * 16**2 / 16)  # the global batch, not the per-rank 8
    assert checkpoint(harness, 2, "ema_after_rampup")["lightning_r1"]["images_seen"] == 6 * 16
    assert checkpoint(harness, 2, "resumed_r1")["lightning_r1"]["iteration"] == 6
    assert (harness / "world2" / "resumed_r1" / "first_half" / "checkpoints" / "last.ckpt").is_file()
    # ADA adapted p from r_t over the global batch: the same controller state on 1 and 2 processes
    ada = [next(v for k, v in checkpoint(harness, w, "images_ada_lecam_sn")["callbacks"].items() if k.startswith("ADA"))
           for w in (1, 2)]  # fmt: skip
    assert ada[0] == ada[1] and ada[0]["p"] != 0.9 and ada[0]["r_t"] is not None  # moved from its start


def test_resumed_two_process_run_ends_where_the_uninterrupted_one_process_run_ends(harness: Path) -> None:
    resumed, straight = checkpoint(harness, 2, "resumed_r1"), checkpoint(harness, 1, "r1")
    assert max_difference(resumed["state_dict"], straight["state_dict"]) < 1e-9


def test_resumed_conditional_two_process_run_ends_where_the_one_process_run_ends(harness: Path) -> None:
    resumed, straight = (
        checkpoint(harness, 2, "resumed_conditional"),
        checkpoint(harness, 1, "conditional_uniform"),
    )
    assert (
        "discriminator.projection.embed.weight" in straight["state_dict"]
    )  # the conditional pair really ran
    assert max_difference(resumed["state_dict"], straight["state_dict"]) < 1e-9


def test_a_nan_on_one_process_stops_every_process_at_the_same_step(harness: Path) -> None:
    run_dir = harness / "world2" / "stop_nan_on_one_rank"
    messages = [json.loads((run_dir / f"error_rank{r}.json").read_text())["message"] for r in (0, 1)]
    assert messages[1].startswith("iteration 3: train/nan_probe is nan")
    assert messages[0].startswith("iteration 3: a loss is not finite on another process")
    single = json.loads((harness / "world1" / "stop_nan_on_one_rank" / "error_rank0.json").read_text())
    assert single["message"].startswith("iteration 3: train/nan_probe is nan")


def test_a_global_batch_larger_than_the_dataset_is_refused_on_one_and_on_two_processes(harness: Path) -> None:
    """8 per process would fit 12 images; the global batch 16 does not, and short batches on the last rank were the
    result before the check counted processes."""
    for world, rank, got in (
        (1, 0, "got 16"),
        (2, 0, "got 8 × 2 processes = 16"),
        (2, 1, "got 8 × 2 processes = 16"),
    ):
        error = harness / f"world{world}" / "global_batch_over_dataset" / f"error_rank{rank}.json"
        message = json.loads(error.read_text())["message"]
        assert "at most the dataset size 12" in message and message.endswith(got)


def test_bf16_on_two_processes_adds_no_error_beyond_bf16(harness: Path) -> None:
    reference = checkpoint(harness, 1, "bf16_reference_float32")["state_dict"]
    bf16_one = max_difference(checkpoint(harness, 1, "bf16")["state_dict"], reference)
    bf16_two = max_difference(checkpoint(harness, 2, "bf16")["state_dict"], reference)
    assert 0 < bf16_one < 0.05  # bf16 really ran, and stays close to float32
    assert bf16_two <= 2 * bf16_one + 1e-4


def test_the_cli_gives_the_same_run_on_one_and_on_two_processes(tmp_path: Path) -> None:
    """The user's own command: ``python train.py ... trainer=ddp trainer.devices=2`` (Lightning starts the second
    process) against ``batch_size`` twice as large on one process (it differed by ~3e-3 before the GAN re-seeded
    at set-up as Lightning's DDP does)."""
    common = [*CASES["r1"], "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "samples_every=0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name, scale in (
        ("one", ["batch_size=16"]),
        ("two", ["batch_size=8", "trainer=ddp", "trainer.devices=2"]),
    ):
        result = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *common, *scale,
                                 f"hydra.run.dir={tmp_path / name}"], capture_output=True, text=True, env=env,
                                timeout=300, cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
    one, two = (
        torch.load(tmp_path / n / "checkpoints" / "last.ckpt", weights_only=False) for n in ("one", "two")
    )
    assert max_difference(one["state_dict"], two["state_dict"]) < 1e-9


def test_sync_batchnorm_is_accepted_and_converts_the_generator(make_cfg) -> None:
    """BatchNorm in G normalises each process's batch; ``trainer.sync_batchnorm=true`` (GPUs: PyTorch's
    SyncBatchNorm runs on CUDA only) makes it normalise the global batch. Here: the flag composes, the Trainer takes
    it, and Lightning converts G's BatchNorm layers when the strategy sets up."""
    from hydra.utils import instantiate

    cfg = make_cfg(["trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "trainer.sync_batchnorm=true",
                    "model.width=4", "gan.latent_dim=8"])  # fmt: skip
    trainer = instantiate(cfg.trainer)
    models = instantiate(cfg.model)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in models.generator.modules())
    converted = trainer.strategy._layer_sync.apply(models.generator)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in converted.modules())

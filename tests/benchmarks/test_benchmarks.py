"""The benchmark scripts (benchmarks/*.py) run end to end with tiny settings and report what docs/benchmarks.md
quotes: every ratio, the absolute medians and the machine. Each script's ``main(argv)`` runs in this process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # the scripts and their bench package
import fid_time  # noqa: E402
import profile_step  # noqa: E402
import step_time  # noqa: E402
from bench.common import RunSettings, build_models, real_batches  # noqa: E402
from bench.variants import VARIANTS, make_runner  # noqa: E402

TINY = ["--width", "4", "--batch-size", "8", "--threads", "1"]
# every default variant, the logging ablation of plain and r1, and a replicate of the raw loop
STEP_VARIANTS = [*VARIANTS, "plain_log_every_step", "r1_log_every_step", "raw#2"]
HEADLINE_RATIOS = (
    "lightning_over_raw",
    "r1_over_plain",
    "raw_r1_over_plain",
    "lazy16_over_plain",
    "r2_over_plain",
    "r1r2_over_plain",
    "wgan_gp_over_plain",
    "approx_r1_over_plain",
    "approx_r1_quarter_over_plain",
    "lightning_r1_over_raw_r1",
)
EXTRA_RATIOS = ("plain_log_every_step_over_raw", "r1_log_every_step_over_raw_r1", "raw#2_over_raw")


def positive_finite(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def step_result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One tiny interleaved run of every variant (16 timed iterations: the smallest valid run), read back from
    the JSON file it writes."""
    out = tmp_path_factory.mktemp("step_time") / "step_time.json"
    argv = [*TINY, "--iterations", "16", "--warmup", "1", "--variants", ",".join(STEP_VARIANTS)]
    returned = step_time.main([*argv, "--out", str(out)])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(returned))  # the file holds exactly what main returned
    return written


def test_step_time_reports_every_ratio(step_result: dict) -> None:
    for name in HEADLINE_RATIOS:
        assert positive_finite(step_result[name]), name
        for table in ("ratios_step", "ratios_loop", "ratios_cpu"):
            assert positive_finite(step_result[table][name]), (table, name)
    assert step_result["ratios_step"]["lightning_over_raw"] == pytest.approx(
        step_result["median_ms"]["plain"] / step_result["median_ms"]["raw"]
    )
    for name in (*HEADLINE_RATIOS, *EXTRA_RATIOS):
        spread = step_result["ratios_step_per_16_iterations"][name]
        assert spread["min"] <= spread["median"] <= spread["max"], name


def test_step_time_reports_absolute_medians_and_machine(step_result: dict) -> None:
    for table in ("median_ms", "median_loop_ms", "median_cpu_ms", "images_per_s"):
        assert list(step_result[table]) == STEP_VARIANTS, table
        assert all(positive_finite(x) for x in step_result[table].values()), table
    machine = step_result["machine"]
    assert machine["cores"] >= 1 and machine["torch_threads"] == 1 and machine["device"] == "cpu"
    assert machine["cpu"] and machine["torch"] == torch.__version__
    assert step_result["config"]["iterations"] == 16 and step_result["config"]["width"] == 4
    assert positive_finite(step_result["wall_time_s"])


def test_step_time_compares_ablations_and_replicates_with_their_reference(step_result: dict) -> None:
    for name in EXTRA_RATIOS:
        assert positive_finite(step_result["ratios_step"][name]), name
        assert name not in step_result  # only the headline ratios are at the top level
    ratio = step_result["ratios_step"]["plain_log_every_step_over_raw"]
    assert ratio == pytest.approx(
        step_result["median_ms"]["plain_log_every_step"] / step_result["median_ms"]["raw"]
    )


def test_step_time_goals(step_result: dict) -> None:
    goals = step_result["goals"]
    assert set(goals) == {"lightning_over_raw", "lazy16_over_plain", "approx_r1_over_plain", "r1_over_plain"}
    assert goals["lightning_over_raw"]["bound"] == 1.05
    # R1 in the GAN is held to the cost of R1 in the raw loop, measured in the same run
    assert goals["r1_over_plain"]["bound"] == step_result["raw_r1_over_plain"]
    for goal in goals.values():
        assert goal["met"] == (goal["value"] <= goal["bound"])


@pytest.mark.parametrize(
    "argv",
    [
        ["--iterations", "3"],  # not a multiple of 16
        ["--variants", "raw,plain_no_log"],  # the removed logging ablations
        ["--variants", "raw_log_every_step"],  # the ablation exists for GAN variants only
    ],
)
def test_step_time_rejects_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        step_time.parse_args(argv)


@pytest.mark.filterwarnings("ignore")  # Lightning's remarks on the tiny fit, as the scripts silence them
def test_log_every_step_ablation_logs_every_step() -> None:
    """``plain`` hands its rows to the loggers only on Lightning's logging steps (here: the last one); the ablation
    on every step. Both keep the logger off; only the ablation changes ``log_every_n_steps``."""
    import lightning as L

    torch.manual_seed(0)
    g, d = build_models("dcgan", 32, 4)
    batches = real_batches(4, 8, 32, torch.device("cpu"))
    logged_steps, trainer_settings = {}, {}
    for name in ("plain", "plain_log_every_step"):
        runner = make_runner(name, g, d, RunSettings())
        gan, steps = runner.gan, set()
        log_rows = gan.step_metrics._log

        def counting_log(trainer, gan=gan, steps=steps, log_rows=log_rows):  # noqa: ANN001
            steps.add(gan.iteration)
            return log_rows(trainer)

        gan.step_metrics._log = counting_log

        class Settings(L.Callback):
            def on_fit_start(self, trainer, pl_module, name=name) -> None:  # noqa: ANN001
                trainer_settings[name] = (trainer.log_every_n_steps, trainer.logger)

        runner.run_block(batches, before=[Settings()])
        logged_steps[name] = steps
    assert trainer_settings == {"plain": (50, None), "plain_log_every_step": (1, None)}
    assert len(logged_steps["plain_log_every_step"]) == len(batches)
    assert len(logged_steps["plain"]) < len(batches)


def test_profile_step_runs(capsys: pytest.CaptureFixture[str]) -> None:
    profile_step.main(
        [*TINY, "--iterations", "2", "--variants", "raw,plain", "--top", "3", "--cprofile", "3"]
    )
    out = capsys.readouterr().out
    for v in ("raw", "plain"):
        assert f"=== {v}: " in out and f"--- cProfile {v}: " in out
    assert "aten::convolution x" in out  # the per-iteration pass counts


def test_fid_time_in_memory_and_png_folder_agree(tmp_path: Path) -> None:
    from lightning_r1.metrics.mnist_extractor import MnistClassifierFeatureExtractor

    forward = MnistClassifierFeatureExtractor.forward
    argv = ["--num-samples", "64", "--num-real", "64", "--batch-size", "32", "--rounds", "1"]
    result = fid_time.main([*argv, "--width", "4", "--threads", "1", "--workdir", str(tmp_path)])
    assert MnistClassifierFeatureExtractor.forward is forward  # the extractor counter is removed afterwards
    assert result["num_samples"] == 64 and result["num_real"] == 64
    fids = {kind: records[0]["fid"] for kind, records in result["records"].items()}
    assert all(positive_finite(fid) for fid in fids.values()), fids
    assert result["fid_memory_minus_png"] == pytest.approx(0.0, abs=1e-6 * fids["png_warm"])
    # a cold evaluation extracts generated and real features; a warm one the generated samples only
    cold, warm = result["records"]["memory_cold"][0], result["records"]["memory_warm"][0]
    assert cold["real_pass_expected"] and cold["real_items_read"] >= 64 and cold["extractor_images"] == 128
    assert not warm["real_pass_expected"] and warm["real_items_read"] == 0 and warm["extractor_images"] == 64
    assert result["warm_does_no_real_pass"] is True
    for name in ("memory_over_png", "memory_over_png_without_write", "memory_warm_over_cold"):
        assert positive_finite(result[name]), name
    assert result["machine"]["device"] == "cpu"


@pytest.mark.skipif(sys.platform != "linux", reason="glibc malloc settings")
@pytest.mark.parametrize("opt_out", ["", "1"])
def test_script_restarts_itself_with_steady_malloc(tmp_path: Path, opt_out: str) -> None:
    """Run as a script, step_time.py re-executes itself with bench.allocator's glibc settings (unless opted out)."""
    out = tmp_path / "x.json"
    script = Path(step_time.__file__)
    argv = [*TINY, "--iterations", "16", "--warmup", "1", "--variants", "raw", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | {
        "BENCH_DEFAULT_MALLOC": opt_out
    }
    subprocess.run(
        [sys.executable, str(script), *argv], env=env, check=True, capture_output=True, timeout=300
    )
    assert json.loads(out.read_text())["machine"]["malloc"] == ("default" if opt_out else "steady")


def test_step_time_times_the_r3gan_backbone_and_counts_its_parameters() -> None:
    """``--model r3gan``: the raw loop runs on it, and the parameter counts match a count by hand (32 px: four
    stages of one block each, width 8, two groups; latent 64, one channel)."""
    result = step_time.main(
        ["--model", "r3gan", "--width", "8", "--cardinality", "2", "--batch-size", "4", "--threads", "1",
         "--iterations", "16", "--warmup", "1", "--variants", "raw"]
    )  # fmt: skip
    block = (
        (8 * 16 + 16) + (16 * 8 * 9 + 16) + 16 * 8
    )  # expand + grouped 3×3 (16 channels in 2 groups) + reduce
    generator = 8 * 4 * 4 + 64 * 8 + 4 * block + (8 * 1 + 1)  # basis, its scale from z, blocks, to image
    discriminator = (1 * 8 + 8) + 4 * block + 8 * 16 + (8 + 1)  # from image, blocks, depthwise 4×4, logit
    assert result["parameters"] == {"generator": generator, "discriminator": discriminator}
    assert result["config"]["model"] == "r3gan" and positive_finite(result["median_ms"]["raw"])


def test_raw_loop_runs_without_lightnings_nvml_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The raw loop pays what a script that never imports Lightning pays: no NVML load per Adam step under the
    ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` that Lightning's import sets (docs/benchmarks.md, issue 27)."""
    import ctypes

    from bench import NVML_CHECK, NVML_CHECK_WITHOUT_LIGHTNING

    if NVML_CHECK_WITHOUT_LIGHTNING == "1":
        pytest.skip("this process was started with the variable set: a script without Lightning has it too")
    monkeypatch.setenv(NVML_CHECK, "1")  # as `import lightning` sets it
    loads: list[str] = []
    original = ctypes.CDLL.__init__

    def counting(self: ctypes.CDLL, name: str, *args: object, **kwargs: object) -> None:
        loads.append(str(name))
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(ctypes.CDLL, "__init__", counting)
    g, d = build_models("dcgan", 32, 4)
    loop = make_runner("raw", g, d, RunSettings())
    loop.run_block(real_batches(2, 8, 32, torch.device("cpu")))
    assert [name for name in loads if "nvidia-ml" in name] == []  # 4 Adam steps: 4 loads before
    assert os.environ[NVML_CHECK] == "1"  # Lightning's setting is back after each turn

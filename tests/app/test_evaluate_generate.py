"""``python -m lightning_r1.evaluate`` and ``python -m lightning_r1.generate`` on checkpoints of real tiny runs.

The runs are trained through the app (``lightning_r1.app.train``); the two apps run as subprocesses from an empty
working directory (which must stay empty). Their numbers are checked against independent computations from the
checkpoint file: the models rebuilt from its saved config, latents drawn here, torch-fidelity and ``mode_metrics``
called here — and against what FidelityMetrics / ModeMetrics logged at the end of training.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from conftest import TOY, compose_config
from lightning_r1.app import train
from lightning_r1.errors import ConfigError
from lightning_r1.evaluate import evaluate_run
from lightning_r1.from_checkpoint import load_run
from lightning_r1.generate import interpolate
from lightning_r1.metrics import RealImages, UInt8Images, mode_metrics, to_uint8

MNIST = [
    "dataset=mnist_5k", "model.width=4", "gan.latent_dim=8", "iterations=4", "batch_size=8",
    "metrics.num_samples=256", "metrics.num_real_samples=512", "metrics.verbose=false",
]  # fmt: skip


# ------------------------------------------------------------------------------------------------ helpers
def app(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m lightning_r1.<module> ARGS trainer.accelerator=cpu`` in ``cwd``; ``cwd`` must stay empty."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run(
        [sys.executable, "-m", f"lightning_r1.{module}", *args, "trainer.accelerator=cpu"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert list(cwd.iterdir()) == [], f"{module} wrote into its working directory: {list(cwd.iterdir())}"
    return proc


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def ema_generator(ckpt: Path) -> tuple[torch.nn.Module, dict]:
    """The checkpoint's EMA generator, rebuilt here from its saved config, and that config."""
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    cfg = OmegaConf.create(state["lightning_r1_config"])
    generator = instantiate(cfg.model).generator
    prefix = "generator_ema."
    generator.load_state_dict(
        {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    )
    return generator.eval(), cfg


@torch.no_grad()
def samples_like_sample(
    generator: torch.nn.Module, n: int, dim: int, seed: int, batch_size: int
) -> torch.Tensor:
    """What ``GAN.sample`` draws after ``torch.manual_seed(seed)``: latents in chunks of ``batch_size``."""
    torch.manual_seed(seed)
    sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
    return torch.cat([generator(torch.randn(size, dim)) for size in sizes])


def final_mode_metrics(run_dir: Path) -> dict[str, float]:
    """ModeMetrics' values at the end of training, from summary.json's ``best`` (one evaluation: the final one;
    ``best`` keeps an infinite reverse KL, where ``metrics`` writes null)."""
    best = json.loads((run_dir / "summary.json").read_text())["best"]
    return {
        key: best[key]["value"] for key in ("val/modes_covered", "val/high_quality_pct", "val/reverse_kl")
    }


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# ------------------------------------------------------------------------------------------------ runs
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    train(compose_config([*MNIST, f"metrics.cache_dir={root / 'cache'}"], root / "mnist"))
    train(compose_config([*TOY, "iterations=150", "metrics.every=0"], root / "toy"))
    # 4 iterations leave DCGAN's output layer at its N(0, 0.02) init: images vary with z by ~0.01 uint8 levels.
    # The same checkpoint with that layer ×1000 varies by ~3.5 levels, so seeds and latents show in the PNGs.
    state = torch.load(root / "mnist" / "checkpoints" / "last.ckpt", weights_only=True)
    state["state_dict"]["generator_ema.net.9.weight"] *= 1000
    torch.save(state, root / "mnist" / "checkpoints" / "sharp.ckpt")
    return {"mnist": root / "mnist", "toy": root / "toy", "root": root}


# ------------------------------------------------------------------------------------------------ evaluate
def test_evaluate_fid_kid_of_the_ema_generator(runs: dict[str, Path], tmp_path: Path) -> None:
    ckpt = runs["mnist"] / "checkpoints" / "sharp.ckpt"  # samples that depend on z (see the fixture)
    out = ok(app("evaluate", f"ckpt_path={ckpt}", "metrics.kid=true", cwd=tmp_path / "cwd"))
    result = json.loads((runs["mnist"] / "eval.json").read_text())
    assert result["checkpoint"] == str(ckpt) and result["iteration"] == 4
    metrics = result["metrics"]
    assert set(metrics) == {"val/fid", "val/kid_mean", "val/kid_std"}  # metrics.kid=true went on top
    assert f"val/fid={metrics['val/fid']:.6g}" in out

    # computed here: the EMA generator rebuilt from the checkpoint, latents drawn here, torch-fidelity directly
    generator, cfg = ema_generator(ckpt)
    dm = instantiate(cfg.dataset)
    dm.setup("fit")
    subset = torch.randperm(len(dm.train_dataset), generator=torch.Generator().manual_seed(0))[:512].tolist()

    def reference(seed: int) -> dict[str, float]:
        fakes = samples_like_sample(generator, 256, 8, seed=seed, batch_size=cfg.metrics.batch_size)
        return torch_fidelity.calculate_metrics(
            input1=UInt8Images.from_float(fakes), input2=RealImages(dm.train_dataset, subset), fid=True, kid=True,
            kid_subset_size=256, feature_extractor="mnist-classifier", batch_size=cfg.metrics.batch_size,
            cuda=False, cache=False, save_cpu_ram=True, rng_seed=cfg.metrics.seed, verbose=False,
        )  # fmt: skip

    ref = reference(cfg.metrics.seed)
    assert metrics["val/fid"] == pytest.approx(ref[torch_fidelity.KEY_METRIC_FID], abs=1e-6)
    assert metrics["val/kid_mean"] == pytest.approx(ref[torch_fidelity.KEY_METRIC_KID_MEAN], abs=1e-6)
    assert 10 < metrics["val/fid"] < 1000  # 4 iterations: far from the data, far from meaningless
    assert (
        abs(reference(cfg.metrics.seed + 1)[torch_fidelity.KEY_METRIC_FID] - metrics["val/fid"]) > 1e-3
    )  # z matters


def test_evaluate_equals_fidelity_metrics_at_the_end_of_training(runs: dict[str, Path]) -> None:
    """The unmodified last.ckpt, in-process: the value FidelityMetrics logged when training ended."""
    run = load_run(runs["mnist"] / "checkpoints" / "last.ckpt", accelerator="cpu")
    best = json.loads((runs["mnist"] / "summary.json").read_text())["best"]["val/fid"]
    assert best["iteration"] == run.iteration == 4
    assert evaluate_run(run) == {"val/fid": pytest.approx(best["value"], abs=1e-6)}


def test_evaluate_toy_mode_metrics(runs: dict[str, Path], tmp_path: Path) -> None:
    ckpt = runs["toy"] / "checkpoints" / "last.ckpt"
    ok(app("evaluate", f"ckpt_path={ckpt}", cwd=tmp_path / "cwd"))
    result = json.loads((runs["toy"] / "eval.json").read_text())
    assert result["iteration"] == 150 and result["checkpoint"] == str(ckpt)
    metrics = result["metrics"]
    assert set(metrics) == {"val/modes_covered", "val/high_quality_pct", "val/reverse_kl"}

    assert metrics == pytest.approx(final_mode_metrics(runs["toy"]), rel=1e-6)  # ModeMetrics, end of training

    generator, cfg = ema_generator(ckpt)  # computed here: 2,500 points, seed 0, as ModeMetrics draws them
    points = samples_like_sample(generator, 2500, cfg.gan.latent_dim, seed=0, batch_size=256)
    dm = instantiate(cfg.dataset)
    ref = mode_metrics(points, dm.modes, dm.std)
    assert metrics == pytest.approx({f"val/{k}": v for k, v in ref.items()}, rel=1e-9)
    assert 0 <= metrics["val/modes_covered"] <= 8 and 0 <= metrics["val/high_quality_pct"] <= 100


# ------------------------------------------------------------------------------------------------ generate
@pytest.mark.slow  # six generate launches
def test_generate_images_grid_interpolation_same_seed_same_images(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    ckpt = runs["mnist"] / "checkpoints" / "sharp.ckpt"
    args = [f"ckpt_path={ckpt}", "num_samples=10", "batch_size=4"]
    ok(
        app(
            "generate",
            *args,
            "interpolate=true",
            "interpolation.rows=3",
            "interpolation.steps=5",
            cwd=tmp_path / "a",
        )
    )
    out = (
        runs["mnist"] / "generated" / "sharp"
    )  # the default out_dir of a checkpoint other than last / iter_N
    numbered = sorted(out.glob("[0-9]*.png"))
    assert [p.name for p in numbered] == [f"{i:06d}.png" for i in range(10)]
    assert {p.name for p in out.iterdir()} == {p.name for p in numbered} | {"grid.png", "interpolation.png"}
    assert all(Image.open(p).size == (32, 32) for p in numbered)
    assert Image.open(out / "grid.png").size == (8 * 34 + 2, 2 * 34 + 2)  # 8 a row, 2-pixel padding
    assert Image.open(out / "interpolation.png").size == (5 * 34 + 2, 3 * 34 + 2)  # 3 rows of 5

    # the images are the EMA generator's samples of latents drawn from a CPU generator seeded with `seed`
    generator, _ = ema_generator(ckpt)
    with torch.no_grad():
        z = torch.randn(10, 8, generator=torch.Generator().manual_seed(0))
        expected = to_uint8(generator(z)).expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()
        other = to_uint8(generator(torch.randn(10, 8, generator=torch.Generator().manual_seed(1))))
    images = np.stack([png(p) for p in numbered])
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1  # PNG of the same uint8 quantisation
    assert not np.array_equal(images[..., 0], other[:, 0].numpy())  # another seed, other images
    # the strip's first column is the first endpoint of each row (latents seeded with seed + 1)
    with torch.no_grad():
        ends = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
        first = to_uint8(generator(ends[:3]))[:, 0].numpy()
    strip = png(out / "interpolation.png")[..., 0]
    for r in range(3):
        tile = strip[2 + 34 * r : 2 + 34 * r + 32, 2 : 2 + 32]
        assert np.abs(tile.astype(int) - first[r].astype(int)).max() <= 1

    again = tmp_path / "again"  # same seed, another out_dir: the same files, byte for byte
    ok(app("generate", *args, f"out_dir={again}", cwd=tmp_path / "b"))
    assert sorted(p.name for p in again.iterdir()) == [p.name for p in numbered] + ["grid.png"]
    for p in [*numbered, out / "grid.png"]:
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name


def test_generate_toy_scatter_and_points(runs: dict[str, Path], tmp_path: Path) -> None:
    ckpt = runs["toy"] / "checkpoints" / "last.ckpt"
    out = tmp_path / "toy_out"
    ok(app("generate", f"ckpt_path={ckpt}", "num_samples=500", f"out_dir={out}", "interpolate=true", "seed=3",
           cwd=tmp_path / "cwd"))  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [
        "interpolation.npy", "interpolation.png", "samples.npy", "samples.png",
    ]  # fmt: skip
    points = np.load(out / "samples.npy")
    generator, _ = ema_generator(ckpt)
    with torch.no_grad():
        expected = generator(torch.randn(500, 8, generator=torch.Generator().manual_seed(3))).numpy()
    np.testing.assert_allclose(points, expected, atol=1e-6)
    paths = np.load(out / "interpolation.npy")
    assert paths.shape == (8, 10, 2)  # interpolation.rows × interpolation.steps
    assert Image.open(out / "samples.png").size == (400, 400)


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.slow  # one launch per bad file; train's damaged checkpoint is tests/app/test_faults.py
def test_bad_checkpoint_is_one_line_and_exit_2(runs: dict[str, Path], tmp_path: Path) -> None:
    good = runs["toy"] / "checkpoints" / "last.ckpt"
    truncated, bare = tmp_path / "truncated.ckpt", tmp_path / "no_config.ckpt"
    truncated.write_bytes(good.read_bytes()[:4000])
    state = torch.load(good, weights_only=True)
    del state["lightning_r1_config"]  # e.g. written by the Python API, without the app
    torch.save(state, bare)
    cases = [  # (app, checkpoint, what the line says)
        ("evaluate", tmp_path / "missing.ckpt", "(no such file)"),
        ("generate", truncated, "which is not one (truncated or damaged: "),
        (
            "evaluate",
            bare,
            "written through the Python API (trainer.fit(GAN(...))), which holds the weights only",
        ),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    procs = [  # at once: each process spends its time importing torch and Lightning
        subprocess.Popen(
            [sys.executable, "-m", f"lightning_r1.{module}", f"ckpt_path={ckpt}", "num_samples=4"]
            if module == "generate"
            else [sys.executable, "-m", f"lightning_r1.{module}", f"ckpt_path={ckpt}"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for module, ckpt, _ in cases
    ]
    for proc, (module, ckpt, reason) in zip(procs, cases, strict=True):
        _, stderr = proc.communicate(timeout=300)
        lines = stderr.strip().splitlines()
        assert proc.returncode == 2, stderr
        assert len(lines) == 1 and "Traceback" not in stderr, stderr
        assert lines[0].startswith("lightning_r1: error: ckpt_path: expected ") and f"got {ckpt}" in lines[0]
        assert reason in lines[0], (module, lines[0])
    assert list(cwd.iterdir()) == []


# ------------------------------------------------------------------------------------------------ in-process
def test_interpolate_endpoints_and_slerp_norm() -> None:
    a, b = torch.randn(4, 16, generator=torch.Generator().manual_seed(0)).chunk(2)
    for method in ("slerp", "lerp"):
        path = interpolate(a, b, 7, method)
        assert path.shape == (2, 7, 16)
        torch.testing.assert_close(path[:, 0], a.double())
        torch.testing.assert_close(path[:, -1], b.double())
    slerp, lerp = interpolate(a, b, 7, "slerp"), interpolate(a, b, 7, "lerp")
    linear_norm = torch.lerp(
        a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True), torch.linspace(0, 1, 7)
    )
    torch.testing.assert_close(slerp.norm(dim=2), linear_norm.double())  # the norm moves linearly, no dip
    assert (lerp.norm(dim=2)[:, 3] < slerp.norm(dim=2)[:, 3]).all()  # the straight line cuts inside
    with pytest.raises(ValueError, match="`method`"):
        interpolate(a, b, 7, "cubic")


def test_load_run_python_api_and_an_unavailable_accelerator(runs: dict[str, Path]) -> None:
    ckpt = runs["toy"] / "checkpoints" / "last.ckpt"
    run = load_run(ckpt, accelerator="cpu")
    assert run.run_dir == runs["toy"] and run.iteration == 150 and run.gan.device.type == "cpu"
    assert not run.gan.training and run.cfg.run_dir == str(runs["toy"])
    assert evaluate_run(run) == pytest.approx(final_mode_metrics(runs["toy"]), rel=1e-6)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"^trainer: expected an accelerator .* got accelerator=gpu"):
            load_run(ckpt, accelerator="gpu")

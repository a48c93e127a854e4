"""What ``generate`` / ``evaluate`` / ``train.py`` accept and refuse: non-finite GAN arguments and generator weights,
an out_dir holding an earlier generation, Lightning's ``epoch=3-step=40.ckpt`` names, checkpoints written through
the Python API, and ``truncation=`` (issues 26.10, 26.11, 28). Each refusal is one line on stderr and exit code 2.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import OmegaConf
from scipy import stats

from conftest import CONF_DIR, REPO_ROOT, TOY, compose_config
from lightning_r1 import GAN
from lightning_r1.app import train
from lightning_r1.data import Ring8DataModule
from lightning_r1.errors import ConfigError
from lightning_r1.from_checkpoint import quote_paths
from lightning_r1.generate import generate, latents
from lightning_r1.models import build_mlp


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def app(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run(["-m", f"lightning_r1.{module}", *args, "trainer.accelerator=cpu"], cwd)


def refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("lightning_r1:")]  # the rest is Lightning's own info
    assert errors == lines[-1:] and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = errors
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def generate_here(*overrides: str) -> dict:
    """The generate app's function on its composed config (the CLI minus the process start), for the steps whose
    exit code is not the point."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="generate", overrides=[*overrides, "trainer.accelerator=cpu"])
    return generate(cfg)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    train(compose_config([*TOY, "iterations=3", "metrics=none"], root / "run"))
    return root / "run" / "checkpoints" / "last.ckpt"


@torch.no_grad()
def ema_points(ckpt: Path, z: torch.Tensor) -> np.ndarray:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    generator = instantiate(OmegaConf.create(state["lightning_r1_config"]).model).generator
    prefix = "generator_ema."
    generator.load_state_dict(
        {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    )
    return generator.eval()(z).numpy()


# ---- issue 26.10: non-finite numbers ----------------------------------------------------------------------------
def test_a_nan_ema_half_life_is_refused_by_the_cli_before_training(tmp_path) -> None:
    out = tmp_path / "run"
    proc = run([str(REPO_ROOT / "train.py"), *TOY, "iterations=2", "gan.ema_half_life_images=nan",
                f"hydra.run.dir={out}", "trainer.enable_progress_bar=false"], tmp_path)  # fmt: skip
    refused(proc, "gan: Expected `ema_half_life_images` to be a non-negative float, got nan")
    assert not (out / "checkpoints").exists()


@pytest.mark.parametrize(
    "kwargs, field",
    [({"ema_half_life_images": -5.0}, "ema_half_life_images"), ({"ema_half_life_images": math.inf}, "ema_half_life_images"),
     ({"ema_rampup": math.nan}, "ema_rampup"), ({"ema_rampup": -0.1}, "ema_rampup"),
     ({"diagnostics_every": -1}, "diagnostics_every"), ({"diagnostics_every": 2.5}, "diagnostics_every")],
)  # fmt: skip
def test_non_finite_or_negative_gan_numbers_are_refused_naming_the_field(kwargs: dict, field: str) -> None:
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    with pytest.raises(ValueError, match=f"^Expected `{field}`") as caught:
        GAN(models.generator, models.discriminator, latent_dim=4, **kwargs)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("module", ["evaluate", "generate"])
def test_a_checkpoint_with_non_finite_generator_weights_is_refused(
    module: str, toy: Path, tmp_path: Path
) -> None:
    state = torch.load(toy, weights_only=True)
    key = next(k for k in state["state_dict"] if k.startswith("generator_ema.") and k.endswith("weight"))
    state["state_dict"][key][0] = float("nan")
    bad = tmp_path / "diverged.ckpt"
    torch.save(state, bad)
    refused(app(module, f"ckpt_path={bad}", f"out_dir={tmp_path / 'out'}" if module == "generate" else
                f"out={tmp_path / 'eval.json'}", cwd=tmp_path / "cwd"), f"whose {key} holds NaN or Inf")  # fmt: skip
    assert not (tmp_path / "out").exists() and not (tmp_path / "eval.json").exists()


# ---- issue 26.11: an earlier generation in out_dir -------------------------------------------------------------
def test_generate_refuses_an_earlier_generation_it_would_not_overwrite(toy: Path, tmp_path: Path) -> None:
    """2-D points: a run with interpolate=true, then one without into the same folder, would leave the first run's
    interpolation files beside the new samples. Re-running the same command overwrites its own files."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a user's file: never touched
    generate_here(f"ckpt_path={toy}", "num_samples=50", "interpolate=true", f"out_dir={out}")
    generate_here(f"ckpt_path={toy}", "num_samples=50", "interpolate=true", f"out_dir={out}")  # its own files
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused(app("generate", f"ckpt_path={toy}", "num_samples=50", f"out_dir={out}", cwd=tmp_path / "c"),
            f"out_dir: expected a folder without an earlier generation's files, got {out} holding 2",
            "interpolation.npy")  # fmt: skip
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written, nothing removed


# ---- issue 28: Lightning's checkpoint names, the Python API, truncation ------------------------------------------
def test_lightning_checkpoint_names_work_quoted_or_not(toy: Path, tmp_path: Path) -> None:
    named = tmp_path / "checkpoints" / "epoch=3-step=40.ckpt"
    named.parent.mkdir()
    named.write_bytes(toy.read_bytes())
    out = tmp_path / "out"  # unquoted, as pasted from `ls` (Hydra alone: "mismatched input '='")
    ok(app("generate", f"ckpt_path={named}", "num_samples=5", f"out_dir={out}", cwd=tmp_path / "cwd"))
    expected = ema_points(toy, torch.randn(5, 8, generator=torch.Generator().manual_seed(0)))
    np.testing.assert_allclose(np.load(out / "samples.npy"), expected, atol=1e-6)
    assert quote_paths(["x", "ckpt_path=a/epoch=1.ckpt", "out='b=c'", "seed=1"]) == [
        "x", "ckpt_path='a/epoch=1.ckpt'", "out='b=c'", "seed=1",
    ]  # fmt: skip


def test_a_python_api_checkpoint_is_one_line_naming_what_is_missing_and_the_remedy_works(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, iterations=3, diagnostics_every=0)
    trainer = L.Trainer(callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpts")], accelerator="cpu", logger=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))
    ckpt = next((tmp_path / "ckpts").glob("epoch=*-step=*.ckpt"))  # Lightning's own name, with '='
    refused(app("generate", f"ckpt_path={ckpt}", cwd=tmp_path / "cwd"),
            "written through the Python API (trainer.fit(GAN(...))), which holds the weights only", "expected a checkpoint with the run config (model, gan, dataset)",
            "GAN.load_from_checkpoint(path, generator=G, discriminator=D)")  # fmt: skip
    fresh = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)  # the remedy the line names
    loaded = GAN.load_from_checkpoint(ckpt, generator=fresh.generator, discriminator=fresh.discriminator)
    torch.manual_seed(1)
    got = loaded.sample(10)
    torch.manual_seed(1)
    assert torch.equal(got, gan.sample(10))


def test_truncated_latents_follow_the_truncated_normal() -> None:
    """BigGAN's truncation trick: entries beyond ±t redrawn, so z ~ N(0, 1) truncated to [-t, t]; the entries
    already inside are the untruncated draw's."""
    plain, cut = latents(4000, 8, seed=5), latents(4000, 8, seed=5, truncation=0.7)
    assert float(cut.abs().max()) <= 0.7
    inside = plain.abs() <= 0.7
    assert torch.equal(cut[inside], plain[inside])
    result = stats.kstest(cut.flatten().numpy(), stats.truncnorm(-0.7, 0.7).cdf)
    assert result.pvalue > 1e-3  # an independent CDF: scipy's truncated normal


def test_generate_truncation_uses_those_latents(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ok(
        app(
            "generate",
            f"ckpt_path={toy}",
            "num_samples=20",
            "truncation=0.5",
            f"out_dir={out}",
            cwd=tmp_path / "c",
        )
    )
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(20, 8, generator=generator)
    while bool((z.abs() > 0.5).any()):  # the redraw written out here
        outside = z.abs() > 0.5
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
    np.testing.assert_allclose(np.load(out / "samples.npy"), ema_points(toy, z), atol=1e-6)
    for bad in ("truncation=0", "truncation=-1", "truncation=nan"):
        with pytest.raises(ConfigError, match="^truncation: expected a positive number"):
            generate_here(f"ckpt_path={toy}", bad, f"out_dir={tmp_path / 'bad'}")
    assert not (tmp_path / "bad").exists()

"""LightningCLI over lightning_r1.GAN (the ``cli`` extra: jsonargparse[signatures]): the README's example config fits,
and generate / evaluate take the checkpoint it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO_ROOT
from lightning_r1.models.mlp import MLPGenerator


@pytest.mark.slow  # a LightningCLI launch; the module itself trains in the default tests
def test_lightning_cli_fits_the_example_config_for_a_few_iterations(tmp_path: Path) -> None:
    iterations = 3
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "lightning_cli.py"), "fit",
         "--config", str(REPO_ROOT / "examples" / "lightning_cli.yaml"), f"--model.iterations={iterations}",
         f"--trainer.default_root_dir={tmp_path}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Tip:" not in result.stdout + result.stderr
    (ckpt,) = (tmp_path / "lightning_logs" / "version_0" / "checkpoints").glob("*.ckpt")
    assert ckpt.name.endswith(f"step={2 * iterations}.ckpt")  # one D and one G step per iteration (d_steps=1)
    saved = yaml.safe_load((tmp_path / "lightning_logs" / "version_0" / "config.yaml").read_text())
    callbacks = [c["class_path"] for c in saved["trainer"]["callbacks"]]
    assert callbacks[:2] == ["lightning_r1.R1", "lightning_r1.R2"]
    assert saved["model"]["generator"]["class_path"] == "lightning_r1.models.mlp.MLPGenerator"
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    expected = MLPGenerator(latent_dim=8, hidden=64, layers=2).state_dict()
    generator = {k.removeprefix("generator."): v for k, v in state.items() if k.startswith("generator.")}
    assert {k: v.shape for k, v in generator.items()} == {
        k: v.shape for k, v in expected.items()
    }  # its init_args

    # generate and evaluate take the LightningCLI checkpoint: the models and data come from its config.yaml
    for app, extra in (("generate", ["num_samples=16"]), ("evaluate", [])):
        done = subprocess.run([sys.executable, "-m", f"lightning_r1.{app}", f"ckpt_path={ckpt}", *extra],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    samples = np.load(tmp_path / "lightning_logs" / "version_0" / "generated" / ckpt.stem / "samples.npy")
    assert samples.shape == (16, 2) and np.isfinite(samples).all()
    evaluated = json.loads((tmp_path / "lightning_logs" / "version_0" / "eval.json").read_text())
    assert {"val/modes_covered", "val/reverse_kl"} <= set(evaluated["metrics"])

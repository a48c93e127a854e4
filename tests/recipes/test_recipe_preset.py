"""docs/architecture.md, "Where to add … an experiment preset", followed as written: one
``experiment/<name>.yaml`` (``# @package _global_``) in a config folder of one's own; no file of the package edited."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from recipe_cli import last_checkpoint, train, write

PRESET = """# @package _global_
# A throw-away preset: WGAN-GP with the hinge loss on the 25-Gaussian grid, tiny MLPs, two D steps per iteration.
defaults:
  - override /dataset: grid25
  - override /model: mlp
  - override /loss: hinge
  - override /regularizer: wgan_gp
  - override /metrics: none

iterations: 2
batch_size: 8
model:
  hidden: 6
  layers: 1
gan:
  latent_dim: 3
  d_steps: 2
regularizer:
  wgan_gp:
    weight: 4.0
samples_every: 0
checkpoint_every: 0
"""


def test_an_experiment_preset_from_a_folder_of_ones_own_is_the_run_trained(tmp_path: Path) -> None:
    write(tmp_path, {"conf/experiment/tiny_grid.yaml": PRESET})
    run_dir = train(tmp_path, "experiment=tiny_grid", base=["trainer.enable_progress_bar=false"])
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["dataset"]["_target_"].endswith("Grid25DataModule")
    assert config["loss"]["name"] == "hinge"
    assert list(config["regularizer"]) == ["wgan_gp"] and config["regularizer"]["wgan_gp"]["weight"] == 4.0
    assert (config["iterations"], config["batch_size"], config["gan"]["d_steps"]) == (2, 8, 2)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["iterations"] == 2 and summary["regularizers"] == ["wgan_gp"]
    checkpoint = last_checkpoint(run_dir)
    assert checkpoint["global_step"] == 2 * (2 + 1)  # two iterations of two D steps and one G step
    generator = sum(v.numel() for k, v in checkpoint["state_dict"].items() if k.startswith("generator."))
    assert generator == 3 * 6 + 6 + 6 * 2 + 2  # latent 3 → hidden 6 → 2-D samples

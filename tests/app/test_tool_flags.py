"""The apps' --version and --help through the real command line, as a user types them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import lightning
import pytest
import torch
import yaml
from omegaconf import OmegaConf

import lightning_r1
from conftest import CONF_DIR, REPO_ROOT

APPS = ([str(REPO_ROOT / "train.py")], ["-m", "lightning_r1.evaluate"], ["-m", "lightning_r1.generate"])


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_version_names_lightning_r1_and_what_it_runs_on(tmp_path: Path) -> None:
    expected = f"lightning_r1 {lightning_r1.__version__} (torch {torch.__version__}, lightning {lightning.__version__}"
    for app in APPS:
        shown = cli([*app, "--version"], tmp_path).stdout
        assert shown.startswith(expected) and "Hydra 1." not in shown, (app, shown)
    assert list(tmp_path.iterdir()) == []  # answered before anything ran


def test_train_help_lists_every_group_with_its_choices_and_real_knobs(tmp_path: Path) -> None:
    page = cli([str(REPO_ROOT / "train.py"), "--help"], tmp_path).stdout
    assert "powered by Hydra" not in page and "_target_" not in page  # a help page, not a config dump
    groups = {
        path.name
        for path in Path(CONF_DIR).iterdir()
        if path.is_dir() and path.name not in ("hydra", "__pycache__")
    }
    listed = dict(re.findall(r"^([a-z_]+): (.+)$", page, flags=re.M))
    assert set(listed) == groups
    for group in groups:  # each group's line names the files that exist, and only those
        assert listed[group].split(", ") == sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")), (
            group
        )
    knobs = re.findall(r"^  ([\w.]+)=(\S+) {2,}\S", page, flags=re.M)
    assert len(knobs) >= 10 and "docs/" in page and "--version" in page
    config = OmegaConf.create(cli([str(REPO_ROOT / "train.py"), "--cfg", "job"], tmp_path).stdout)
    for key, shown in knobs:
        if key.startswith("hydra."):
            continue
        assert OmegaConf.select(config, key, default="<absent>") != "<absent>", key
        value = OmegaConf.select(config, key)
        if value is not None:  # a default is shown as the config holds it; ckpt_path=PATH is a placeholder
            assert yaml.safe_load(shown) == value, (key, shown, value)


@pytest.mark.slow  # two help pages; train's help is checked in the default tests
def test_evaluate_and_generate_help_list_their_own_keys_only(tmp_path: Path) -> None:
    for app, config_name in zip(APPS[1:], ("evaluate", "generate"), strict=True):
        page = cli([*app, "--help"], tmp_path).stdout
        own = set(yaml.safe_load((Path(CONF_DIR) / f"{config_name}.yaml").read_text())) - {
            "defaults",
            "hydra",
        }
        listed = set(re.findall(r"^([a-z_]+):", page, flags=re.M))
        assert listed == own, (config_name, listed ^ own)
        assert "regularizer" not in page and "powered by Hydra" not in page

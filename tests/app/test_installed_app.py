"""The app as users start it: from a built wheel outside the checkout, ``python -m lightning_r1``, the
``lightning-r1`` console script, their own config folder on ``hydra.searchpath``; what the default run prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT

TINY = ["dataset=ring8", "model=mlp", "model.hidden=8", "model.layers=1", "gan.latent_dim=4", "iterations=3",
        "samples_every=0", "checkpoint_every=0"]  # fmt: skip


def run(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``pip wheel`` of the checkout, installed (without dependencies: they are this environment's) into a folder."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"  # a copy, so the build leaves nothing in the checkout
    for folder in (
        "lightning_r1",
        "conf",
    ):  # conf/ lives at the top level; the wheel maps it into the package
        shutil.copytree(REPO_ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source / name)
    built = run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-w",
                 str(out / "dist"), "-q"], cwd=out)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (out / "dist").glob("lightning_r1-*.whl")
    target = out / "site"
    installed = run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel), "-q"],
                    cwd=out)  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    return wheel, target


@pytest.mark.slow  # builds the wheel (shared with the other installed-wheel tests)
def test_the_wheel_ships_configs_weights_and_the_entry_point(wheel_install) -> None:
    wheel, _ = wheel_install
    names = zipfile.ZipFile(wheel).namelist()
    assert "lightning_r1/conf/config.yaml" in names and "lightning_r1/conf/regularizer/r1.yaml" in names
    assert "lightning_r1/conf/experiment/dirac_gan.yaml" in names
    assert any(name.endswith("metrics/weights/mnist_classifier.pt") for name in names)
    assert "lightning_r1/py.typed" in names  # type checkers read the package's annotations (PEP 561)
    assert "lightning_r1/conf/hydra/help/train.yaml" in names  # --help pages
    shipped = {name for name in names if name.startswith("lightning_r1/conf/") and name.endswith(".yaml")}
    in_checkout = {
        "lightning_r1/" + str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "conf").rglob("*.yaml")
    }
    assert shipped == in_checkout  # every config of the top-level conf/, none left behind
    # pyproject lists the packages (the finder cannot map conf/): a new subpackage must be listed to ship
    packages = {
        str(p.parent.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "lightning_r1").rglob("__init__.py")
    }
    assert {p + "/__init__.py" for p in packages} <= set(names), sorted(
        packages - {n.rsplit("/", 1)[0] for n in names}
    )
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "lightning-r1 = lightning_r1.__main__:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow  # five app launches from the installed wheel; the checkout's --version is tests/app/test_tool_flags.py
def test_the_installed_version_is_the_one_its_metadata_and_version_flag_report(
    wheel_install, tmp_path: Path
) -> None:
    """One version: the wheel's metadata (read from ``lightning_r1.__version__`` at build time), the installed
    package's metadata and ``--version`` of each installed app agree, and ``--version`` names torch and Lightning."""
    wheel, target = wheel_install
    metadata = next(
        name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".dist-info/METADATA")
    )
    lines = zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
    built = next(line.split(": ", 1)[1] for line in lines if line.startswith("Version: "))
    env = {"PYTHONPATH": str(target)}
    code = "import importlib.metadata as m, lightning_r1; print(m.version('lightning_r1'), lightning_r1.__version__)"
    installed = run([sys.executable, "-c", code], tmp_path, env)
    assert installed.stdout.split() == [built, built], installed.stdout + installed.stderr
    versions = run([sys.executable, "-c", "import torch, lightning; print(torch.__version__, lightning.__version__)"],
                   tmp_path, env).stdout.split()  # fmt: skip
    for app in ("lightning_r1", "lightning_r1.evaluate", "lightning_r1.generate"):
        shown = run([sys.executable, "-m", app, "--version"], tmp_path, env)
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert shown.stdout.startswith(
            f"lightning_r1 {built} (torch {versions[0]}, lightning {versions[1]}"
        ), shown.stdout
        assert "Hydra" not in shown.stdout


@pytest.mark.slow  # 22 s: two app runs from the installed wheel
def test_the_installed_wheel_trains_outside_the_checkout(wheel_install, tmp_path: Path) -> None:
    _, target = wheel_install
    env = {"PYTHONPATH": str(target)}  # the installed copy, not the checkout
    where = run([sys.executable, "-c", "import lightning_r1; print(lightning_r1.__file__)"], tmp_path, env)
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    result = run([sys.executable, "-m", "lightning_r1", *TINY, "hydra.run.dir=run"], tmp_path, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "summary.json").is_file() and (tmp_path / "run" / "train.log").is_file()
    script = run(
        [str(target / "bin" / "lightning-r1"), *TINY, "metrics=none", "hydra.run.dir=run2"], tmp_path, env
    )
    assert script.returncode == 0, script.stderr[-3000:]
    assert (tmp_path / "run2" / "checkpoints" / "last.ckpt").is_file()


def test_a_users_own_config_folder_joins_through_hydra_searchpath(tmp_path: Path) -> None:
    """A dataset config of the user's, outside the package, picked by name like a built-in one."""
    (tmp_path / "my_conf" / "dataset").mkdir(parents=True)
    (tmp_path / "my_conf" / "dataset" / "wide_ring.yaml").write_text(
        "_target_: lightning_r1.data.Ring8DataModule\nbatch_size: ${batch_size}\nstd: 0.05\n"
    )
    result = run([sys.executable, "-m", "lightning_r1", *TINY, "metrics=none", "dataset=wide_ring",
                  f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]", "hydra.run.dir=run"], tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "std: 0.05" in (tmp_path / "run" / "config.yaml").read_text()


def test_the_default_run_prints_nothing_a_user_cannot_act_on(tmp_path: Path) -> None:
    """No Lightning advertisement, no internal deprecation notices, no per-batch FID bars, no 'Epoch 0/-2'."""
    result = run([sys.executable, str(REPO_ROOT / "train.py"), "iterations=3", "model.width=4", "batch_size=16",
                  "metrics.num_samples=256", "metrics.num_real_samples=512",
                  f"metrics.cache_dir={tmp_path / 'cache'}", "hydra.run.dir=run"], tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    shown = result.stdout + result.stderr
    for noise in ("Tip:", "LeafSpec", "Processing samples", "Epoch 0/-", "Warning", "warn("):
        assert noise not in shown, noise
    assert "Training" in shown and "3/3" in shown and "val/fid=" in shown


def test_importing_the_library_changes_no_warning_filter() -> None:
    """The libraries it builds on set their own filters when imported; lightning_r1 itself adds none."""
    code = ("import warnings, torch, torchvision, lightning, hydra, omegaconf, numpy, scipy, matplotlib.pyplot, "
            "torch_fidelity, mlxtend.data; before = list(warnings.filters); import lightning_r1, lightning_r1.app, "
            "lightning_r1.gan, lightning_r1.metrics, lightning_r1.report; print(before == list(warnings.filters))")  # fmt: skip
    result = run([sys.executable, "-c", code], REPO_ROOT)
    assert result.stdout.strip() == "True", result.stderr[-2000:]


def test_citation_file_has_the_fields_citation_tools_require() -> None:
    """CITATION.cff (schema 1.2.0; `cffconvert --validate` passes on it): this project, and each implemented paper as
    a reference with its authors and year; the license matches pyproject's."""
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["message"] and cff["title"] and cff["authors"]
    assert cff["license"] == "MIT" and 'license = "MIT"' in (REPO_ROOT / "pyproject.toml").read_text()
    assert (REPO_ROOT / "LICENSE").read_text().startswith("MIT License")
    first_authors = {(ref["authors"][0]["family-names"], ref["year"]) for ref in cff["references"]}
    assert {
        ("Mescheder", 2018),
        ("Gulrajani", 2017),
        ("Huang", 2024),
        ("Karras", 2020),
        ("Lin", 2018),
    } <= first_authors
    assert all(ref["title"] and ref["type"] == "conference-paper" for ref in cff["references"])


@pytest.mark.slow  # 20 s of CPU: a virtual environment and an editable install
def test_an_editable_install_reads_the_top_level_conf_from_any_directory(tmp_path: Path) -> None:
    """``pip install -e .`` (the README's set-up): the app started from another directory composes the checkout's
    top-level ``conf/`` (here a copy, with one preset of its own, so the configs read are provably that folder's)."""
    source = tmp_path / "checkout"
    for folder in ("lightning_r1", "conf"):
        shutil.copytree(REPO_ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source / name)
    (source / "conf" / "experiment" / "only_in_this_copy.yaml").write_text(
        "# @package _global_\niterations: 7\n"
    )
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    python = str(venv / "bin" / "python")
    # this environment's packages (torch, Lightning, pip, setuptools) seen from the new one, this checkout not
    (site,) = run([python, "-c", "import site; print(site.getsitepackages()[0])"], tmp_path).stdout.split()
    Path(site, "this_environment.pth").write_text(
        "\n".join(p for p in sys.path if p.endswith("site-packages"))
    )
    installed = run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", "-e", str(source)],
                    tmp_path, {"PYTHONPATH": ""})  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": ""}  # the editable install, not this checkout
    where = run([python, "-c", "import lightning_r1.config_dir as c; print(c.CONFIG_DIR)"], elsewhere, env)
    assert where.stdout.strip() == str(source / "conf"), where.stdout + where.stderr
    composed = run(
        [str(venv / "bin" / "lightning-r1"), "experiment=only_in_this_copy", "--cfg", "job"], elsewhere, env
    )
    assert composed.returncode == 0, composed.stderr[-2000:]
    assert "iterations: 7" in composed.stdout

"""The shape of ``lightning_r1.models`` (docs/architecture.md, "A model"): one file per family, no import cycle
between its modules, and builders whose own parameters are their config's keys (no wrapper rewriting a signature)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from conftest import REPO_ROOT

PACKAGE = "lightning_r1.models"
MODELS_DIR = REPO_ROOT / "lightning_r1" / "models"
MODEL_CONF_DIR = REPO_ROOT / "conf" / "model"


def _module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def _imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules ``path`` imports, at the top or inside a function (a deferred import is still an edge).

    ``from lightning_r1.models import X`` is an edge to the submodule X when there is one, else to the package itself
    (its ``__init__`` imports every family)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found |= {
                f"{PACKAGE}.{a.name}" if f"{PACKAGE}.{a.name}" in modules else PACKAGE for a in node.names
            }
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"{PACKAGE}."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(f"{PACKAGE}.")}
    return found & modules


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, …, a]``, or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(path: list[str]) -> list[str] | None:
        state[path[-1]] = "open"
        for nxt in sorted(graph[path[-1]]):
            if state.get(nxt) == "open":  # back to a module on the current path
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit([*path, nxt])):
                return cycle
        state[path[-1]] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit([start])):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"b"}}) == ["b", "b"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_models_modules_import_each_other_without_a_cycle() -> None:
    """conditional.py imported dcgan/mlp/resnet, and their builders imported it back inside the function."""
    paths = sorted(MODELS_DIR.glob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imported_modules(p, modules) for p in paths}
    assert graph[PACKAGE] >= {f"{PACKAGE}.dcgan", f"{PACKAGE}.r3gan"}  # the graph is read, not empty
    assert _find_cycle(graph) is None, " → ".join(_find_cycle(graph) or [])


@pytest.mark.parametrize("path", sorted(MODEL_CONF_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_key_is_a_parameter_of_the_builders_own_code(path: Path) -> None:
    """A builder is a plain function: no decorator adds ``spectral_norm`` by rewriting ``__signature__``."""
    node = OmegaConf.load(path)
    builder = hydra.utils.get_method(node._target_)
    code = builder.__code__
    own = set(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    assert set(node) - {"_target_"} <= own, (
        f"{node._target_} does not itself take {set(node) - own - {'_target_'}}"
    )
    assert "__signature__" not in vars(builder) and "__wrapped__" not in vars(builder)


FAMILY = '''
"""A throw-away model family, written as docs/architecture.md ("A model") says."""
from torch import Tensor, nn

from lightning_r1.models.conditional_layers import LabelEmbedding, Projection
from lightning_r1.models.pair import GANModels, gan_models


class TinyGenerator(nn.Module):
    def __init__(self, latent_dim: int, num_classes: int | None = None) -> None:
        super().__init__()
        self.latent_dim, self.sample_shape = latent_dim, (2,)
        self.label = None if num_classes is None else LabelEmbedding(num_classes, latent_dim)
        self.net = nn.Linear(latent_dim if num_classes is None else 2 * latent_dim, 2)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z if self.label is None else self.label(z, y))


class TinyDiscriminator(nn.Module):
    def __init__(self, hidden: int, num_classes: int | None = None) -> None:
        super().__init__()
        self.features, self.logit = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2)), nn.Linear(hidden, 1)
        self.projection = None if num_classes is None else Projection(num_classes, hidden)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.features(x)
        logit = self.logit(h).squeeze(-1)
        return logit if self.projection is None else logit + self.projection(h, y)


def build_tiny(
    latent_dim: int, hidden: int = 8, num_classes: int | None = None, spectral_norm: bool = False
) -> GANModels:
    return gan_models(TinyGenerator(latent_dim, num_classes), TinyDiscriminator(hidden, num_classes), spectral_norm)
'''

CONFIG = """_target_: tiny_family.build_tiny
latent_dim: ${gan.latent_dim}
hidden: 8
num_classes: ${gan.num_classes}
spectral_norm: false
"""


def test_a_model_family_added_from_a_temporary_folder_trains_conditional_and_spectral_normalized(
    tmp_path: Path,
) -> None:
    """The recipe's two files (a module with G, D and the builder; a config) and nothing else: a conditional run
    with spectral norm trains through the real CLI, and the checkpoint holds D's normalized weights and projection."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "tiny_family.py").write_text(FAMILY)
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "tiny.yaml").write_text(CONFIG)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "code"), os.environ.get("PYTHONPATH", "")]),
    }
    args = ["dataset=ring8", "model=tiny", "conditional=true", "model.spectral_norm=true", "gan.latent_dim=4",
            "iterations=2", "batch_size=8", "metrics=none", "samples_every=0", "trainer.enable_progress_bar=false",
            f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "hydra.run.dir=run"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), *args],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert "discriminator.projection.embed.parametrizations.weight.original" in state
    assert "generator.label.embed.weight" in state

"""The same quiet in every app: training, evaluate, generate, and the Python API inside ``quiet_known_notices``.

Lightning prints an advertisement at every Trainer construction ("💡 Tip: ... litlogger"), a deprecation raised inside
its own pytree code, and, for a Trainer without ``max_epochs``, a 1000-epoch notice; nobody running these apps can
act on them. Importing lightning_r1 changes no filter (tests/app/test_installed_app.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

NOTICES = ("Tip:", "litlogger", "LeafSpec", "max_epochs", "Warning")
TINY = ["dataset=ring8", "model=mlp", "model.hidden=8", "model.layers=1", "gan.latent_dim=4", "iterations=2",
        "samples_every=0", "checkpoint_every=0", "metrics=none", "trainer.enable_progress_bar=false"]  # fmt: skip

API_RUN = """
import lightning as L, torch, warnings
from lightning_r1 import GAN, R1
from lightning_r1.console import quiet_known_notices
from lightning_r1.data import Ring8DataModule

def fit():
    G, D = torch.nn.Linear(4, 2), torch.nn.Linear(2, 1)
    trainer = L.Trainer(callbacks=[R1(gamma=1.0)], accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, max_epochs=MAX_EPOCHS)
    trainer.fit(GAN(G, D, latent_dim=4, iterations=2), datamodule=Ring8DataModule(batch_size=8))

before = list(warnings.filters)
QUIET
print("filters restored:", list(warnings.filters) == before)
"""


def run(args: list[str], cwd: Path) -> str:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run([str(REPO_ROOT / "train.py"), *TINY, f"hydra.run.dir={out}"], out)
    return out / "checkpoints" / "last.ckpt"


@pytest.mark.slow  # a training run, then evaluate and generate launches
def test_evaluate_and_generate_print_none_of_lightnings_notices(checkpoint: Path, tmp_path: Path) -> None:
    evaluated = run(
        ["-m", "lightning_r1.evaluate", f"ckpt_path={checkpoint}", "metrics.num_samples=64"], tmp_path
    )
    generated = run(["-m", "lightning_r1.generate", f"ckpt_path={checkpoint}", "num_samples=4",
                     f"out_dir={tmp_path / 'gen'}"], tmp_path)  # fmt: skip
    assert "val/modes_covered" in evaluated and "wrote" in generated  # they did their work
    for shown in (evaluated, generated):
        for notice in NOTICES:
            assert notice not in shown, (notice, shown)


@pytest.mark.slow  # two training runs in subprocesses
def test_the_python_api_is_quiet_inside_quiet_known_notices_and_only_there(tmp_path: Path) -> None:
    plain = run(["-c", API_RUN.replace("MAX_EPOCHS", "None").replace("QUIET", "fit()")], tmp_path)
    assert "Tip:" in plain and "max_epochs" in plain  # what Lightning prints for a Trainer of the user's own
    quiet = run(["-c", API_RUN.replace("MAX_EPOCHS", "-1").replace("QUIET", "with quiet_known_notices():\n    fit()")],
                tmp_path)  # fmt: skip
    for notice in NOTICES:
        assert notice not in quiet, (notice, quiet)
    assert "filters restored: True" in quiet  # the context leaves the user's warning filters as they were

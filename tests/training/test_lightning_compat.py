"""The private Lightning API the package uses lives in ``lightning_compat.py`` alone, and exists in the installed
Lightning (checked on :data:`lightning_r1.lightning_compat.CHECKED_ON`); Lightning's NVML setting costs no
failed ``dlopen`` per optimizer step where NVML cannot load."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import lightning
import lightning as L

from lightning_r1 import lightning_compat
from lightning_r1.lightning_compat import CHECKED_ON, missing_private_api

PACKAGE = Path(lightning_compat.__file__).parent


def bare_trainer() -> L.Trainer:
    return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu")


def test_every_private_lightning_name_the_package_uses_exists() -> None:
    missing = missing_private_api(bare_trainer())
    assert not missing, (
        f"Lightning {lightning.__version__} lacks {missing}, which lightning_r1/lightning_compat.py uses "
        f"(checked on Lightning {CHECKED_ON}): adapt that module"
    )


def test_a_private_name_that_disappears_is_named() -> None:
    trainer = bare_trainer()
    del trainer.fit_loop.epoch_loop._batches_that_stepped  # as a Lightning without it would be
    assert missing_private_api(trainer) == ["trainer.fit_loop.epoch_loop._batches_that_stepped"]


PRIVATE_LIGHTNING = re.compile(
    r"_logger_connector|_batches_that_stepped|_save_topk_checkpoint|_save_last_checkpoint|\b_save_checkpoint\b"
    r"|_monitor_candidates|_check_log_dir_exists|_convert_precision_to_unified_args|_sync_module_states"
    r"|\._experiment\b|\._wandb_init\b|\._fs\b|module\._trainer\b|\"_trainer\"|from lightning[\w.]* import _"
)


def test_no_module_but_the_adapter_names_private_lightning_api() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "lightning_compat.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE_LIGHTNING.search(line) and not line.lstrip().startswith("#")
    ]
    assert not offenders, "private Lightning API outside lightning_compat.py:\n" + "\n".join(offenders)


# Counts NVML loads (ctypes.CDLL of libnvidia-ml) during the training batches of a real 4-iteration fit (8 Adam
# steps), in a fresh process (the environment variable is process-wide).
NVML_PROBE = """
import ctypes, os, sys
import lightning as L, torch
from lightning_r1 import GAN
from lightning_r1.data import Ring8DataModule
from lightning_r1.lightning_compat import NVML_CHECK, nvml_loadable
from lightning_r1.models.mlp import build_mlp

loads = []
original = ctypes.CDLL.__init__
def counting(self, name, *args, **kwargs):
    loads.append(name)
    return original(self, name, *args, **kwargs)
ctypes.CDLL.__init__ = counting
before = os.environ.get(NVML_CHECK), torch.cuda.is_available()

class Window(L.Callback):
    def on_train_start(self, trainer, pl_module):
        self.start = len(loads)

    def on_train_end(self, trainer, pl_module):
        self.loads = len(loads) - self.start

window = Window()
models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
gan = GAN(models.generator, models.discriminator, latent_dim=4, iterations=4)
L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
          accelerator="cpu", callbacks=[window]).fit(gan, datamodule=Ring8DataModule(batch_size=8))
print(nvml_loadable(), before[0], before[1], os.environ.get(NVML_CHECK), torch.cuda.is_available(), window.loads)
"""


def test_optimizer_steps_load_nvml_only_where_it_can_load() -> None:
    out = subprocess.run([sys.executable, "-c", NVML_PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    loadable, var_before, cuda_before, var_after, cuda_after, nvml_loads = out.stdout.split()[-6:]
    assert var_before == "1"  # Lightning's import set it
    assert cuda_after == cuda_before  # the same answer either way
    if loadable == "True":  # Lightning's setting stays: NVML is asked, as Lightning wants
        assert var_after == "1"
    else:  # no failed dlopen per optimizer step (8 here before): lightning_compat.nvml_loadable tried once
        assert (var_after, int(nvml_loads)) == ("None", 0)

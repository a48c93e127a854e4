"""No host sync on the hot path: a steady-state training step reads no scalar off the device.

A host sync is a ``Tensor.item()`` / ``bool(tensor)`` on a device tensor: in ATen both go through
``aten::_local_scalar_dense``. A ``TorchDispatchMode`` sees every such call with the Python stack that made it. The
only ones left in a steady-state step are Adam's: its ``state["step"]`` counter lives on the host unless
``capturable=True`` (``torch/optim/adam.py``), so reading it waits for no device work; they are set apart by stack.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lightning_r1 import GAN, R1, R2
from lightning_r1.data import Ring8DataModule
from lightning_r1.errors import NonFiniteLossError
from lightning_r1.finite_guard import DeferredFiniteCheck
from lightning_r1.models.mlp import build_mlp


class ScalarReads(TorchDispatchMode):
    """Records where each ``aten::_local_scalar_dense`` (``.item()``, ``bool()``, ``float()``) comes from."""

    def __init__(self) -> None:
        super().__init__()
        self.optimizer_counter: int = 0
        self.others: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        if func is torch.ops.aten._local_scalar_dense.default:
            stack = traceback.extract_stack()[:-1]
            if any(frame.filename.endswith("torch/optim/optimizer.py") and frame.name == "_get_value"
                   for frame in stack):  # fmt: skip
                self.optimizer_counter += 1
            else:
                self.others.append(" <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in stack[-4:]))
        return func(*args, **(kwargs or {}))


class Window(L.Callback):
    """Watches batches ``[start, stop)`` of a real fit."""

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop, self.reads = start, stop, ScalarReads()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        if batch_idx == self.start:
            self.reads.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if batch_idx == self.stop - 1:
            self.reads.__exit__(None, None, None)


def watched_fit(tmp_path: Path, **gan_kwargs) -> ScalarReads:
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, iterations=20, diagnostics_every=0,
              **gan_kwargs)  # fmt: skip
    window = Window(9, 14)  # iterations 10..14 of 20: steady state, no check due (finite_check_every=16)
    trainer = L.Trainer(callbacks=[window, R1(gamma=1.0), R2(gamma=1.0)], logger=False, accelerator="cpu",
                        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
                        log_every_n_steps=1000, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))
    return window.reads


def test_a_steady_state_step_reads_no_scalar_off_the_device(tmp_path: Path) -> None:
    reads = watched_fit(tmp_path)
    assert reads.others == []
    assert reads.optimizer_counter > 0  # the probe does see scalar reads (Adam's host-side step counter)


def test_the_probe_sees_the_per_step_check_that_skip_nonfinite_keeps(tmp_path: Path) -> None:
    reads = watched_fit(tmp_path, skip_nonfinite=True)
    assert len(reads.others) == 5 * 2  # one "is the loss finite" read per D step and per G step, 5 iterations


def test_deferred_check_names_the_first_bad_step_and_stays_failed() -> None:
    check = DeferredFiniteCheck(every=4)
    good, nan = torch.tensor(1.0), torch.tensor(float("nan"))
    for it, value in enumerate([good, good, nan, good, nan]):
        check.note(it, torch.isfinite(value), value, {"train/d_loss": value})
    assert check.due(4) and not check.due(3)
    with pytest.raises(NonFiniteLossError, match=r"iteration 2: train/d_loss is nan"):
        check.check()
    with pytest.raises(NonFiniteLossError, match=r"iteration 2"):  # a later save must not go through
        check.check()
    with pytest.raises(ValueError, match="finite_check_every"):
        DeferredFiniteCheck(every=0)

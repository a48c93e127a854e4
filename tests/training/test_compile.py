"""gan.compile: compiled G and D where no double backward is needed; exact R1 stays correct."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_r1 import GAN, R1, R2
from lightning_r1.data import Ring8DataModule
from lightning_r1.models.mlp import build_mlp


def train(compile: bool, regs: list, tmp_path: Path) -> dict[str, torch.Tensor]:
    L.seed_everything(0)
    models = build_mlp(latent_dim=4, data_dim=2, hidden=16, layers=2)
    gan = GAN(models.generator, models.discriminator, latent_dim=4, iterations=4, compile=compile,
              compile_kwargs={"backend": "aot_eager"}, diagnostics_every=2)  # fmt: skip
    trainer = L.Trainer(callbacks=regs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(gan, datamodule=Ring8DataModule(batch_size=16))
    return {k: v.detach().clone() for k, v in gan.state_dict().items()}


@pytest.mark.parametrize("regs", [lambda: [R1(1.0)], lambda: [R1(1.0), R2(1.0)]], ids=["r1", "r1+r2"])
def test_compiled_run_matches_eager_with_exact_penalties(tmp_path: Path, regs) -> None:
    eager = train(False, regs(), tmp_path)
    compiled = train(True, regs(), tmp_path)
    assert eager.keys() == compiled.keys()  # the compiled wrappers add no state_dict entries
    for key in eager:
        torch.testing.assert_close(compiled[key], eager[key], atol=1e-5, rtol=1e-5)


def test_double_backward_through_a_compiled_module_is_refused_by_torch() -> None:
    """Why penalised batches run D eagerly: torch.compile'd modules do not support double backward."""
    d = torch.compile(torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)),
                      backend="aot_eager")  # fmt: skip
    x = torch.randn(4, 2, requires_grad=True)
    (g,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        g.square().sum().backward()

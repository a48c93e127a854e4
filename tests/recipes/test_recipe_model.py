"""docs/architecture.md, "Where to add … a model", followed as written: a builder returning ``GANModels`` in a module
of one's own and a ``model/<name>.yaml`` in a config folder of one's own; no file of the package edited."""

from __future__ import annotations

from pathlib import Path

from recipe_cli import last_checkpoint, train, write

MODEL = '''
from torch import nn

from lightning_r1.models import GANModels


class Logits(nn.Module):
    """``[N, 1]`` → ``[N]``: discriminators return one logit per sample."""

    def forward(self, x):
        return x.squeeze(-1)


def build_tanh_pair(latent_dim, data_dim=2, hidden=6):
    """A throw-away family: one tanh layer each; D's first layer has no bias."""
    generator = nn.Sequential(nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, data_dim))
    discriminator = nn.Sequential(
        nn.Linear(data_dim, hidden, bias=False), nn.Tanh(), nn.Linear(hidden, 1), Logits()
    )
    return GANModels(generator, discriminator)
'''

CONFIG = """_target_: my_models.build_tanh_pair
latent_dim: ${gan.latent_dim}
data_dim: 2
hidden: 6
"""


def test_a_model_family_from_a_folder_of_ones_own_is_the_one_trained(tmp_path: Path) -> None:
    write(tmp_path, {"code/my_models.py": MODEL, "conf/model/tanh_pair.yaml": CONFIG})
    run_dir = train(
        tmp_path, "model=tanh_pair", "model.hidden=5"
    )  # its own arguments, set on the command line
    state = last_checkpoint(run_dir)["state_dict"]

    def count(prefix: str) -> int:
        return sum(v.numel() for k, v in state.items() if k.startswith(prefix))

    latent, hidden, data = 4, 5, 2
    assert count("generator.") == latent * hidden + hidden + hidden * data + data  # 32
    assert count("discriminator.") == data * hidden + hidden + 1  # 16
    assert count("generator_ema.") == count("generator.")  # the EMA copy of the same family

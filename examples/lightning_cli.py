"""Drop-in use 4: Lightning's own command line (LightningCLI) over lightning_r1.GAN, configured by a YAML file.

    pip install "lightning_r1[cli]"        # LightningCLI needs jsonargparse[signatures]
    python examples/lightning_cli.py fit --config examples/lightning_cli.yaml
    python examples/lightning_cli.py fit --config examples/lightning_cli.yaml --model.iterations=100 \
        --trainer.callbacks+=lightning_r1.R2 --trainer.callbacks.gamma=1.0

Generator, discriminator, data module and regularizers are ``class_path`` entries of the YAML file; any class of
yours works the same way. This is Lightning's CLI, not the Hydra app (``python train.py``): no run directory
contract, no summary.json; Lightning writes lightning_logs/ and its checkpoints.
"""

from lightning.pytorch.cli import LightningCLI

from lightning_r1 import GAN
from lightning_r1.console import quiet_known_notices


def main() -> None:
    with quiet_known_notices():  # optional: Lightning's advertisements and internal deprecations hidden
        LightningCLI(GAN)  # `data:` in the config names the LightningDataModule (any subclass)


if __name__ == "__main__":
    main()

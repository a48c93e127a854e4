"""Train a GAN with gradient-penalty regularizers. Configs live in conf/; see README.md.

    python train.py                                   # MNIST-5k, DCGAN, R1 — offline, CPU-sized
    python train.py 'regularizer=[r1,r2]' regularizer.r2.gamma=5
    python train.py -m regularizer=none,r1,r2,wgan_gp seed=0,1

Bad input (a negative gamma, a missing image folder, a damaged checkpoint, ...: anything found before the first
training step) ends the run with one line on stderr and exit code 2, a NaN loss with one line and exit code 1; set
HYDRA_FULL_ERROR=1 to see the traceback instead. Any other error, and any error once training has started, keeps
its traceback (exit code 1). See docs/faults.md.
"""

import os
import sys

import hydra
from omegaconf import DictConfig

from lightning_r1.app import train
from lightning_r1.errors import BAD_INPUT_EXIT_CODE, is_bad_input
from lightning_r1.training_state import NonFiniteLossError


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    try:
        return train(cfg)
    except Exception as err:
        one_line = is_bad_input(err) or isinstance(err, NonFiniteLossError)
        if not one_line or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"lightning_r1: error: {err}", file=sys.stderr)
        sys.exit(1 if isinstance(err, NonFiniteLossError) else BAD_INPUT_EXIT_CODE)


if __name__ == "__main__":
    main()

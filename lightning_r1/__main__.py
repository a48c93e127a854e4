"""The Hydra app: ``python -m lightning_r1 ARGS``, the ``lightning-r1 ARGS`` console script and ``python train.py ARGS``.

Configs ship inside the package (``lightning_r1/conf``), so the app runs the same from any directory and from an
installed wheel. Add your own config folder with ``hydra.searchpath=[file:///path/to/conf]`` (README, "Your own
configs").

Bad input (a negative gamma, a missing image folder, a damaged checkpoint, ...: anything found before the first
training step) ends the run with one line on stderr and exit code 2, a NaN loss with one line and exit code 1; set
HYDRA_FULL_ERROR=1 to see the traceback instead. Any other error, and any error once training has started, keeps
its traceback (exit code 1). See docs/faults.md.
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from lightning_r1.app import train
from lightning_r1.console import quiet_known_notices
from lightning_r1.errors import BAD_INPUT_EXIT_CODE, NonFiniteLossError, is_bad_input
from lightning_r1.version_flag import answers_version


@answers_version  # --version: lightning_r1, torch, Lightning, Hydra (not Hydra's own "Hydra 1.3.8")
@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    try:
        with quiet_known_notices():
            return train(cfg)
    except Exception as err:
        one_line = is_bad_input(err) or isinstance(err, NonFiniteLossError)
        if not one_line or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"lightning_r1: error: {err}", file=sys.stderr)
        sys.exit(1 if isinstance(err, NonFiniteLossError) else BAD_INPUT_EXIT_CODE)


if __name__ == "__main__":
    main()

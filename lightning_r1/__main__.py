"""The Hydra app: ``python -m lightning_r1 ARGS``, the ``lightning-r1 ARGS`` console script and ``python train.py ARGS``.

Configs live in ``conf/`` at the repository's top level and ship inside the wheel (``lightning_r1.config_dir``), so
the app runs the same from any directory and from an installed wheel. Add your own config folder with ``hydra.searchpath=[file:///path/to/conf]`` (README, "Your own
configs").

Bad input (a negative gamma, a missing image folder, a damaged checkpoint, ...: anything found before the first
training step) ends the run with one line on stderr and exit code 2, a NaN loss with one line and exit code 1; set
HYDRA_FULL_ERROR=1 to see the traceback instead. Any other error, and any error once training has started, keeps
its traceback (exit code 1). :func:`lightning_r1.errors.run_app` does this for every app. In a sweep (``-m``) a
failed job is reported the same way (and in its ``summary.json``) and the sweep goes on; the sweep's exit status
is the number of failed jobs (at most :data:`MAX_FAILED_EXIT_CODE`). See docs/faults.md.
"""

from __future__ import annotations

import math
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from lightning_r1.app import train
from lightning_r1.config_dir import CONFIG_DIR
from lightning_r1.errors import one_line, run_app
from lightning_r1.version_flag import answers_version

# exit statuses above 125 mean "not executable", "not found" or a signal in a shell
MAX_FAILED_EXIT_CODE = 125
# this process's sweep jobs: run directory → why it failed (None: it did not)
SWEEP_JOBS: dict[str, str | None] = {}


@answers_version  # --version: lightning_r1, torch, Lightning, Hydra (not Hydra's own "Hydra 1.3.8")
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def run(cfg: DictConfig) -> float | None:
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return run_app(lambda: train(cfg))

    # a sweep goes on: this job's summary.json says why it failed; a sweeper gets NaN (optuna: a failed trial)
    def failed(err: BaseException) -> float | None:
        SWEEP_JOBS[str(cfg.run_dir)] = one_line(err)
        return math.nan if cfg.get("objective") else None

    value = run_app(lambda: train(cfg), sweep_job=failed)
    SWEEP_JOBS.setdefault(str(cfg.run_dir), None)  # this job did not fail
    return value


def main() -> None:
    """Run the app; after a sweep, one line per failed job and the number of failed jobs as the exit status."""
    run()
    failed = {run_dir: why for run_dir, why in SWEEP_JOBS.items() if why is not None}
    if failed:
        for run_dir, why in failed.items():
            print(f"lightning_r1: failed: {run_dir}: {why}", file=sys.stderr)
        print(f"lightning_r1: error: {len(failed)} of {len(SWEEP_JOBS)} sweep jobs failed", file=sys.stderr)
        sys.exit(min(len(failed), MAX_FAILED_EXIT_CODE))


if __name__ == "__main__":
    main()

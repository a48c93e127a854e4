#!/usr/bin/env bash
# Trains one run per line of standard input (the line: train.py overrides, hydra.run.dir included), WORKERS at a
# time (default 2: one per core) with THREADS threads each (default 1). Used by pacgan_table.sh and stacked_mnist.sh.
# Each run's log is its run directory's train.log; exits non-zero, with one line, when any run failed.
#   printf '%s\n' "experiment=pacgan_ring8 seed=0 hydra.run.dir=out/a" "... hydra.run.dir=out/b" | bash benchmarks/train_parallel.sh
cd "$(dirname "$0")/.."
export PYTHON="${PYTHON:-python}"  # the interpreter to train with (tests pass their own, sys.executable)
# each line is word-split on purpose (set -f: the overrides' [a,b] lists are not globs)
OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=${THREADS:-1} xargs -d '\n' -P "${WORKERS:-2}" -I{} \
  sh -c 'set -f; exec "$PYTHON" train.py trainer.enable_progress_bar=false {} >/dev/null 2>&1' \
  || { echo "some runs failed: their summary.json says why" >&2; exit 1; }

#!/usr/bin/env bash
# The limited-data study of docs/augmentation.md: MNIST-5k limited to N = 500 and 5,000 images, DCGAN default,
# five set-ups, same iterations, seeds given as arguments (default 0). One run at a time, one thread.
#   bash benchmarks/limited_data.sh OUT_DIR [SEED ...]
# "none" and "sn" run augment=ada with target=null, p=0: no op is ever applied, but r_t is logged as for the others.
set -uf  # -f: no globbing of the regularizer=[...] overrides
out=${1:?usage: limited_data.sh OUT_DIR [SEED ...]}
shift
seeds=${*:-0}
mkdir -p "$out"
common="iterations=400 metrics.every=200 metrics.num_samples=2000 samples_every=0 checkpoint_every=0
  trainer.enable_progress_bar=false trainer.log_every_n_steps=10"
declare -A setups=(
  [none]="augment=ada augment.target=null augment.p=0"
  [diffaug]="augment=diffaug"
  [ada]="augment=ada augment.speed_images=20000"
  [ada_lecam]="augment=ada augment.speed_images=20000 regularizer=[r1,lecam]"
  [sn]="augment=ada augment.target=null augment.p=0 regularizer=none model.spectral_norm=true"
)
for seed in $seeds; do
  for n in 500 5000; do
    for name in none diffaug ada ada_lecam sn; do
      dir="$out/n${n}_${name}_s${seed}"
      [ -f "$dir/summary.json" ] && continue
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=1 nice -n 10 "${PYTHON:-python}" -m lightning_r1 $common ${setups[$name]} dataset.limit=$n seed=$seed \
        run_dir="$dir" > "$dir.log" 2>&1
    done
  done
done

#!/usr/bin/env bash
# StackedMNIST (docs/stacked_mnist.md): R3GAN's ablation (loss x penalties) and PacGAN Table 3's quarter-size D,
# each arm x seed one run of experiment=stacked_mnist, WORKERS at a time (default 2: one per core, one thread each),
# runs that already have a summary.json skipped (an interrupted study resumes); then the table and the histograms.
#
#   bash benchmarks/stacked_mnist.sh OUT_DIR                            # the main arm, seeds 0 1 2
#   ARMS="rp_r1r2 rp_r1r2_quarter ns_none_quarter" SEEDS=0 bash benchmarks/stacked_mnist.sh OUT_DIR
#
# Arms: <loss>_<penalties>[_quarter]; loss rp = relativistic pairing (RpGAN), ns = non-saturating, wgan =
# Wasserstein; penalties none, r1, r1r2 (the preset's gamma 1 each), gp = WGAN-GP with the paper's image recipe
# (Gulrajani et al. 2017: lambda 10, 5 critic steps per generator step, Adam(1e-4, betas 0.5/0.9)) for 1,900
# iterations, the train time of the preset's 6,000 with RpGAN + R1 + R2 (one thread, CPU seconds of a 160- minus a
# 40-iteration run, 2026-12-06, machine shared, load ~10: 940 ms per iteration against 298 ms), so wgan_gp is
# WGAN-GP as published at rp_r1r2's cost; _quarter: D at width 21 against G's 32, a quarter of G's parameters (PacGAN Table 3).
# EXTRA="..." is appended to every run's overrides (iterations=..., or the tests' tiny settings; its iterations= replaces
# the gp arm's 1,900 too: give that arm 0.32x the others' in a run of its own for equal train time).
set -euo pipefail
out=${1:?usage: stacked_mnist.sh OUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"
declare -A loss=([rp]=relativistic [ns]=nonsaturating [wgan]=wasserstein)
declare -A penalty=(
  [none]="regularizer=none"
  [r1]="regularizer=r1"
  [r1r2]="regularizer=[r1,r2]"
  [gp]="regularizer=wgan_gp regularizer.wgan_gp.weight=10 gan.d_steps=5 optim.lr=0.0001 optim.g.betas=[0.5,0.9] \
optim.d.betas=[0.5,0.9] iterations=1900"
)
jobs=()
for arm in ${ARMS:-rp_r1r2}; do
  IFS=_ read -r l p quarter <<< "$arm"
  if [ -z "${loss[$l]:-}" ] || [ -z "${penalty[$p]:-}" ] || { [ -n "$quarter" ] && [ "$quarter" != quarter ]; }; then
    echo "ARMS: expected <rp|ns|wgan>_<none|r1|r1r2|gp>[_quarter], got '$arm'" >&2
    exit 2
  fi
  d_width=${quarter:+model.d_width=21}
  for seed in ${SEEDS:-0 1 2}; do
    dir="$out/$arm/seed$seed"
    [ -f "$dir/summary.json" ] && continue
    jobs+=("experiment=stacked_mnist seed=$seed loss=${loss[$l]} ${penalty[$p]} $d_width ${EXTRA:-} hydra.run.dir=$dir")
  done
done
echo "${#jobs[@]} runs to do, ${WORKERS:-2} at a time" >&2
[ ${#jobs[@]} -eq 0 ] || printf '%s\n' "${jobs[@]}" | bash benchmarks/train_parallel.sh || true  # failures: in summary.json
"${PYTHON:-python}" -m lightning_r1.report.stacked_mnist "$out"/*/ ${FIGURES:+--figures "$FIGURES"} | tee "$out/table.md"

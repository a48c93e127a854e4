#!/usr/bin/env bash
# PacGAN Table 1's 2-D mixtures with R1, R2, R1+R2, no penalty and WGAN-GP (docs/toy_mixtures.md): every
# (dataset, method, seed) run of the table, WORKERS at a time (default 2: one per core, one thread each), runs that
# already have a summary.json skipped (so an interrupted table resumes), then the table and the figures.
#
#   bash benchmarks/pacgan_table.sh OUT_DIR                      # R1: seeds 0-4; the others: seeds 0 1
#   SEEDS="0 1 2 3 4" bash benchmarks/pacgan_table.sh OUT_DIR    # every method with these seeds
#   METHODS="r1 none" DATASETS=ring8 FIGURES=docs/figures/pacgan bash benchmarks/pacgan_table.sh OUT_DIR
#
# The recipes: experiment=pacgan_<dataset> (MLPs, batch 512, Adam 1e-3 held then decayed, 20,000 iterations) with
# R1 / R2 at gamma 1; two of WGAN-GP (Gulrajani et al. 2017), each at about the train time of R1's 20,000 iterations:
#   wgan_gp      the "lambda=10 recipe": the pacgan_<dataset> nets, Wasserstein loss, lambda 10, 5 critic steps,
#                Adam(1e-4, betas 0.5/0.9), constant lr, 5,000 generator iterations;
#   wgan_gp_toy  the recipe of Gulrajani et al.'s released toy code, experiment=pacgan_<dataset>_wgan_gp: MLPs
#                3 x 512, latent 2, lambda 0.1, 5 critic steps, batch 256, Adam(1e-4, 0.5/0.9), its length set
#                to R1's train time (the preset's comment has the measured step times).
# EXTRA="..." is appended to every run's overrides (the tests shorten the runs with it).
set -euo pipefail
out=${1:?usage: pacgan_table.sh OUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"
declare -A recipe=(
  [none]="regularizer=none"
  [r1]="regularizer=r1 regularizer.r1.gamma=1"
  [r2]="regularizer=r2 regularizer.r2.gamma=1"
  [r1r2]="regularizer=[r1,r2] regularizer.r1.gamma=1 regularizer.r2.gamma=1"
  [wgan_gp]="loss=wasserstein regularizer=wgan_gp gan.d_steps=5 optim.lr=0.0001 optim.g.betas=[0.5,0.9] \
optim.d.betas=[0.5,0.9] schedule=none iterations=5000"
)
recipe[wgan_gp_toy]=""  # its recipe is its preset
declare -A preset=([wgan_gp_toy]="_wgan_gp")  # experiment=pacgan_<dataset><this>; the others: pacgan_<dataset>
declare -A default_seeds=([r1]="0 1 2 3 4" [none]="0 1" [r2]="0 1" [r1r2]="0 1" [wgan_gp]="0 1" [wgan_gp_toy]="0 1")
jobs=()
for method in ${METHODS:-r1 none r2 r1r2 wgan_gp wgan_gp_toy}; do
  [ -n "${recipe[$method]+set}" ] || { echo "METHODS: expected some of ${!recipe[*]}, got '$method'" >&2; exit 2; }
  for seed in ${SEEDS:-${default_seeds[$method]}}; do
    for dataset in ${DATASETS:-ring8 grid25}; do
      dir="$out/${dataset}_${method}/seed$seed"
      [ -f "$dir/summary.json" ] && continue
      jobs+=("experiment=pacgan_$dataset${preset[$method]:-} seed=$seed ${recipe[$method]} ${EXTRA:-} hydra.run.dir=$dir")
    done
  done
done
echo "${#jobs[@]} runs to do, ${WORKERS:-2} at a time" >&2
[ ${#jobs[@]} -eq 0 ] || printf '%s\n' "${jobs[@]}" | bash benchmarks/train_parallel.sh || true  # failures: in summary.json
"${PYTHON:-python}" -m lightning_r1.report.toy "$out"/*_*/ ${FIGURES:+--figures "$FIGURES"} | tee "$out/table.md"

#!/usr/bin/env bash
# Regenerates every figure and table of docs/r1_explained.md, docs/dirac_gan.md and docs/toy_mixtures.md, and the
# screenshot of docs/interactive/dirac_gan.html.
#
#   bash docs/make_figures.sh              # everything: ~20 min for theory + Dirac-GAN + manifold, ~5 min for the
#                                          # MNIST gradients and the screenshot, ~80 min for the toys (2 cores)
#   SKIP_TOY=1 bash docs/make_figures.sh   # all but the toys
#
# Sweeps go to a fresh folder under multirun/ (SWEEPS=... to choose); the tables are printed and saved there.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1   # tiny models: one thread per process is far faster on a shared CPU than the default
OUT=docs/figures
SWEEPS=${SWEEPS:-multirun/docs_$(date +%Y%m%d_%H%M%S)}
QUIET=(trainer.enable_progress_bar=false)
mkdir -p "$OUT" "$SWEEPS"

# 1. theory only: vector fields, R1 vs none, eigenvalue path over gamma, the Dirac-GAN in data space
python -m lightning_r1.theory.figures --out "$OUT"

# 2. the paper's comparison on the Dirac-GAN, trained by the real GAN module: table + measured trajectories
python train.py -m experiment=dirac_none,dirac_wgan,dirac_wgan_gp,dirac_instance_noise,dirac_r1,dirac_r2 \
    gan.update=simultaneous,alternating hydra.sweep.dir="$SWEEPS/dirac" "${QUIET[@]}"
python -m lightning_r1.report.dirac table "$SWEEPS/dirac" --figure "$OUT/dirac_measured.png" \
    | tee "$SWEEPS/dirac_table.md"

# 3. measured contraction per iteration vs gamma, against max|1 + h lambda|; gamma = 1 is the repeated eigenvalue
#    (distance ~ k·rho^k), the report's last column fits the linearised run the same way
python train.py -m experiment=dirac_r1 regularizer.r1.gamma=0.05,0.1,0.3,0.5,0.7,0.9,1,1.2,1.5,2,3 \
    hydra.sweep.dir="$SWEEPS/dirac_gamma" "${QUIET[@]}"
python -m lightning_r1.report.dirac rates "$SWEEPS/dirac_gamma" --figure "$OUT/dirac_rates.png" \
    | tee "$SWEEPS/dirac_rates.md"

# 4. D's input gradient on a circle of data (G held at p_D): tangent vs normal parts over time, with and without R1
python scripts/figures/manifold.py --out "$OUT/manifold_gradients.png" --json "$SWEEPS/manifold.json"

# 4b. the force on generated samples (hand-made D), and grad_x D on real MNIST digits without and with R1 (~4 min)
python scripts/figures/force.py --out "$OUT/force_on_samples.png"
python scripts/figures/mnist_input_gradients.py --out "$OUT/mnist_input_gradients.png" | tee "$SWEEPS/mnist_input_gradients.json"

# 4c. the interactive page's screenshot (docs/interactive/dirac_gan.png): its headless-Chromium test loads the page
#     fresh in a 1440-px window (default start (1, 1), gamma 0.3), moves the frame slider to 60 and saves the page
if command -v chromium > /dev/null && command -v chromedriver > /dev/null; then
    UPDATE_DOCS_SCREENSHOT=1 python -m pytest -q tests/theory/test_interactive_page.py -k "fits_the_window and 1440"
else
    echo "chromium/chromedriver not found: docs/interactive/dirac_gan.png not refreshed" >&2
fi

# 5. 2-D mixtures, PacGAN Table 1 (docs/toy_mixtures.md): R1 x 5 seeds, none / R2 / R1+R2 / WGAN-GP (its own
#    recipe) x 2 seeds, two runs at a time (one per core), ~80 min on 2 cores
if [ -z "${SKIP_TOY:-}" ]; then
    FIGURES="$OUT/pacgan" bash benchmarks/pacgan_table.sh "$SWEEPS/toy"
fi
echo "figures in $OUT, sweeps and tables in $SWEEPS"

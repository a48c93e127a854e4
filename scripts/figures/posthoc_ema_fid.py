"""FID against σ_rel for a post-hoc EMA run, with the half-life EMA's FID as a line (docs/posthoc_ema.md).

    python scripts/figures/posthoc_ema_fid.py RUN_DIR --out docs/figures/posthoc_ema_fid.png

Reads ``RUN_DIR/eval_posthoc_<σ_rel>.json`` (``python -m lightning_r1.evaluate ckpt_path=RUN_DIR/checkpoints/
posthoc_ema_<σ_rel>.ckpt out=RUN_DIR/eval_posthoc_<σ_rel>.json``) and the half-life EMA's ``RUN_DIR/eval_halflife.json``
(the same on ``checkpoints/last.ckpt``); prints the table it draws.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    points = []
    for path in args.run_dir.glob("eval_posthoc_*.json"):
        result = json.loads(path.read_text())
        points.append((float(path.stem.removeprefix("eval_posthoc_")), result["metrics"]["val/fid"]))
    points.sort()
    half_life = json.loads((args.run_dir / "eval_halflife.json").read_text())["metrics"]["val/fid"]
    for sigma, fid in points:
        print(f"| {sigma:g} | {fid:.3f} |")
    print(f"| half-life EMA | {half_life:.3f} |")
    fig = Figure(figsize=(5, 3.2), dpi=110)  # no pyplot: the caller's backend stays as it was
    ax = fig.subplots()
    ax.plot([s for s, _ in points], [f for _, f in points], "o-", label="post-hoc EMA (reconstructed)")
    ax.axhline(half_life, color="gray", linestyle="--", label="half-life EMA (10k images, the default)")
    ax.set_xlabel("σ_rel")
    ax.set_ylabel("FID (mnist-classifier, 5,000 samples)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""A refactor changes no number: train a few short runs and record, or compare, their final weights.

    python scripts/weights_fingerprint.py record OUT_DIR              # every set-up below, a few iterations each
    python scripts/weights_fingerprint.py record OUT_DIR --setups toy_relativistic_lazy_r1r2
    python scripts/weights_fingerprint.py compare BEFORE_DIR AFTER_DIR

``record`` trains each set-up through the real CLI (``train.py``, one thread, seed 0) into ``OUT_DIR/<setup>/`` and
keeps its checkpoint's model weights as ``OUT_DIR/<setup>.weights.pt`` (G, D and the EMA generator). Run it at the
commit before a restructuring and at the commit after it, then ``compare``: it prints one line per set-up, either
``bitwise equal`` or the largest absolute difference and the first tensor that moved, and exits 1 when any differs.
The set-ups cover the paths a restructuring of the module, regularizers, schedules, augmentation and conditioning
can move: the default run, a toy relativistic lazy R1 + R2 run, DiffAugment with LeCam, the R3GAN backbone with its
schedules, WGAN-GP with the hinge loss and two D steps, a conditional run, approximate R1 with instance noise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
QUIET = [
    "trainer.enable_progress_bar=false",
    "samples_every=0",
    "checkpoint_every=0",
    "metrics=none",
    "seed=0",
]
TOY = ["dataset=ring8", "model=mlp", "model.hidden=32", "model.layers=2", "gan.latent_dim=8", "batch_size=32"]
SMALL_IMAGES = ["dataset.limit=256", "batch_size=16", "model.width=8", "gan.latent_dim=16"]

SETUPS: dict[str, list[str]] = {
    "default": ["iterations=4", "batch_size=16"],
    "toy_relativistic_lazy_r1r2": [*TOY, "iterations=12", "loss=relativistic", "regularizer=[r1,r2]",
                                   "regularizer.r1.every=4", "regularizer.r2.every=4"],
    "diffaug_lecam": [*SMALL_IMAGES, "iterations=4", "augment=diffaug", "regularizer=[r1,lecam]"],
    "r3gan_schedule": ["iterations=4", "batch_size=8", "dataset.limit=256", "gan.latent_dim=16", "model=r3gan",
                       "model.widths=16", "model.cardinality=4", "loss=relativistic", "regularizer=[r1,r2]",
                       "schedule=r3gan"],
    "wgan_gp_hinge_d2": [*SMALL_IMAGES, "iterations=4", "loss=hinge", "regularizer=wgan_gp", "gan.d_steps=2"],
    "conditional": [*SMALL_IMAGES, "iterations=4", "conditional=true"],
    "approx_r1_instance_noise": [*SMALL_IMAGES, "iterations=4", "regularizer=[approx_r1,instance_noise]"],
}  # fmt: skip


def record(out: Path, setups: list[str]) -> None:
    """Train each set-up into ``out/<setup>`` and keep its final weights in ``out/<setup>.weights.pt``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for name in setups:
        run_dir = out / name
        command = [
            sys.executable,
            str(REPO_ROOT / "train.py"),
            *QUIET,
            *SETUPS[name],
            f"hydra.run.dir={run_dir}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            sys.exit(
                f"weights_fingerprint: {name} failed (exit {result.returncode}): {result.stderr[-2000:]}"
            )
        checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
        torch.save(checkpoint["state_dict"], out / f"{name}.weights.pt")
        print(f"{name}: {len(checkpoint['state_dict'])} tensors recorded", flush=True)


def difference(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> str | None:
    """None when every tensor is bitwise equal; otherwise a line naming what moved and by how much."""
    if before.keys() != after.keys():
        return f"different tensors: only before {sorted(before.keys() - after.keys())[:3]}, only after " \
               f"{sorted(after.keys() - before.keys())[:3]}"  # fmt: skip
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    if not moved:
        return None
    largest = max((before[k].double() - after[k].double()).abs().max().item() for k in moved)
    return (
        f"{len(moved)} of {len(before)} tensors differ, largest |difference| {largest:.3g}, first {moved[0]}"
    )


def compare(before_dir: Path, after_dir: Path) -> int:
    """Print one line per set-up recorded in both folders; 1 when any differs (or none is shared), else 0."""
    names = sorted(p.name.removesuffix(".weights.pt") for p in before_dir.glob("*.weights.pt"))
    shared = [n for n in names if (after_dir / f"{n}.weights.pt").is_file()]
    if not shared:
        print(
            f"weights_fingerprint: no set-up recorded in both {before_dir} and {after_dir}", file=sys.stderr
        )
        return 1
    failed = 0
    for name in shared:
        before, after = (
            torch.load(d / f"{name}.weights.pt", weights_only=True) for d in (before_dir, after_dir)
        )
        moved = difference(before, after)
        print(f"{name}: {'bitwise equal' if moved is None else moved}")
        failed += moved is not None
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    rec = verbs.add_parser("record", help="train the set-ups and keep their final weights")
    rec.add_argument("out", type=Path)
    rec.add_argument("--setups", nargs="+", choices=sorted(SETUPS), default=list(SETUPS))
    cmp = verbs.add_parser("compare", help="compare two recordings, set-up by set-up")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.verb == "record":
        args.out.mkdir(parents=True, exist_ok=True)
        record(args.out, args.setups)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())

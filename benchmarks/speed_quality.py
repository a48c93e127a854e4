"""What R1/R2 cost for what they buy: step time and FID of penalty schedules, at equal iterations and equal wall-clock.

    python benchmarks/speed_quality.py --out /tmp/sq                 # CPU-sized default (MNIST-5k, tiny DCGAN)
    python benchmarks/speed_quality.py --device cuda --width 64 --batch-size 64 --iterations 20000 --out gpu_sq

All variants train RpGAN (``loss=relativistic``, Huang et al. 2024, R3GAN) on MNIST-5k with the same G/D:

- ``none``: no penalty;  ``r1r2``: exact R1 + R2 every step (Mescheder et al. 2018; R3GAN's objective);
- ``lazy{4,8,16}``: R1 + R2 every k-th D step, weight × k (Karras et al. 2020, StyleGAN2 §3.1), and
  ``lazy{k}_corr`` with StyleGAN2's optimizer correction (lr·k/(k+1), β^(k/(k+1)));
- ``approx``: approximate R1 + R2 (finite differences, no double backward), ``approx_q``: the same on a quarter of
  each batch (``batch_fraction=0.25``).

Two phases:

1. **Step time**, interleaved in this process (``bench.interleave``: one iteration of each variant in turn, so a
   load change on a shared machine hits all alike); the ratio of each variant's amortised median to ``none``'s.
   ``lazy{k}_corr`` costs what ``lazy{k}`` costs (the correction changes hyper-parameters only) and is not timed.
2. **Quality**: each variant × seed trains with the app (``lightning_r1.app.train``, the real Trainer and
   ``FidelityMetrics``, FID with the shipped MNIST classifier) for ``--iterations``, FID every ``--eval-every``.

Equal iterations compares FID at the last iteration. Equal wall-clock gives every variant the time ``none`` needs
for ``--iterations``: a variant with step-time ratio ρ has then done ``iterations / ρ`` iterations, and its FID
is the curve's value there (linear between evaluations). Wall-clock comes from the interleaved ratios, not the
quality runs' own timings, which a shared machine makes noisy. Writes ``speed_quality.json``, ``table.md`` and
``curves.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))  # the bench package next to this script
from bench.common import RunSettings, build_models, command_line, machine, real_batches  # noqa: E402
from bench.interleave import run_round_robin  # noqa: E402
from bench.stats import medians  # noqa: E402

# variant -> overrides of the app's config (on top of `regularizer=[r1,r2]` or `[approx_r1,approx_r2]`)
VARIANTS: dict[str, dict[str, Any]] = {
    "none": {"regs": None},
    "r1r2": {"regs": ("r1", "r2"), "every": 1},
    "lazy4": {"regs": ("r1", "r2"), "every": 4},
    "lazy4_corr": {"regs": ("r1", "r2"), "every": 4, "lazy_correction": True},
    "lazy8": {"regs": ("r1", "r2"), "every": 8},
    "lazy8_corr": {"regs": ("r1", "r2"), "every": 8, "lazy_correction": True},
    "lazy16": {"regs": ("r1", "r2"), "every": 16},
    "lazy16_corr": {"regs": ("r1", "r2"), "every": 16, "lazy_correction": True},
    "approx": {"regs": ("approx_r1", "approx_r2"), "batch_fraction": 1.0},
    "approx_q": {"regs": ("approx_r1", "approx_r2"), "batch_fraction": 0.25},
}


def timed_as(variant: str) -> str:
    """The variant whose step time stands for ``variant`` (the lazy correction costs nothing per step)."""
    return variant.removesuffix("_corr")


def overrides(variant: str, gamma: float) -> list[str]:
    """The app overrides of ``variant`` (its regularizers and their settings)."""
    spec = VARIANTS[variant]
    if spec["regs"] is None:
        return ["regularizer=none"]
    out = [f"regularizer=[{','.join(spec['regs'])}]"]
    for reg in spec["regs"]:
        out.append(f"regularizer.{reg}.gamma={gamma}")
        for key in ("every", "lazy_correction", "batch_fraction"):
            if key in spec:
                out.append(f"regularizer.{reg}.{key}={str(spec[key]).lower()}")
    return out


def regularizers(variant: str, gamma: float) -> list:
    """Fresh regularizer callbacks of ``variant`` (for the timing phase)."""
    from lightning_r1 import R1, R2, ApproxR1, ApproxR2

    spec = VARIANTS[variant]
    if spec["regs"] is None:
        return []
    if spec["regs"][0] == "approx_r1":
        return [cls(gamma, batch_fraction=spec["batch_fraction"]) for cls in (ApproxR1, ApproxR2)]
    return [cls(gamma, every=spec["every"]) for cls in (R1, R2)]


# ---- the arithmetic of the comparison ------------------------------------------------------------------------
def value_at(curve: list[tuple[int, float]], iteration: float) -> float:
    """The curve ``[(iteration, value), ...]`` (sorted) at ``iteration``, linear between points.

    Raises:
        ValueError: for an iteration outside the curve.
    """
    if not curve or iteration < curve[0][0] or iteration > curve[-1][0]:
        raise ValueError(
            f"Expected an iteration within {curve[0][0] if curve else '?'}..{curve[-1][0] if curve else '?'}, got {iteration}"
        )
    for (i0, v0), (i1, v1) in zip(curve, curve[1:], strict=False):
        if i0 <= iteration <= i1:
            return v0 if i1 == i0 else v0 + (v1 - v0) * (iteration - i0) / (i1 - i0)
    return curve[-1][1]


def equal_wall_clock_iteration(iterations: int, ratio: float) -> float:
    """Iterations a variant with step-time ratio ``ratio`` (to the reference) does in the time the reference does
    ``iterations``."""
    return iterations / ratio


def summarise(
    curves: dict[str, dict[int, list[tuple[int, float]]]], ratios: dict[str, float], iterations: int
) -> dict[str, dict[str, Any]]:
    """Per variant: step-time ratio, FID at equal iterations and at equal wall-clock (mean and std over seeds).

    Args:
        curves: ``{variant: {seed: [(iteration, fid), ...]}}``.
        ratios: step-time ratio to ``none`` of each timed variant (see :func:`timed_as`).
        iterations: the iterations every quality run made.
    """
    rows = {}
    for variant, per_seed in curves.items():
        ratio = ratios[timed_as(variant)]
        at_iter = [value_at(c, iterations) for c in per_seed.values()]
        reach = min(iterations, equal_wall_clock_iteration(iterations, ratio))
        at_wall = [value_at(c, max(reach, c[0][0])) for c in per_seed.values()]
        rows[variant] = {
            "ratio": ratio,
            "fid_equal_iterations": mean_std(at_iter),
            "iterations_at_equal_wall_clock": reach,
            "fid_equal_wall_clock": mean_std(at_wall),
        }
    return rows


def mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def markdown(rows: dict[str, dict[str, Any]], seeds: int) -> str:
    """The table of docs/benchmarks.md."""
    lines = [
        "| variant | step time / none | FID at equal iterations | iterations in none's time | FID at equal wall-clock |",
        "|---|---|---|---|---|",
    ]
    for variant, row in rows.items():
        a, b = row["fid_equal_iterations"], row["fid_equal_wall_clock"]
        lines.append(
            f"| {variant} | {row['ratio']:.2f} | {a['mean']:.2f} ± {a['std']:.2f} | "
            f"{row['iterations_at_equal_wall_clock']:.0f} | {b['mean']:.2f} ± {b['std']:.2f} |"
        )
    lines.append(f"\nmean ± std over {seeds} seeds")
    return "\n".join(lines)


# ---- phase 1: step time ----------------------------------------------------------------------------------------
def time_steps(args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    """Interleaved step times of the timed variants; returns (ratio to none, median ms)."""
    from bench.gan_variants import GANVariant

    from lightning_r1.losses import get_loss

    torch.manual_seed(0)
    generator, discriminator = build_models("dcgan", args.resolution, args.width)
    batches = real_batches(16, args.batch_size, args.resolution, torch.device(args.device))
    settings = RunSettings(device=args.device)
    timed = list(dict.fromkeys(["none", *(timed_as(v) for v in args.variants)]))  # none is the reference
    runners = {}
    for variant in timed:
        runner = GANVariant("plain", generator, discriminator, settings)
        runner.gan.loss = get_loss("relativistic")
        runner.regs = regularizers(variant, args.gamma)
        runner.lazy = [reg for reg in runner.regs if reg.every > 1]
        runner.every = max([1, *(reg.every for reg in runner.regs)])
        runners[variant] = runner
    records = run_round_robin(runners, batches, args.time_warmup + args.time_iterations)
    records = {v: {k: values[args.time_warmup :] for k, values in r.items()} for v, r in records.items()}
    med = medians(records, {v: runner.every for v, runner in runners.items()})["step"]
    return {v: med[v] / med["none"] for v in med}, {v: 1e3 * s for v, s in med.items()}


# ---- phase 2: quality ------------------------------------------------------------------------------------------
def train_one(args: argparse.Namespace, variant: str, seed: int, run_dir: Path) -> list[tuple[int, float]]:
    """One quality run through the app; its FID curve ``[(iteration, fid), ...]``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from lightning_r1.app import train

    conf = str(Path(__file__).resolve().parents[1] / "conf")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[
                "dataset=mnist_5k", "loss=relativistic", f"model.width={args.width}", f"iterations={args.iterations}",
                f"batch_size={args.batch_size}", f"seed={seed}", f"metrics.every={args.eval_every}",
                f"metrics.num_samples={args.fid_samples}", f"metrics.cache_dir={args.out / 'fid_cache'}",
                "samples_every=0", "checkpoint_every=0", "trainer.enable_progress_bar=false", "logger=csv",
                f"trainer.accelerator={'gpu' if args.device.startswith('cuda') else 'cpu'}",
                *overrides(variant, args.gamma),
            ],
        )  # fmt: skip
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)
    train(cfg)
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["status"] != "completed":
        raise RuntimeError(f"{variant} seed {seed}: the run did not complete: {summary.get('error')}")
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/fid")]
    return sorted({int(float(r["iteration"])): float(r["val/fid"]) for r in rows}.items())


def plot(curves: dict, ratios: dict, ms_none: float, path: Path) -> None:
    """FID against wall-clock seconds (iterations × the variant's interleaved step time), mean over seeds."""
    from lightning_r1.plotting import subplots

    fig, ax = subplots(1, 1, figsize=(7, 4.5), dpi=120)
    for variant, per_seed in curves.items():
        points = list(per_seed.values())[0]
        its = [i for i, _ in points]
        mean = [statistics.fmean(value_at(c, i) for c in per_seed.values()) for i in its]
        seconds = [i * ms_none * ratios[timed_as(variant)] / 1e3 for i in its]
        ax.plot(seconds, mean, marker="o", ms=3, label=variant, ls="--" if variant.endswith("_corr") else "-")
    ax.set_xlabel("wall-clock seconds (interleaved step time × iterations)")
    ax.set_ylabel("FID (MNIST classifier features)")
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, bbox_inches="tight")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for runs, JSON, table and plot")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=240, help="generator iterations per quality run")
    p.add_argument("--eval-every", type=int, default=60)
    p.add_argument("--fid-samples", type=int, default=1000)
    p.add_argument("--time-iterations", type=int, default=48, help="timed interleaved iterations per variant")
    p.add_argument("--time-warmup", type=int, default=4)
    p.add_argument("--gamma", type=float, default=1.0, help="γ of R1 and of R2 (each γ/2·E‖∇D‖²)")
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--curves-from",
        type=Path,
        default=None,
        help="a speed_quality.json whose FID curves to reuse: only the step times are measured again",
    )
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if args.iterations % args.eval_every:
        p.error("--iterations must be a multiple of --eval-every")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ratios, ms = time_steps(args)
    t_timing = time.perf_counter() - t0
    print("step time / none:", {v: round(r, 3) for v, r in ratios.items()}, flush=True)
    curves: dict[str, dict[int, list]] = {v: {} for v in args.variants}
    if args.curves_from is not None:
        saved = json.loads(args.curves_from.read_text())["curves"]
        curves = {v: {int(s): [tuple(p) for p in c] for s, c in saved[v].items()} for v in args.variants}
    for seed in range(
        args.seeds if args.curves_from is None else 0
    ):  # seed-major: a cut run has every variant
        for variant in args.variants:
            curves[variant][seed] = train_one(args, variant, seed, args.out / "runs" / f"{variant}_s{seed}")
            print(
                f"{variant} seed {seed}: {curves[variant][seed][-1]} ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    rows = summarise(curves, ratios, args.iterations)
    result = {
        "rows": rows, "ratios": ratios, "median_step_ms": ms, "curves": curves,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "timing_wall_s": t_timing, "wall_time_s": time.perf_counter() - t0, "machine": machine(args.device),
        "command": command_line(),
    }  # fmt: skip
    (args.out / "speed_quality.json").write_text(json.dumps(result, indent=2))
    (args.out / "table.md").write_text(markdown(rows, args.seeds) + "\n")
    plot(curves, ratios, ms["none"], args.out / "curves.png")
    print(markdown(rows, args.seeds))
    return result


if __name__ == "__main__":
    main()

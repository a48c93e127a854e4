"""Quality per wall-clock budget: each penalty schedule trained for the same seconds, its quality read at each budget.

    python benchmarks/budget_quality.py --out runs/budget_mnist --budgets 300,600,1200          # MNIST-5k, FID
    python benchmarks/budget_quality.py --out runs/budget_stacked --task stacked_mnist --budgets 300,600,1200

Every variant (``speed_quality.VARIANTS``: no penalty, exact R1 + R2, lazy every k with and without StyleGAN2's
optimizer correction, approximate R1 + R2 on the full batch or a quarter) trains with RpGAN (``loss=relativistic``;
Huang et al. 2024, R3GAN) through the real CLI (``train.py``, ``WORKERS`` at a time by ``train_parallel.sh``, one
thread each), on the default run's set-up (``--task mnist``: DCGAN 32 on MNIST-5k) or ``experiment=stacked_mnist``.
The clock is each run's own training time: the CPU seconds of its one training thread (``bench.time_budget``), so
two runs side by side on a shared machine each get their budget of computation; a checkpoint is written when the
clock passes each budget and the run stops after the last. Each checkpoint is then scored by
``python -m lightning_r1.evaluate`` (FID with the shipped MNIST classifier, or StackedMNIST's modes and reverse KL).

Resumable: a (variant, seed) run with all its budget checkpoints is not trained again (an interrupted one is moved
aside to ``<run>.interrupted-N`` and trained anew), a (variant, seed, budget) cell with its ``eval_<budget>s.json``
is not evaluated again. Writes ``budget_quality.json`` (every cell: iteration reached, CPU seconds, metrics), and
``table.md``: per budget, mean ± s.e. over seeds of each variant, and whether the best variant's interval separates
from each other one ("no clear difference" where they overlap, as ``python -m lightning_r1.report`` reads a sweep),
and ``quality.png`` (quality against seconds, mean ± s.e.).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # the bench package and speed_quality next to this script
from bench.common import command_line, machine  # noqa: E402
from bench.time_budget import budget_key, checkpoint_name  # noqa: E402
from speed_quality import VARIANTS, overrides  # noqa: E402

from lightning_r1.report.table import fmt_pm, mean_std, standard_error, within_noise  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
DEFAULT_VARIANTS = "none,r1r2,lazy4,lazy4_corr,lazy16,lazy16_corr,approx,approx_q"
# task -> (train.py overrides, the metric the table ranks by, further metrics shown)
TASKS: dict[str, tuple[list[str], str, list[str]]] = {
    "mnist": (["loss=relativistic"], "val/fid", []),
    "stacked_mnist": (
        ["experiment=stacked_mnist", "loss=relativistic"],
        "val/reverse_kl",
        ["val/modes_covered"],
    ),
}
LOWER_IS_BETTER = {"val/fid": True, "val/reverse_kl": True, "val/modes_covered": False}
NEVER_ENDS = 10**8  # iterations: the run stops at its last budget, not here


def run_dir(out: Path, variant: str, seed: int) -> Path:
    return out / "runs" / f"{variant}_s{seed}"


def eval_path(out: Path, variant: str, seed: int, budget: float) -> Path:
    return run_dir(out, variant, seed) / f"eval_{budget_key(budget)}s.json"


def read_json(file: Path) -> dict[str, Any]:
    """The JSON in ``file``, ``{}`` when there is none."""
    return json.loads(file.read_text()) if file.exists() else {}


def reached(path: Path) -> dict[str, dict[str, float]]:
    """``budgets.json`` of a run (``{}`` when it has none)."""
    return read_json(path / "checkpoints" / "budgets.json")


def train_line(args: argparse.Namespace, variant: str, seed: int) -> str:
    """The train.py overrides of one (variant, seed) run, as one train_parallel.sh line."""
    task, _, _ = TASKS[args.task]
    path = run_dir(args.out, variant, seed)
    quiet = ["metrics.every=0", "samples_every=0", "checkpoint_every=0"]  # nothing else on the clock
    cache = [f"metrics.cache_dir={args.out / 'fid_cache'}"] if args.task == "mnist" else []
    # the run's own evaluation at its end (the last budget's weights) with the cells' sample count
    cache += [f"metrics.num_samples={args.eval_samples}"] if args.eval_samples else []
    budget = ["+callbacks.budget._target_=bench.time_budget.BudgetCheckpoints",
              f"+callbacks.budget.budgets=[{','.join(budget_key(b) for b in args.budgets)}]",
              f"+callbacks.budget.dirpath={path / 'checkpoints'}"]  # fmt: skip
    words = [*task, *overrides(variant, args.gamma), f"seed={seed}", f"iterations={NEVER_ENDS}", *quiet, *cache,
             *budget, *args.extra.split(), f"hydra.run.dir={path}"]  # fmt: skip
    return " ".join(words)


def runs_to_train(args: argparse.Namespace) -> list[tuple[str, int]]:
    """The (variant, seed) runs without every budget's checkpoint; an interrupted or failed one moved aside.

    Raises:
        SystemExit: (2) a completed run stopped before a requested budget (it was trained with smaller budgets).
    """
    todo = []
    wanted = {budget_key(b) for b in args.budgets}
    for seed in args.seeds:
        for variant in args.variants:
            path = run_dir(args.out, variant, seed)
            if wanted <= set(reached(path)):
                continue
            summary = path / "summary.json"
            if summary.exists() and json.loads(summary.read_text()).get("status") == "completed":
                sys.stderr.write(f"--budgets: {path} was trained to {max(reached(path), key=float, default='0')} s, "
                                 "short of the largest budget asked for; use a new --out\n")  # fmt: skip
                raise SystemExit(2)
            if path.exists():
                k = 1 + sum(1 for _ in path.parent.glob(f"{path.name}.interrupted-*"))
                path.rename(path.with_name(f"{path.name}.interrupted-{k}"))
            todo.append((variant, seed))
    return todo


def train(args: argparse.Namespace, todo: list[tuple[str, int]]) -> None:
    """Every run of ``todo`` through ``train_parallel.sh`` (``--workers`` at a time, one thread each)."""
    if not todo:
        return
    env = {**os.environ, "PYTHON": sys.executable, "WORKERS": str(args.workers),
           "PYTHONPATH": os.pathsep.join(p for p in (str(BENCHMARKS), os.environ.get("PYTHONPATH")) if p)}  # fmt: skip
    lines = "".join(train_line(args, v, s) + "\n" for v, s in todo)
    subprocess.run(
        ["bash", str(BENCHMARKS / "train_parallel.sh")], input=lines, text=True, env=env, check=False
    )


def evaluate(args: argparse.Namespace, variant: str, seed: int, budget: float) -> str | None:
    """Score one cell's checkpoint with ``python -m lightning_r1.evaluate``; an error line, or None."""
    path = run_dir(args.out, variant, seed)
    ckpt = path / "checkpoints" / checkpoint_name(budget)
    if not ckpt.exists():
        return f"{variant} seed {seed} {budget_key(budget)} s: no {ckpt.name} (see {path / 'summary.json'})"
    extra = [f"metrics.num_samples={args.eval_samples}"] if args.eval_samples else []
    result = subprocess.run(
        [sys.executable, "-m", "lightning_r1.evaluate", f"ckpt_path={ckpt}", f"out={eval_path(args.out, variant, seed, budget)}",
         "trainer.accelerator=cpu", *extra],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )  # fmt: skip
    if result.returncode:
        return (
            f"{variant} seed {seed} {budget_key(budget)} s: evaluation failed: {result.stderr.strip()[-500:]}"
        )
    return None


def cells(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every evaluated (variant, seed, budget) cell: iteration reached, CPU seconds, metrics."""
    out = []
    for variant in args.variants:
        for seed in args.seeds:
            times = reached(run_dir(args.out, variant, seed))
            for budget in args.budgets:
                file = eval_path(args.out, variant, seed, budget)
                if file.exists():
                    out.append({"variant": variant, "seed": seed, "budget_s": budget, **times[budget_key(budget)],
                                "metrics": json.loads(file.read_text())["metrics"]})  # fmt: skip
    return out


# ---- the table -------------------------------------------------------------------------------------------------
def summarise(found: list[dict[str, Any]], metric: str, variants: list[str], budgets: list[float]) -> dict:
    """Per budget and variant: ``metric``'s mean, std, seeds, s.e., mean iterations reached, and the mark against the
    budget's best variant (``best`` / ``separated`` / ``no clear difference`` / ``one seed``)."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for budget in budgets:
        here = {v: [c for c in found if c["variant"] == v and c["budget_s"] == budget] for v in variants}
        stats = {}
        for variant, members in here.items():
            mean, std, n = mean_std([c["metrics"].get(metric) for c in members])
            if mean is not None:
                stats[variant] = {"mean": mean, "std": std, "n": n, "se": standard_error(std, n),
                                  "iterations": sum(c["iteration"] for c in members) / len(members)}  # fmt: skip
        ranked = sorted(stats, key=lambda v: stats[v]["mean"], reverse=not LOWER_IS_BETTER[metric])
        for variant in ranked:
            row = stats[variant]
            if variant == ranked[0]:
                row["vs_best"] = "best"
                continue
            overlap = within_noise(
                *((v, stats[v]["mean"], stats[v]["std"], stats[v]["n"]) for v in (ranked[0], variant))
            )
            row["vs_best"] = {True: "no clear difference", False: "separated", None: "one seed"}[overlap]
        rows[budget_key(budget)] = {v: stats[v] for v in ranked}
    return rows


def markdown(rows: dict, found: list[dict[str, Any]], metric: str, extra: list[str]) -> str:
    lines = []
    for budget, stats in rows.items():
        lines += [f"### {budget} s of training (CPU time of the run's thread)", "",
                  f"| variant | seeds | {metric} (mean ± s.e.) | "
                  + "".join(f"{m} (mean ± s.e.) | " for m in extra) + "iterations reached (mean) | against the best |",
                  "|" + "---|" * (5 + len(extra))]  # fmt: skip
        for variant, row in stats.items():
            others = []
            for m in extra:
                mean, std, n = mean_std([c["metrics"].get(m) for c in found
                                         if c["variant"] == variant and budget_key(c["budget_s"]) == budget])  # fmt: skip
                others.append(fmt_pm(mean, standard_error(std, n) if std is not None else None))
            lines.append(f"| {variant} | {row['n']} | {fmt_pm(row['mean'], row['se'])} | "
                         + "".join(f"{o} | " for o in others) + f"{row['iterations']:.0f} | {row['vs_best']} |")  # fmt: skip
        lines += ["", verdict(stats, metric), ""]
    return "\n".join(lines)


def verdict(stats: dict[str, dict[str, Any]], metric: str) -> str:
    """One sentence: the best variant, and which others its interval separates from."""
    if not stats:
        return "No evaluated cell."
    best, *_ = stats
    apart = [v for v, r in stats.items() if r["vs_best"] == "separated"]
    close = [v for v, r in stats.items() if r["vs_best"] in ("no clear difference", "one seed")]
    head = f"Best mean {metric}: `{best}`"
    if not close:
        return head + (", separated from every other variant." if apart else ".")
    return (head + (f"; separated from {', '.join(f'`{v}`' for v in apart)}" if apart else "")
            + f"; no clear difference from {', '.join(f'`{v}`' for v in close)}.")  # fmt: skip


def plot(rows: dict, metric: str, path: Path) -> None:
    """``metric`` against the budget's seconds, mean ± s.e. over seeds, one line per variant."""
    from lightning_r1.plotting import subplots

    fig, ax = subplots(1, 1, figsize=(7, 4.5), dpi=120)
    for variant in dict.fromkeys(v for stats in rows.values() for v in stats):
        points = [(float(b), s[variant]) for b, s in rows.items() if variant in s]
        ax.errorbar([b for b, _ in points], [r["mean"] for _, r in points], yerr=[r["se"] or 0 for _, r in points],
                    marker="o", ms=3, capsize=2, label=variant, ls="--" if variant.endswith("_corr") else "-")  # fmt: skip
    log_axis = "fid" in metric  # FID falls by decades over the budgets: a linear axis flattens the longest budget
    if log_axis:
        from matplotlib.ticker import ScalarFormatter

        ax.set_yscale("log")
        for axis_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis_formatter(ScalarFormatter())  # plain numbers (2, 3, 10), not powers of ten
    ax.set_xlabel("training time (CPU seconds of the run's one thread)")
    ax.set_ylabel(metric + " (mean ± s.e. over seeds)" + (", log scale" if log_axis else ""))
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, bbox_inches="tight")


def earlier_calls(previous: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of the calls that wrote ``previous`` (this folder's last JSON), so that a resumed or repeated
    call keeps every call's command, wall time and load, not only its own. A JSON from before ``calls`` existed
    holds one call at its top level (how many runs it trained is not recorded there: None)."""
    if not previous:
        return []
    if "calls" in previous:
        return previous["calls"]
    keys = ("command", "wall_time_s", "load_average_before_after", "runs_trained", "cells_evaluated", "finished")
    return [{key: previous.get(key) for key in keys}]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for runs, JSON, table and plot")
    p.add_argument("--task", choices=sorted(TASKS), default="mnist")
    p.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"of: {', '.join(VARIANTS)}")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument(
        "--budgets", default="300,600,1200", help="seconds of training (CPU time of the run's thread)"
    )
    p.add_argument("--gamma", type=float, default=1.0, help="γ of R1 and of R2 (each γ/2·E‖∇D‖²)")
    p.add_argument("--workers", type=int, default=2, help="runs trained (and cells evaluated) at a time")
    p.add_argument("--eval-samples", type=int, default=None, help="metrics.num_samples of the evaluation "
                   "(default: the run's, 5,000 for FID, 26,000 on StackedMNIST)")  # fmt: skip
    p.add_argument(
        "--extra", default="", help="train.py overrides appended to every run (e.g. model.width=8)"
    )
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        p.error(f"--variants: unknown {unknown}; known: {', '.join(VARIANTS)}")
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.budgets = sorted({float(b) for b in args.budgets.split(",")})
    except ValueError as err:
        p.error(f"--seeds / --budgets: expected comma-separated numbers ({err})")
    if args.budgets[0] <= 0 or args.workers < 1:
        p.error("--budgets: expected positive seconds; --workers: at least 1")
    args.out = args.out.resolve()
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    _, metric, extra = TASKS[args.task]
    args.out.mkdir(parents=True, exist_ok=True)
    t0, load_before = time.perf_counter(), os.getloadavg()
    todo = runs_to_train(args)
    print(f"{len(todo)} runs to train, {args.workers} at a time", file=sys.stderr, flush=True)
    train(args, todo)
    pending = [(v, s, b) for v in args.variants for s in args.seeds for b in args.budgets
               if not eval_path(args.out, v, s, b).exists()]  # fmt: skip
    print(f"{len(pending)} cells to evaluate", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(args.workers) as pool:
        problems = [p for p in pool.map(lambda cell: evaluate(args, *cell), pending) if p]
    for problem in problems:
        print(problem, file=sys.stderr)
    found = cells(args)
    rows = summarise(found, metric, args.variants, args.budgets)
    this_call = {
        "command": command_line(), "wall_time_s": time.perf_counter() - t0,
        "load_average_before_after": [load_before, os.getloadavg()], "runs_trained": len(todo),
        "cells_evaluated": len(pending), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    result = {
        "task": args.task, "metric": metric, "rows": rows, "cells": found, "problems": problems,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine("cpu"), **this_call,
        "calls": earlier_calls(read_json(args.out / "budget_quality.json")) + [this_call],
    }  # fmt: skip
    (args.out / "budget_quality.json").write_text(json.dumps(result, indent=2))
    table = markdown(rows, found, metric, extra)
    (args.out / "table.md").write_text(table + "\n")
    plot(rows, metric, args.out / "quality.png")
    print(table)
    return result


if __name__ == "__main__":
    main()

"""Time per training iteration (one D step + one G step): a plain PyTorch loop vs ``lightning_r1.GAN`` variants.

    python benchmarks/step_time.py --quick                      # a few minutes on 2 CPU cores
    python benchmarks/step_time.py --out step_time.json         # the figures in docs/benchmarks.md
    python benchmarks/step_time.py --model resnet --resolution 64 --width 16
    python benchmarks/step_time.py --model r3gan --width 64 --cardinality 8   # R3GAN backbone (docs/recipes.md)
    python benchmarks/step_time.py --device cuda --precision bf16 --batch-size 256 --out gpu.json
    python benchmarks/step_time.py --variants raw,plain,plain_log_every_step,raw_r1,r1,r1_log_every_step

Every variant trains its own copy of the same G and D (identical initial weights) on the same real batches
(MNIST-5k digits, [-1, 1]). Variants:

- ``raw``: the textbook non-saturating loop written here, no framework: D step (fake from G under no_grad, D on real
  and fake, one backward, Adam step), G step (fresh z, D frozen), EMA update of G (as ``GAN`` does).
- ``raw_r1``: the same loop with R1 the textbook way (GAN_stability): real batch ``requires_grad_``, one D forward,
  ``autograd.grad(create_graph=True)``, ``loss + gamma/2 · mean ||grad||²``, one backward.
- ``plain``, ``r1``, ``r1_lazy16``, ``r2``, ``r1_r2``, ``wgan_gp``, ``approx_r1``, ``approx_r1_quarter``
  (``batch_fraction=0.25``): ``lightning_r1.GAN`` attached to a
  real ``lightning.Trainer`` with those regularizer callbacks.
- not run by default: ``<GAN variant>_log_every_step``, the same with ``Trainer(log_every_n_steps=1)``, so every
  step's values go through Lightning's logging (compared with the raw loop of the same math); and any name
  followed by ``#k`` (e.g. ``raw#2``), an identical replicate (compared with the original).

How the GAN is timed: through a real ``lightning.Trainer``. Each GAN variant runs ONE ``trainer.fit`` (in its own
thread) over an endless in-memory loader of the same pre-made batches. A callback placed last holds the fit at every
``on_train_batch_end`` until the main thread hands it the next turn, so the variants advance one iteration at a time,
round-robin (the order rotated every iteration), and never run at the same time. A load change on a shared machine
therefore hits every variant alike, iteration by iteration. The raw loops run in threads of their own too (same
conditions, e.g. one malloc arena per loop). The callback records ``time.perf_counter()`` (after a
device synchronisation) and ``time.process_time()``:

- ``step`` = ``on_train_batch_start`` → ``on_train_batch_end``: Lightning's per-batch hooks, its manual-optimization
  wrapper, our ``training_step`` (D step, G step, EMA, logging). The raw loop's ``step`` is its whole iteration.
- ``loop`` = resumed after the previous batch end → this batch end: also everything Lightning does between batches
  (logger connector, progress tracking, fetching and moving the next batch).
- ``cpu`` = the process's CPU time over ``step``.

The first ``--warmup`` iterations are not timed. Figures are medians over the timed iterations. Lazy R1 (every 16)
is not a median: 15 of 16 iterations skip the penalty, so its figure is the amortised
``(15 · median(skipped) + median(penalised)) / 16``. The spread column gives the median [min, max] of the same
ratio over consecutive chunks of 16 iterations.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))  # the bench package next to this script
from bench.allocator import restart_with_steady_malloc  # noqa: E402
from bench.common import (  # noqa: E402
    GAMMA,
    LATENT_DIM,
    RunSettings,
    add_device_args,
    add_model_args,
    build_models,
    command_line,
    machine,
    parameter_counts,
    real_batches,
    set_up_process,
)
from bench.interleave import run_round_robin  # noqa: E402
from bench.report import RATIOS, check_goals, compare, print_tables  # noqa: E402
from bench.stats import CHUNK, chunk_medians, medians  # noqa: E402
from bench.variants import ABLATIONS, VARIANTS, make_runner, unknown_variants  # noqa: E402

CONFIG_KEYS = (  # the arguments copied into the JSON's "config"
    "model",
    "cardinality",
    "resolution",
    "width",
    "batch_size",
    "iterations",
    "warmup",
    "device",
    "precision",
    "compile",
    "diagnostics_every",
    "threads",
    "flush_denormal",
    "quick",
    "seed",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_model_args(p)
    p.add_argument(
        "--iterations", type=int, default=160, help="timed iterations per variant (a multiple of 16)"
    )
    p.add_argument("--warmup", type=int, default=8, help="untimed iterations per variant first")
    p.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma list out of {','.join(VARIANTS)}, or a GAN variant + {' or '.join(ABLATIONS)}",
    )
    add_device_args(p)
    p.add_argument("--precision", choices=("32", "bf16"), default="32")
    p.add_argument(
        "--compile", action="store_true", help="torch.compile G and D (GAN(compile=True)) in every variant"
    )
    p.add_argument(
        "--diagnostics-every",
        type=int,
        default=0,
        help="GAN.diagnostics_every (default 0 here: the raw loop logs no gradient norms; train.py uses 50)",
    )
    p.add_argument(
        "--quick", action="store_true", help="48 timed iterations, 4 warm-up (a few minutes on 2 CPU cores)"
    )
    p.add_argument(
        "--flush-denormal",
        action="store_true",
        help="torch.set_flush_denormal(True) in every thread: CPU speed then no longer depends on tiny values",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.iterations, args.warmup = 48, 4
    if args.iterations % CHUNK or args.iterations < CHUNK:
        p.error(
            "--iterations must be a positive multiple of 16 (each chunk of 16 then holds one lazy-R1 step)"
        )
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = unknown_variants(args.variants)
    if unknown:
        p.error(f"unknown variants {unknown}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    set_up_process(args.threads, args.flush_denormal)
    device = torch.device(args.device)
    machine_info = machine(args.device)  # load average before the run
    torch.manual_seed(args.seed)
    generator, discriminator = build_models(args.model, args.resolution, args.width, args.cardinality)
    batches = real_batches(16, args.batch_size, args.resolution, device)  # iteration i uses batch i % 16
    settings = RunSettings.from_args(args)
    runners = {v: make_runner(v, generator, discriminator, settings) for v in args.variants}

    print(
        f"{len(args.variants)} variants, {args.iterations} timed iterations each after {args.warmup} warm-up, "
        f"interleaved one iteration at a time; load average {os.getloadavg()}",
        flush=True,
    )
    t_start = time.perf_counter()
    records = run_round_robin(runners, batches, args.warmup + args.iterations)
    records = {v: {key: values[args.warmup :] for key, values in r.items()} for v, r in records.items()}
    for v, r in records.items():
        assert len(r["step"]) == args.iterations, (v, len(r["step"]))

    every = {v: runner.every for v, runner in runners.items()}
    med = medians(records, every)
    ratios, per_chunk = compare(med, chunk_medians(records, every))
    ms = {m: {v: seconds * 1e3 for v, seconds in med[m].items()} for m in med}
    result: dict[str, Any] = {
        **{name: ratios["step"][name] for name in RATIOS if name in ratios["step"]},  # the headline ratios
        "ratios_step": ratios["step"],
        "ratios_loop": ratios["loop"],
        "ratios_cpu": ratios["cpu"],
        "ratios_step_per_16_iterations": per_chunk,
        "median_ms": ms["step"],
        "median_loop_ms": ms["loop"],
        "median_cpu_ms": ms["cpu"],
        "images_per_s": {v: args.batch_size / seconds for v, seconds in med["loop"].items()},
        "goals": check_goals(ratios["step"]),
        "config": {k: getattr(args, k) for k in CONFIG_KEYS},
        "parameters": parameter_counts(generator, discriminator),
        "gamma": GAMMA,
        "latent_dim": LATENT_DIM,
        "wall_time_s": time.perf_counter() - t_start,
        "load_average_end": list(os.getloadavg()),
        "machine": machine_info,
        "command": command_line(),
    }
    print(f"parameters: {result['parameters']}")
    print_tables(result)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    restart_with_steady_malloc()  # CPU timings without per-thread mmap/page-fault noise
    main()

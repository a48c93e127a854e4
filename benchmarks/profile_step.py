"""Profile the variants of ``step_time.py``: where each iteration's time goes, and how many passes it makes.

    python benchmarks/profile_step.py                                   # raw, plain, raw_r1, r1, r1_lazy16, approx_r1
    python benchmarks/profile_step.py --variants plain --cprofile 25    # Python-level (cProfile) view of one variant

For each variant, after a warm-up block, one block of ``--iterations`` iterations runs under ``torch.profiler``
(CPU activities; CUDA too on a GPU). Printed per iteration: calls of the operators that count passes
(``aten::convolution`` = one conv layer forward, ``aten::convolution_backward``, the double-backward ops of R1),
total self time of ATen operators (the numerical work) and the rest of the wall time (Python, Lightning, hooks).
``--cprofile N`` also prints the top N functions by own time (cProfile) and the time per package.
``--flops`` instead counts floating-point operations per iteration (``torch.utils.flop_counter``'s formulas, double
backward included) for every variant of ``step_time.py``: the cost ratios the math sets, to compare with the timed ones.
Any variant name of step_time.py works, e.g. the logging ablation: ``--variants raw,plain,plain_log_every_step``.
``--syncs`` instead lists, per variant, where every scalar read off a tensor (``aten::_local_scalar_dense``: an
``.item()``, ``bool()`` or ``float()``, a host sync on a GPU) comes from, per iteration: Adam's host-side step counter
(``torch/optim``, no device sync) apart from everything else.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))  # the bench package next to this script
from bench.allocator import restart_with_steady_malloc  # noqa: E402
from bench.common import (  # noqa: E402
    RunSettings,
    add_device_args,
    add_model_args,
    build_models,
    real_batches,
    set_up_process,
)
from bench.raw_loop import RawLoop  # noqa: E402
from bench.variants import RAW_VARIANTS, VARIANTS, make_runner, unknown_variants  # noqa: E402

PASS_OPS = (
    "aten::convolution",
    "aten::convolution_backward",
    "aten::convolution_backward_overrideable",
    "ConvolutionBackward0",
    "ConvolutionBackwardBackward0",
    "aten::_foreach_lerp_",
)


def package_of(filename: str) -> str:
    for key in ("lightning_r1", "lightning/pytorch", "lightning/fabric", "torch/", "benchmarks"):
        if key in filename:
            return key.rstrip("/")
    return "other" if filename != "~" else "builtins (C: torch ops, etc.)"


class _Window:
    """Starts a profiler at the first training batch's start and stops it at the last one's end, so it covers
    exactly the block's iterations (Lightning's loop between them included, the Trainer's set-up and teardown not)."""

    def __init__(self, profiler: object) -> None:
        self.profiler, self.t0, self.t1 = profiler, 0.0, 0.0
        self.on = getattr(profiler, "enable", None) or profiler.start
        self.off = getattr(profiler, "disable", None) or profiler.stop

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.on()

    def stop(self) -> None:
        self.off()
        self.t1 = time.perf_counter()


def profiled_block(runner: object, batches: list, profiler: object) -> tuple[list[float], float]:
    """Run one block with ``profiler`` (torch.profiler.profile or cProfile.Profile) on; (step times, wall s)."""
    import lightning as L

    window = _Window(profiler)
    if isinstance(runner, RawLoop):
        window.start()
        step = runner.run_block(batches)["step"]
        window.stop()
        return step, window.t1 - window.t0

    class Hook(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001
            if batch_idx == 0:
                window.start()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # noqa: ANN001
            if pl_module.iteration >= pl_module.iterations:
                window.stop()

    # the hook goes before every other callback, so the window covers their hooks too
    step = runner.run_block(batches, before=[Hook()])["step"]
    return step, window.t1 - window.t0


def count_flops(g0: torch.nn.Module, d0: torch.nn.Module, batches: list, settings: RunSettings) -> None:
    """GFLOP per iteration of every variant (averaged over the block, so lazy R1 counts 1/16 of a penalty)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class FlopCount(TorchDispatchMode):
        """Counts FLOPs like torch.utils.flop_counter.FlopCounterMode, without its module hooks (which refuse
        ``autograd.grad`` on a leaf input, i.e. R1)."""

        def __init__(self) -> None:
            super().__init__()
            self.total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN202
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            count = flop_registry.get(func._overloadpacket)
            if count is not None:
                self.total += count(*args, **kwargs, out_val=out)
            return out

    gflops = {}
    for v in VARIANTS:
        runner = make_runner(v, g0, d0, settings)
        runner.run_block(batches[:2])  # first-fit checks (shape probe) outside the count
        with FlopCount() as counter:
            runner.run_block(batches)
        gflops[v] = counter.total / len(batches) / 1e9
    print(f"GFLOP per iteration ({len(batches)} iterations counted):")
    for v, f in gflops.items():
        base = gflops["raw"] if v in RAW_VARIANTS else gflops["plain"]
        print(f"  {v:<11} {f:8.3f}   / {'raw' if v in RAW_VARIANTS else 'plain':<5} {f / base:.3f}")


def operator_profile(v: str, runner: object, batches: list, device: torch.device, rows: int) -> None:
    """One block under torch.profiler: pass counts, ATen self time and the top ``rows`` operators, per iteration."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    prof = torch.profiler.profile(activities=activities)
    step, wall = profiled_block(runner, batches, prof)
    n = len(batches)
    events = prof.key_averages()
    counts = {e.key: e.count / n for e in events if e.key in PASS_OPS}
    aten_self = sum(e.self_cpu_time_total for e in events if e.key.startswith("aten::")) / 1e3 / n
    all_self = sum(e.self_cpu_time_total for e in events) / 1e3 / n
    step_ms = sum(step) / n * 1e3
    print(
        f"\n=== {v}: {step_ms:.1f} ms/iteration under the profiler (block wall {wall / n * 1e3:.1f} ms/it); "
        f"ATen self time {aten_self:.1f} ms/it, all recorded ops {all_self:.1f} ms/it"
    )
    print("    per iteration: " + ", ".join(f"{k} x{c:g}" for k, c in sorted(counts.items())))
    reads = sum(e.count for e in events if e.key == "aten::_local_scalar_dense") / n
    print(
        f"    scalar reads (aten::_local_scalar_dense) per iteration: {reads:g} (see --syncs for their origin)"
    )
    print(events.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40))


def scalar_read_origins(v: str, runner: object, batches: list) -> None:
    """Every ``aten::_local_scalar_dense`` of one block, by the line of lightning_r1/Lightning/torch.optim that
    asked for it (a ``TorchDispatchMode`` sees each with its Python stack), per iteration."""
    import traceback

    from torch.utils._python_dispatch import TorchDispatchMode

    class Reads(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.origins: dict[str, int] = defaultdict(int)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN202
            if func is torch.ops.aten._local_scalar_dense.default:
                frames = [
                    f for f in traceback.extract_stack()[:-1] if "site-packages/torch/utils" not in f.filename
                ]
                ours = [f for f in frames if "lightning_r1" in f.filename or "torch/optim" in f.filename]
                where = ours[-1] if ours else frames[-1]
                self.origins[f"{Path(where.filename).name}:{where.lineno} ({where.name})"] += 1
            return func(*args, **(kwargs or {}))

    reads = Reads()
    n = len(batches)
    with reads:
        runner.run_block(batches)
    total = sum(reads.origins.values()) / n
    print(f"\n=== {v}: {total:g} scalar reads per iteration over {n} iterations")
    for where, count in sorted(reads.origins.items(), key=lambda kv: -kv[1]):
        print(f"    {count / n:8.4g} /it  {where}")


def python_profile(v: str, runner: object, batches: list, rows: int) -> None:
    """One block under cProfile: own time per package, then the top ``rows`` functions by own time."""
    prof_py = cProfile.Profile()
    _, wall = profiled_block(runner, batches, prof_py)
    n = len(batches)
    per_pkg: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(prof_py).stats.items():
        per_pkg[package_of(filename)] += tottime
    print(
        f"--- cProfile {v}: wall {wall / n * 1e3:.1f} ms/it; own time per package (ms/it): "
        + ", ".join(f"{k} {t / n * 1e3:.2f}" for k, t in sorted(per_pkg.items(), key=lambda kv: -kv[1]))
    )
    s = io.StringIO()
    pstats.Stats(prof_py, stream=s).sort_stats("tottime").print_stats(rows)
    print(s.getvalue().split("\n", 6)[-1])  # without pstats' header lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="raw,plain,raw_r1,r1,r1_lazy16,approx_r1")
    add_model_args(p)
    p.add_argument("--iterations", type=int, default=16)
    add_device_args(p)
    p.add_argument("--top", type=int, default=12, help="rows of the operator table per variant")
    p.add_argument(
        "--cprofile", type=int, default=0, help="also print the top N functions by own time (cProfile)"
    )
    p.add_argument("--flops", action="store_true", help="count FLOPs per iteration of every variant")
    p.add_argument("--syncs", action="store_true", help="where each scalar read off a tensor comes from")
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = unknown_variants(args.variants)
    if unknown:
        p.error(f"unknown variants {unknown}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_up_process(args.threads)
    settings = RunSettings(device=args.device)  # float32, eager, no diagnostics
    device = torch.device(args.device)
    torch.manual_seed(0)
    g0, d0 = build_models(args.model, args.resolution, args.width)
    batches = real_batches(args.iterations, args.batch_size, args.resolution, device)
    print(f"load average {os.getloadavg()}, threads {torch.get_num_threads()}")
    if args.flops:
        count_flops(g0, d0, batches, settings)
        return
    for v in args.variants:
        runner = make_runner(v, g0, d0, settings)
        runner.run_block(batches)  # warm-up
        if args.syncs:
            scalar_read_origins(v, runner, batches)
            continue
        operator_profile(v, runner, batches, device, args.top)
        if args.cprofile:
            python_profile(v, runner, batches, args.cprofile)


if __name__ == "__main__":
    restart_with_steady_malloc()  # CPU timings without per-thread mmap/page-fault noise
    main()

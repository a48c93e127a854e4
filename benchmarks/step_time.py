"""Time per training iteration (one D step + one G step): a plain PyTorch loop vs ``lightning_r1.GAN`` variants.

    python benchmarks/step_time.py --quick                      # a few minutes on 2 CPU cores
    python benchmarks/step_time.py --out step_time.json         # the figures in docs/benchmarks.md
    python benchmarks/step_time.py --model resnet --resolution 64 --width 16
    python benchmarks/step_time.py --device cuda --precision bf16 --batch-size 256 --out gpu.json

Every variant trains its own copy of the same G and D (identical initial weights) on the same real batches
(MNIST-5k digits, [-1, 1]). Variants:

- ``raw``: the textbook non-saturating loop written here, no framework: D step (fake from G under no_grad, D on real
  and fake, one backward, Adam step), G step (fresh z, D frozen), EMA update of G (as ``GAN`` does).
- ``raw_r1``: the same loop with R1 the textbook way (GAN_stability): real batch ``requires_grad_``, one D forward,
  ``autograd.grad(create_graph=True)``, ``loss + gamma/2 · mean ||grad||²``, one backward.
- ``plain``, ``r1``, ``r1_lazy16``, ``r2``, ``r1_r2``, ``wgan_gp``, ``approx_r1``: ``lightning_r1.GAN`` attached to a
  real ``lightning.Trainer`` with those regularizer callbacks.

How the GAN is timed: through a real ``lightning.Trainer``. Each GAN variant runs ONE ``trainer.fit`` (in its own
thread) over an endless in-memory loader of the same pre-made batches. A callback placed last holds the fit at every
``on_train_batch_end`` until the main thread hands it the next turn, so the variants advance one iteration at a time,
round-robin (the order rotated every iteration), and never run at the same time. A load change on a shared machine
therefore hits every variant alike, iteration by iteration. The raw loops run in threads of their own too (same
conditions, e.g. one malloc arena per loop). The callback records ``time.perf_counter()`` (after a
device synchronisation) and ``time.process_time()``:

- ``step`` = ``on_train_batch_start`` → ``on_train_batch_end``: Lightning's per-batch hooks, its manual-optimization
  wrapper, our ``training_step`` (D step, G step, EMA, ``self.log``). The raw loop's ``step`` is its whole iteration.
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
import copy
import json
import logging
import os
import platform
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RAW_VARIANTS = ("raw", "raw_r1")
GAN_VARIANTS = ("plain", "r1", "r1_lazy16", "r2", "r1_r2", "wgan_gp", "approx_r1")
VARIANTS = RAW_VARIANTS + GAN_VARIANTS
# ablations (not run by default): `<variant>_no_log` replaces GAN.log/log_dict by no-ops; `<variant>_log_due` calls
# them only on the steps whose values Lightning hands to the loggers (every `log_every_n_steps`): the proposed change
ABLATIONS = ("_no_log", "_log_due")
# any variant name may end in "#k" (e.g. "raw#2"): an identical replicate, to see how far two runs of the same
# configuration in the same process drift apart
GAMMA = 10.0
LATENT_DIM = 64
BETAS = (0.0, 0.99)
LR = 2e-4
# JSON ratio name -> (numerator, denominator)
RATIOS = {
    "lightning_over_raw": ("plain", "raw"),
    "r1_over_plain": ("r1", "plain"),
    "raw_r1_over_plain": ("raw_r1", "raw"),
    "lazy16_over_plain": ("r1_lazy16", "plain"),
    "r2_over_plain": ("r2", "plain"),
    "r1r2_over_plain": ("r1_r2", "plain"),
    "wgan_gp_over_plain": ("wgan_gp", "plain"),
    "approx_r1_over_plain": ("approx_r1", "plain"),
    "lightning_r1_over_raw_r1": ("r1", "raw_r1"),
}
GOALS = {  # ratio name -> (bound, what it means); "raw_r1_over_plain" is the bound of r1_over_plain
    "lightning_over_raw": 1.05,
    "lazy16_over_plain": 1.03,
    "approx_r1_over_plain": 1.10,
}


# ---------------------------------------------------------------------------------------------------- set-up
def build_models(model: str, resolution: int, width: int) -> tuple[nn.Module, nn.Module]:
    from lightning_r1.models.dcgan import build_dcgan
    from lightning_r1.models.resnet import build_resnet

    build = {"dcgan": build_dcgan, "resnet": build_resnet}[model]
    pair = build(latent_dim=LATENT_DIM, resolution=resolution, channels=1, width=width)
    return pair[0], pair[1]


def real_batches(n: int, batch_size: int, resolution: int, device: torch.device) -> list[Tensor]:
    """``n`` fixed batches of MNIST-5k digits in [-1, 1] (the training data of ``python train.py``)."""
    from lightning_r1.data.mnist_5k import load_mnist_5k
    from lightning_r1.data.transforms import resize_and_scale

    images = resize_and_scale(load_mnist_5k().float().div(255.0), resolution)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
    order = order.repeat(-(-n * batch_size // len(order)))
    return [images[order[i * batch_size : (i + 1) * batch_size]].contiguous().to(device) for i in range(n)]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------- raw loop
class RawLoop:
    """The textbook non-saturating GAN loop (optionally with R1), in plain PyTorch."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        r1_gamma: float | None,
        autocast_dtype: torch.dtype | None,
        device: torch.device,
    ) -> None:
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.G_ema = copy.deepcopy(generator).requires_grad_(False).eval()
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=LR, betas=BETAS)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=LR, betas=BETAS)
        self.r1_gamma, self.device, self.dtype = r1_gamma, device, autocast_dtype
        self.images_seen = 0

    def autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)

    def step(self, real: Tensor) -> None:
        n = real.shape[0]
        # D step: adversarial loss (+ R1 on the same real forward), one backward
        with torch.no_grad(), self.autocast():
            fake = self.G(torch.randn(n, LATENT_DIM, device=self.device))
        if self.r1_gamma is not None:
            real = real.detach().requires_grad_(True)
        with self.autocast():
            d_real = self.D(real).view(n)
            d_fake = self.D(fake).view(n)
            d_loss = (F.softplus(-d_real) + F.softplus(d_fake)).mean()
        if self.r1_gamma is not None:
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            d_loss = d_loss + self.r1_gamma / 2 * grad.float().square().flatten(1).sum(1).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # G step: fresh z, D frozen
        self.D.requires_grad_(False)
        with self.autocast():
            g_loss = F.softplus(
                -self.D(self.G(torch.randn(n, LATENT_DIM, device=self.device))).view(n)
            ).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        # EMA of G (half-life 10k images, ramp-up 0.05, as GAN's defaults)
        self.images_seen += n
        half_life = min(10_000.0, self.images_seen * 0.05)
        beta = 0.5 ** (n / half_life)
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=False):
                p_ema.lerp_(p, 1.0 - beta)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=False):
                b_ema.copy_(b)

    def run_block(self, batches: list[Tensor]) -> dict[str, list]:
        step, cpu = [], []
        for real in batches:
            synchronize(self.device)
            t0, c0 = time.perf_counter(), time.process_time()
            self.step(real)
            synchronize(self.device)
            step.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return {"step": step, "loop": step, "cpu": cpu, "due": [False] * len(step)}

    # interleaved use, same interface as GANVariant: its own thread too (and so its own malloc arena: two loops
    # sharing the main thread's arena measurably slowed each other down)
    def start(self, batches: list[Tensor], iterations: int, flush_denormal: bool = False) -> None:
        self.turns = Turns()
        self.rec: dict[str, list] = {"step": [], "loop": [], "cpu": [], "due": []}

        def target() -> None:
            torch.set_flush_denormal(flush_denormal)
            try:
                self.turns.wait()
                for i in range(iterations):
                    for k, v in self.run_block([batches[i % len(batches)]]).items():
                        self.rec[k] += v
                    self.turns.wait()
            except BaseException as e:  # noqa: BLE001  (reported by the main thread)
                self.turns.error = e
                self.turns._done.release()

        self.thread = threading.Thread(target=target, name="raw", daemon=True)
        self.thread.start()
        self.turns.ready()

    def advance(self) -> None:
        self.turns.give()

    def finish(self) -> dict[str, list]:
        self.turns._go.release()
        self.thread.join()
        return self.rec


# ---------------------------------------------------------------------------------------------- GAN variants
def regularizers(variant: str) -> list:
    from lightning_r1 import R1, R2, WGANGP, ApproxR1

    return {
        "plain": lambda: [],
        "r1": lambda: [R1(GAMMA)],
        "r1_lazy16": lambda: [R1(GAMMA, every=16)],
        "r2": lambda: [R2(GAMMA)],
        "r1_r2": lambda: [R1(GAMMA), R2(GAMMA)],
        "wgan_gp": lambda: [WGANGP(10.0)],
        "approx_r1": lambda: [ApproxR1(GAMMA, sigma=0.01)],
    }[variant]()


class _Endless(torch.utils.data.IterableDataset):
    """The same pre-made batches, in order, forever (the GAN stops itself after ``iterations``)."""

    def __init__(self, batches: list[Tensor]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Tensor]:
        while True:
            yield from self.batches


def _iteration_timer(device: torch.device, lazy: list, turns: Turns | None = None) -> Any:
    import lightning as L

    class IterationTimer(L.Callback):
        """Records perf_counter and process_time around every training batch (after a device sync); with
        ``turns``, waits at each batch end (and before the first batch) until the main thread gives the next turn."""

        def __init__(self) -> None:
            self.rec: dict[str, list] = {"step": [], "loop": [], "cpu": [], "due": []}
            self.t_resume = self.t_start = self.c_start = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
            if turns is not None and batch_idx == 0:
                turns.wait()
                self.t_resume = time.perf_counter()
            synchronize(device)
            self.rec["due"].append(any(reg.d_steps_seen % reg.every == 0 for reg in lazy))
            self.t_start, self.c_start = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
            synchronize(device)
            t, c = time.perf_counter(), time.process_time()
            self.rec["step"].append(t - self.t_start)
            self.rec["cpu"].append(c - self.c_start)
            self.rec["loop"].append(t - self.t_resume if turns is not None else float("nan"))
            if turns is not None:
                turns.wait()  # also after the last batch: the teardown waits for the final turn
                self.t_resume = time.perf_counter()

    return IterationTimer()


def patch_logging(gan: Any, how: str) -> None:
    """The logging ablations (see ABLATIONS)."""
    log, log_dict = gan.log, gan.log_dict

    def when_due(fn: Callable) -> Callable:
        def wrapped(*a: Any, **k: Any) -> None:
            if gan.trainer._logger_connector.should_update_logs:  # Lightning's own test for a logging step
                fn(*a, **k)

        return wrapped

    if how == "_no_log":
        gan.log = gan.log_dict = lambda *a, **k: None
    else:
        gan.log, gan.log_dict = when_due(log), when_due(log_dict)


class Turns:
    """Hands turns between the main thread and one fit thread: ``give()`` (main) lets the fit run until its next
    ``wait()`` (at a batch end) and blocks until then."""

    def __init__(self) -> None:
        self._go, self._done = threading.Semaphore(0), threading.Semaphore(0)
        self.error: BaseException | None = None

    def wait(self) -> None:  # fit thread
        self._done.release()
        self._go.acquire()

    def give(self) -> None:  # main thread
        self._go.release()
        self._done.acquire()
        if self.error is not None:
            raise RuntimeError("the fit thread failed") from self.error

    def ready(self) -> None:  # main thread: until the fit reaches its first batch
        self._done.acquire()
        if self.error is not None:
            raise RuntimeError("the fit thread failed") from self.error


class GANVariant:
    """A ``lightning_r1.GAN`` with one set of regularizers on a real ``lightning.Trainer``."""

    def __init__(
        self, variant: str, generator: nn.Module, discriminator: nn.Module, args: argparse.Namespace
    ) -> None:
        from lightning_r1 import GAN

        self.gan = GAN(
            generator,
            discriminator,
            latent_dim=LATENT_DIM,
            diagnostics_every=args.diagnostics_every,
            compile=args.compile,
        )
        base = variant
        for suffix in ABLATIONS:
            if variant.endswith(suffix):
                base = variant.removesuffix(suffix)
                patch_logging(self.gan, suffix)
        self.regs = regularizers(base)
        self.lazy = [reg for reg in self.regs if reg.every > 1]
        self.args = args
        self.turns: Turns | None = None
        self.timer: Any = None
        self.thread: threading.Thread | None = None

    def _fit(self, batches: list[Tensor], iterations: int, timer: Any) -> None:
        import lightning as L

        device = torch.device(self.args.device)
        trainer = L.Trainer(
            accelerator="gpu" if device.type == "cuda" else "cpu",
            devices=1,
            precision="bf16-mixed" if self.args.precision == "bf16" else "32-true",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            max_epochs=-1,
            callbacks=[*self.regs, timer],
        )
        self.gan.iterations = self.gan.iteration + iterations
        loader = torch.utils.data.DataLoader(_Endless(batches), batch_size=None)
        trainer.fit(self.gan, train_dataloaders=loader)

    # interleaved use (step_time.py): start, then one advance() per iteration, then finish()
    def start(self, batches: list[Tensor], iterations: int) -> None:
        self.turns = Turns()
        self.timer = _iteration_timer(torch.device(self.args.device), self.lazy, self.turns)

        def target() -> None:
            torch.set_flush_denormal(self.args.flush_denormal)  # per thread (the MXCSR register on x86)
            try:
                self._fit(batches, iterations, self.timer)
            except BaseException as e:  # noqa: BLE001  (reported by the main thread)
                self.turns.error = e
                self.turns._done.release()

        self.thread = threading.Thread(target=target, name="fit", daemon=True)
        self.thread.start()
        self.turns.ready()

    def advance(self) -> None:
        self.turns.give()

    def finish(self) -> dict[str, list]:
        self.turns._go.release()  # the final turn: teardown
        self.thread.join()
        if self.turns.error is not None:
            raise RuntimeError("the fit thread failed") from self.turns.error
        return self.timer.rec

    # block use (profile_step.py): one fit of len(batches) iterations in this thread
    def run_block(self, batches: list[Tensor]) -> dict[str, list]:
        timer = _iteration_timer(torch.device(self.args.device), self.lazy)
        self._fit(batches, len(batches), timer)
        return timer.rec


# ---------------------------------------------------------------------------------------------- statistics
def amortised_median(times: list[float], due: list[bool], every: int) -> float:
    """Median for variants that do the same work every iteration; for lazy ones the amortised cost."""
    if every == 1:
        return statistics.median(times)
    skipped = [t for t, d in zip(times, due, strict=False) if not d]
    penalised = [t for t, d in zip(times, due, strict=False) if d]
    return ((every - 1) * statistics.median(skipped) + statistics.median(penalised)) / every


def machine(args: argparse.Namespace) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
        "device": args.device,
    }
    try:
        import lightning

        info["lightning"] = lightning.__version__
    except ImportError:
        pass
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", choices=("dcgan", "resnet"), default="dcgan")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--width", type=int, default=32, help="base channels of G and D (train.py's default: 32)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--iterations", type=int, default=160, help="timed iterations per variant (a multiple of 16)"
    )
    p.add_argument("--warmup", type=int, default=8, help="untimed iterations per variant first")
    p.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma list out of {','.join(VARIANTS)}, or a GAN variant + {' or '.join(ABLATIONS)}",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=("32", "bf16"), default="32")
    p.add_argument(
        "--compile", action="store_true", help="torch.compile G and D (GAN(compile=True)) in every variant"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
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
    if args.iterations % 16 or args.iterations < 16:
        p.error(
            "--iterations must be a positive multiple of 16 (each chunk of 16 then holds one lazy-R1 step)"
        )
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    known = set(VARIANTS) | {v + a for v in GAN_VARIANTS for a in ABLATIONS}
    unknown = {v.split("#")[0] for v in args.variants} - known
    if unknown:
        p.error(f"unknown variants {sorted(unknown)}")
    return args


def compile_raw(loop: RawLoop) -> None:
    """torch.compile the raw loop's G, and D unless R1 needs its double backward (then D stays eager)."""
    loop.G = torch.compile(loop.G)
    if loop.r1_gamma is None:
        loop.D = torch.compile(loop.D)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    warnings.filterwarnings("ignore")
    import lightning  # noqa: F401  (configures its loggers on import; quieten them after)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    device = torch.device(args.device)
    machine_info = machine(args)  # load average before the run
    torch.manual_seed(args.seed)
    generator, discriminator = build_models(args.model, args.resolution, args.width)
    batches = real_batches(16, args.batch_size, args.resolution, device)  # iteration i uses batch i % 16
    dtype = torch.bfloat16 if args.precision == "bf16" else None

    runners: dict[str, Any] = {}
    for v in args.variants:
        g, d = copy.deepcopy(generator).to(device), copy.deepcopy(discriminator).to(device)
        kind = v.split("#")[0]
        if kind in RAW_VARIANTS:
            runners[v] = RawLoop(g, d, GAMMA if kind == "raw_r1" else None, dtype, device)
            if args.compile:
                compile_raw(runners[v])
        else:
            runners[v] = GANVariant(kind, g, d, args)
    every = {v: max([1, *(reg.every for reg in getattr(runners[v], "regs", []))]) for v in args.variants}

    metrics = ("step", "loop", "cpu")
    total = args.warmup + args.iterations
    print(
        f"{len(args.variants)} variants, {args.iterations} timed iterations each after {args.warmup} warm-up, "
        f"interleaved one iteration at a time; load average {os.getloadavg()}",
        flush=True,
    )
    t_start = time.perf_counter()
    for v in args.variants:
        if isinstance(runners[v], RawLoop):
            runners[v].start(batches, total, args.flush_denormal)
        else:
            runners[v].start(batches, total)
    for i in range(total):
        k = i % len(args.variants)
        for v in args.variants[k:] + args.variants[:k]:  # rotated every iteration
            runners[v].advance()
        if (i + 1) % 16 == 0:
            print(f"iteration {i + 1}/{total} ({time.perf_counter() - t_start:.0f} s)", flush=True)
    rec = {}
    for v in args.variants:
        r = runners[v].finish()
        rec[v] = {k: r[k][args.warmup :] for k in (*metrics, "due")}
        assert len(rec[v]["step"]) == args.iterations, (v, len(rec[v]["step"]))
    chunks = {  # amortised medians over consecutive chunks of 16 timed iterations, for the spread of the ratios
        m: {
            v: [
                amortised_median(rec[v][m][j : j + 16], rec[v]["due"][j : j + 16], every[v])
                for j in range(0, args.iterations, 16)
            ]
            for v in args.variants
        }
        for m in metrics
    }

    med = {
        m: {v: amortised_median(rec[v][m], rec[v]["due"], every[v]) for v in args.variants} for m in metrics
    }
    ratios: dict[str, dict[str, float]] = {m: {} for m in metrics}
    ratios_rounds: dict[str, dict[str, float]] = {}
    for name, (num, den) in RATIOS.items():
        if num in med["step"] and den in med["step"]:
            for m in metrics:
                ratios[m][name] = med[m][num] / med[m][den]
            rr = sorted(a / b for a, b in zip(chunks["step"][num], chunks["step"][den], strict=False))
            ratios_rounds[name] = {"median": statistics.median(rr), "min": rr[0], "max": rr[-1]}
    result: dict[str, Any] = {
        **ratios["step"],
        "ratios_step": ratios["step"],
        "ratios_loop": ratios["loop"],
        "ratios_cpu": ratios["cpu"],
        "ratios_step_per_16_iterations": ratios_rounds,
        "median_ms": {v: med["step"][v] * 1e3 for v in args.variants},
        "median_loop_ms": {v: med["loop"][v] * 1e3 for v in args.variants},
        "median_cpu_ms": {v: med["cpu"][v] * 1e3 for v in args.variants},
        "images_per_s": {v: args.batch_size / med["loop"][v] for v in args.variants},
        "goals": {},
        "config": {
            k: getattr(args, k)
            for k in (
                "model",
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
        },
        "gamma": GAMMA,
        "latent_dim": LATENT_DIM,
        "wall_time_s": time.perf_counter() - t_start,
        "load_average_end": list(os.getloadavg()),
        "machine": machine_info,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    for v in (
        args.variants
    ):  # logging ablations vs the framework-free loop with the same math; replicates vs original
        kind = v.split("#")[0]
        ref = kind if "#" in v else None
        for suffix in ABLATIONS:
            if ref is None and kind.endswith(suffix):
                ref = {"plain": "raw", "r1": "raw_r1"}.get(kind.removesuffix(suffix))
        if ref in med["step"]:
            for m in metrics:
                ratios[m][f"{v}_over_{ref}"] = med[m][v] / med[m][ref]
            rr = sorted(a / b for a, b in zip(chunks["step"][v], chunks["step"][ref], strict=True))
            ratios_rounds[f"{v}_over_{ref}"] = {"median": statistics.median(rr), "min": rr[0], "max": rr[-1]}
    bounds = dict(GOALS)
    if "raw_r1_over_plain" in ratios["step"]:
        bounds["r1_over_plain"] = ratios["step"]["raw_r1_over_plain"]
    for name, bound in bounds.items():
        if name in ratios["step"]:
            value = ratios["step"][name]
            result["goals"][name] = {"value": value, "bound": bound, "met": value <= bound}

    print(f"\n{'variant':<11} {'step ms':>9} {'loop ms':>9} {'cpu ms':>9} {'img/s':>8}")
    for v in args.variants:
        print(
            f"{v:<11} {med['step'][v] * 1e3:9.2f} {med['loop'][v] * 1e3:9.2f} {med['cpu'][v] * 1e3:9.2f} "
            f"{result['images_per_s'][v]:8.0f}"
        )
    print(
        f"\n{'ratio':<25} {'step':>6} {'loop':>6} {'cpu':>6}  {'step per 16 its: median [min, max]':>34}  goal (step)"
    )
    for name in ratios["step"]:
        goal = result["goals"].get(name)
        mark = f"<= {goal['bound']:.3f} {'met' if goal['met'] else 'MISSED'}" if goal else ""
        rr = ratios_rounds[name]
        print(
            f"{name:<25} {ratios['step'][name]:6.3f} {ratios['loop'][name]:6.3f} {ratios['cpu'][name]:6.3f}  "
            f"{rr['median']:14.3f} [{rr['min']:.3f}, {rr['max']:.3f}]    {mark}"
        )
    print(
        f"\nmachine: {result['machine']}; load at end {result['load_average_end']}; wall {result['wall_time_s']:.0f} s"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()

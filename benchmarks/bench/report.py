"""The ratios, goals and printed tables of ``step_time.py``."""

from __future__ import annotations

from typing import Any

from bench.stats import METRICS, spread
from bench.variants import reference

# JSON ratio name -> (numerator, denominator)
RATIOS = {
    "lightning_over_raw": ("plain", "raw"),
    "r1_over_plain": ("r1", "plain"),
    "raw_r1_over_plain": ("raw_r1", "raw"),  # R1's cost in the raw loop: the bound of r1_over_plain
    "lazy16_over_plain": ("r1_lazy16", "plain"),
    "r2_over_plain": ("r2", "plain"),
    "r1r2_over_plain": ("r1_r2", "plain"),
    "wgan_gp_over_plain": ("wgan_gp", "plain"),
    "approx_r1_over_plain": ("approx_r1", "plain"),
    "approx_r1_quarter_over_plain": ("approx_r1_quarter", "plain"),  # ApproxR1(batch_fraction=0.25)
    "diffaug_over_r1": ("r1_diffaug", "r1"),  # D's input augmentation (docs/augmentation.md)
    "ada_over_r1": ("r1_ada", "r1"),
    "lightning_r1_over_raw_r1": ("r1", "raw_r1"),
}
GOALS = {
    "lightning_over_raw": 1.05,
    "lazy16_over_plain": 1.03,
    "approx_r1_over_plain": 1.10,
    "diffaug_over_r1": 1.15,
    "ada_over_r1": 1.15,
}  # upper bounds


def compare(
    med: dict[str, dict[str, float]], chunks: dict[str, dict[str, list[float]]]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """The ratios whose variants both ran: those of RATIOS, then each replicate or ablation over its reference.
    Returns ``{metric: {name: ratio of medians}}`` and ``{name: spread of the step ratio over the chunks}``."""
    ran = med["step"]
    pairs = [(name, num, den) for name, (num, den) in RATIOS.items() if num in ran and den in ran]
    for v in ran:
        ref = reference(v)
        if ref in ran:
            pairs.append((f"{v}_over_{ref}", v, ref))
    ratios: dict[str, dict[str, float]] = {m: {} for m in METRICS}
    per_chunk = {}
    for name, num, den in pairs:
        for m in METRICS:
            ratios[m][name] = med[m][num] / med[m][den]
        chunk_ratios = [a / b for a, b in zip(chunks["step"][num], chunks["step"][den], strict=True)]
        per_chunk[name] = spread(chunk_ratios)
    return ratios, per_chunk


def check_goals(ratios_step: dict[str, float]) -> dict[str, dict[str, Any]]:
    """``{name: {value, bound, met}}`` for every goal whose ratio was measured. R1 in the GAN must cost no more
    than R1 in the raw loop: the bound of ``r1_over_plain`` is the measured ``raw_r1_over_plain``."""
    bounds = dict(GOALS)
    if "raw_r1_over_plain" in ratios_step:
        bounds["r1_over_plain"] = ratios_step["raw_r1_over_plain"]
    return {
        name: {"value": ratios_step[name], "bound": bound, "met": ratios_step[name] <= bound}
        for name, bound in bounds.items()
        if name in ratios_step
    }


def print_tables(result: dict[str, Any]) -> None:
    """The per-variant medians, then the ratios with their spread and goals, from step_time.py's result."""
    variants = list(result["median_ms"])
    w = max([11, *map(len, variants)])
    print(f"\n{'variant':<{w}} {'step ms':>9} {'loop ms':>9} {'cpu ms':>9} {'img/s':>8}")
    for v in variants:
        print(
            f"{v:<{w}} {result['median_ms'][v]:9.2f} {result['median_loop_ms'][v]:9.2f} "
            f"{result['median_cpu_ms'][v]:9.2f} {result['images_per_s'][v]:8.0f}"
        )
    names = list(result["ratios_step"])
    w = max([25, *map(len, names)])
    print(
        f"\n{'ratio':<{w}} {'step':>6} {'loop':>6} {'cpu':>6}  {'step per 16 its: median [min, max]':>34}  goal (step)"
    )
    for name in names:
        goal = result["goals"].get(name)
        mark = f"<= {goal['bound']:.3f} {'met' if goal['met'] else 'MISSED'}" if goal else ""
        rr = result["ratios_step_per_16_iterations"][name]
        print(
            f"{name:<{w}} {result['ratios_step'][name]:6.3f} {result['ratios_loop'][name]:6.3f} "
            f"{result['ratios_cpu'][name]:6.3f}  {rr['median']:14.3f} [{rr['min']:.3f}, {rr['max']:.3f}]    {mark}"
        )
    print(
        f"\nmachine: {result['machine']}; load at end {result['load_average_end']}; wall {result['wall_time_s']:.0f} s"
    )

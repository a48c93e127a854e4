"""The report's numbers: which metric decides, one row per job, mean ± std over seeds, the verdict, markdown."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import numpy as np

from lightning_r1.metrics.provenance import difference
from lightning_r1.metrics.vocabulary import DIAGNOSTICS, FALLBACK_METRIC, QUALITY_METRICS, higher_is_better
from lightning_r1.report.jobs import Job

# Direction of the quality metrics, from the one vocabulary (True: lower is better). Order = preference for the
# main metric.
DIRECTION = {key: not higher_is_better(key) for key in QUALITY_METRICS}


def fmt(value: float | int | None) -> str:
    """How every number appears in report.md (4 significant digits; ``–`` when missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e9):
        return str(int(value))
    return f"{value:.4g}"


def fmt_pm(mean: float | None, std: float | None) -> str:
    """``mean ± std`` as in the seed table: the mean like :func:`fmt`, the spread to 2 significant digits."""
    if mean is None:
        return "–"
    return fmt(mean) if std is None else f"{fmt(mean)} ± {std:.2g}"


def main_metric(jobs: list[Job]) -> str:
    """val/fid if any job has a finite value of it, else the first such toy metric (val/reverse_kl, ...), else
    train/d_loss. (Reverse KL is infinite while no sample lies near a mode: short runs fall through.)"""
    for key in DIRECTION:
        if any(_finite(j.metrics.get(key)) or np.isfinite(j.curve(key)[1]).any() for j in jobs):
            return key
    return FALLBACK_METRIC


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))


def best_value(job: Job, key: str) -> tuple[float | None, int | None]:
    """(best value, its iteration): from summary.json's ``best``, else from the metric's curve in metrics.csv."""
    entry = job.best.get(key)
    if isinstance(entry, dict) and entry.get("value") is not None:
        return float(entry["value"]), entry.get("iteration")
    x, y = job.curve(key)
    if key not in DIRECTION or not np.isfinite(y).any():
        return None, None
    y = np.where(np.isfinite(y), y, np.nan)
    i = int(np.nanargmin(y) if DIRECTION[key] else np.nanargmax(y))
    return float(y[i]), int(x[i])


def columns(jobs: list[Job], metric: str) -> list[tuple[str, Callable[[Job], float | None]]]:
    """Table columns present in at least one job: quality metrics (final, best), penalties, diagnostics, time."""
    keys = {k for j in jobs for k in j.metrics}
    quality = [k for k in (metric, *DIRECTION) if k.startswith("val/") and (k in keys or k == metric)]
    quality = list(dict.fromkeys(quality)) + sorted(
        k for k in keys if k.startswith("val/") and k not in DIRECTION
    )
    cols: list[tuple[str, Callable[[Job], float | None]]] = []
    for key in quality:
        cols.append((f"final {key}", lambda j, k=key: j.metrics.get(k)))
        if key in DIRECTION:
            cols.append((f"best {key}", lambda j, k=key: best_value(j, k)[0]))
    regs = sorted({r for j in jobs for r in (j.summary or {}).get("regularizers", [])})
    training = [f"train/{r}" for r in regs] + list(DIAGNOSTICS)
    if not quality:
        training = [FALLBACK_METRIC, "train/g_loss", *training]
    cols += [(key, lambda j, k=key: j.metrics.get(k)) for key in training if key in keys]
    cols.append(("iterations", lambda j: (j.summary or {}).get("iterations")))
    cols.append(("wall time (s)", lambda j: (j.summary or {}).get("wall_time_s")))
    return cols


def job_table(jobs: list[Job], metric: str) -> str:
    """One row per job, in job order."""
    cols = columns(jobs, metric)
    header = ["run", "overrides", "status", *(name for name, _ in cols)]
    rows = []
    for job in jobs:
        # the summary's own status (completed, failed, stopped by a signal) when there is one
        status = job.summary.get("status", "failed") if job.summary else "no summary"
        cells = [job.name, f"`{job.label}`", status]
        for name, get in cols:
            value = get(job)
            if name.startswith("best ") and _finite(value):
                it = best_value(job, name[5:])[1]
                cells.append(f"{fmt(value)} (@{it})" if it is not None else fmt(value))
            else:
                cells.append(fmt(value))
        rows.append(cells)
    return markdown(header, rows)


def groups(jobs: list[Job]) -> dict[str, list[Job]]:
    """Completed jobs by overrides minus ``seed=``, in order of first appearance."""
    out: dict[str, list[Job]] = {}
    for job in jobs:
        if job.problem is None:
            out.setdefault(job.group, []).append(job)
    return out


def seeds_vary(jobs: list[Job]) -> bool:
    return any(len({j.seed for j in members}) > 1 for members in groups(jobs).values())


def mean_std(values: list[float | None]) -> tuple[float | None, float | None, int]:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None, None, 0
    return statistics.fmean(finite), (statistics.stdev(finite) if len(finite) > 1 else 0.0), len(finite)


def provenance_conflict(jobs: list[Job], metric: str) -> str | None:
    """One line naming the provenance field in which two completed runs' ``metric`` values differ (extractor, weights,
    resize, dtype, sample counts, ...: docs/metrics.md, "Provenance"); ``None`` when all were measured alike."""
    measured = [j for members in groups(jobs).values() for j in members if _finite(j.metrics.get(metric))]
    for job in measured[1:]:
        field = difference(measured[0].provenance.get(metric), job.provenance.get(metric))
        if field is not None:
            return (f"Not ranked: {metric} of `{measured[0].name}` and `{job.name}` was measured differently: {field} "
                    "differs; only values of equal provenance are ranked (docs/metrics.md, \"Provenance\").")  # fmt: skip
    return None


def ranking(jobs: list[Job], metric: str) -> list[tuple[str, float, float, int]]:
    """Groups sorted best first by the mean final value of ``metric``; empty when its direction is unknown or the
    runs measured it differently (:func:`provenance_conflict`)."""
    if metric not in DIRECTION or provenance_conflict(jobs, metric):
        return []
    ranked = []
    for group, members in groups(jobs).items():
        mean, std, n = mean_std([j.metrics.get(metric) for j in members])
        if mean is not None:
            ranked.append((group, mean, std, n))
    return sorted(ranked, key=lambda r: r[1], reverse=not DIRECTION[metric])


def standard_error(std: float, n: int) -> float | None:
    """``std(ddof=1) / √n``; ``None`` for one seed (no noise estimate)."""
    return std / math.sqrt(n) if n > 1 else None


def fmt_seeds(mean: float, std: float, n: int) -> str:
    """``32.5 ± 2.5 (2 seeds)``: mean ± standard error, or the value alone for one seed."""
    se = standard_error(std, n)
    return f"{fmt_pm(mean, se)} ({n} seed{'s' if n > 1 else ''})"


def within_noise(best: tuple[str, float, float, int], other: tuple[str, float, float, int]) -> bool | None:
    """Whether two ranked groups' mean ± s.e. intervals overlap (|Δmean| ≤ s.e.₁ + s.e.₂): their difference is
    within the noise. ``None`` when either has one seed (no noise estimate)."""
    (_, m1, s1, n1), (_, m2, s2, n2) = best, other
    se1, se2 = standard_error(s1, n1), standard_error(s2, n2)
    return None if se1 is None or se2 is None else abs(m1 - m2) <= se1 + se2


def against_best(ranked: list[tuple[str, float, float, int]]) -> dict[str, str]:
    """The seed table's mark of each ranked group against the best one (:func:`within_noise`)."""
    marks = {ranked[0][0]: "best"} if ranked else {}
    for row in ranked[1:]:
        marks[row[0]] = {True: "≈ best, within noise", False: "worse beyond noise",
                         None: "– (one seed: no noise estimate)"}[within_noise(ranked[0], row)]  # fmt: skip
    return marks


def verdict(ranked: list[tuple[str, float, float, int]], metric: str) -> list[str]:
    """The report's opening lines: a winner only where the difference exceeds the noise, then the ranking.

    The best arm wins when its mean ± s.e. interval overlaps no other arm's (|Δmean| > s.e.₁ + s.e.₂ for each);
    an arm with one seed has no noise estimate, so no winner is called; equal means are a tie.
    """
    if not ranked:
        return []
    (best, mean, std, n), *rest = ranked
    if not rest:
        return [f"Final {metric} of `{best}`: {fmt_seeds(mean, std, n)}."]
    order = " < " if DIRECTION[metric] else " > "
    ranking_line = "Ranking (mean ± s.e.): " + order.join(
        f"`{g}` {fmt_seeds(m, s, k)}" for g, m, s, k in ranked
    )
    tied = [g for g, m, _, _ in ranked if m == mean]
    single = [g for g, _, _, k in ranked if k < 2]
    overlapping = [] if single else [r[0] for r in rest if within_noise(ranked[0], r)]
    if len(tied) > 1:
        head = f"**No single best**: {', '.join(f'`{g}`' for g in tied)} tie at final {metric} {fmt(mean)}."
    elif single:
        head = (f"**No clear winner**: `{best}` has the best final {metric} ({fmt(mean)}), but "
                f"{', '.join(f'`{g}`' for g in single)} ran with one seed, so there is no noise estimate; run every "
                "arm with several seeds (`seed=0,1,2`) to call a winner.")  # fmt: skip
    elif overlapping:
        head = (f"**No clear winner**: `{best}` has the best mean final {metric}, but its mean ± s.e. interval "
                f"overlaps {', '.join(f'`{g}`' for g in overlapping)}'s: the difference is within the noise.")  # fmt: skip
    else:
        head = (f"**Best: `{best}`** — final {metric} {fmt_seeds(mean, std, n)}; its mean ± s.e. interval overlaps "
                "no other arm's.")  # fmt: skip
    return [head, ranking_line]


def seed_table(jobs: list[Job], metric: str) -> str:
    """Mean ± std over the seeds of each group, best group first when the main metric has a direction, then
    whether each group's final value is within the noise of the best's (:func:`against_best`)."""
    cols = columns(jobs, metric)
    ranked = ranking(jobs, metric)
    marks = against_best(ranked)
    order = [g for g, *_ in ranked]
    grouped = groups(jobs)
    names = order + [g for g in grouped if g not in order]
    rows = []
    for group in names:
        members = grouped[group]
        cells = [f"`{group}`", str(len(members))] + ([marks.get(group, "–")] if ranked else [])
        for _, get in cols:
            mean, std, n = mean_std([get(j) for j in members])
            partial = f" (n={n})" if 0 < n < len(members) else ""  # some runs had no finite value
            cells.append(fmt_pm(mean, std if n > 1 else None) + partial)
        rows.append(cells)
    vs_best = [f"final {metric} vs the best (mean ± s.e.)"] if ranked else []
    return markdown(["overrides (seeds pooled)", "seeds", *vs_best, *(name for name, _ in cols)], rows)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_se(values: list[float | None], digits: int) -> str:
    """``mean ± s.e. (per-seed values)``: the standard error ``std(ddof=1)/√n`` as PacGAN's tables report it, for
    two or more seeds; ``–`` for the mean when a seed has no finite value (its cell reads ``inf``)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    cells = " / ".join(
        "inf" if v is None or not math.isfinite(float(v)) else f"{float(v):.{digits}f}" for v in values
    )
    mean = f"{np.mean(finite):.{digits}f}" if finite and len(finite) == len(values) else "–"
    if len(finite) == len(values) > 1:
        mean += f" ± {np.std(finite, ddof=1) / math.sqrt(len(finite)):.{digits}f}"
    return f"{mean} ({cells})"

"""Medians of per-iteration times, amortised over the period of lazy regularizers."""

from __future__ import annotations

import statistics

from bench.interleave import Record

METRICS = ("step", "loop", "cpu")
CHUNK = 16  # iterations per chunk for the spread of the ratios; holds exactly one lazy-R1 (every 16) step


def amortised_median(times: list[float], due: list[bool], every: int) -> float:
    """The median for variants that do the same work every iteration. For a lazy one (a penalty every ``every``
    iterations) the amortised cost ``((every - 1) · median(skipped) + median(penalised)) / every``: a plain
    median would hide the penalised iterations."""
    if every == 1:
        return statistics.median(times)
    skipped = [t for t, d in zip(times, due, strict=True) if not d]
    penalised = [t for t, d in zip(times, due, strict=True) if d]
    return ((every - 1) * statistics.median(skipped) + statistics.median(penalised)) / every


def medians(records: dict[str, Record], every: dict[str, int]) -> dict[str, dict[str, float]]:
    """``{metric: {variant: amortised median in seconds}}`` over all recorded iterations."""
    return {m: {v: amortised_median(r[m], r["due"], every[v]) for v, r in records.items()} for m in METRICS}


def chunk_medians(records: dict[str, Record], every: dict[str, int]) -> dict[str, dict[str, list[float]]]:
    """``{metric: {variant: [amortised median of each chunk of CHUNK consecutive iterations]}}``."""
    return {
        m: {
            v: [
                amortised_median(r[m][j : j + CHUNK], r["due"][j : j + CHUNK], every[v])
                for j in range(0, len(r[m]), CHUNK)
            ]
            for v, r in records.items()
        }
        for m in METRICS
    }


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1]}

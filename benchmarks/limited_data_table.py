"""The tables of docs/augmentation.md from the runs of ``benchmarks/limited_data.sh``.

    python benchmarks/limited_data_table.py /work/runs/issue18/study

Run directories are named ``n<N>_<setup>_s<seed>``. Per (N, set-up): final FID (mean ± std over the seeds that
ran, and how many), the FID at the half-way evaluation, r_t = E[sign(D(real))] averaged over the second half of
training, and the final augmentation probability p.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict

import numpy as np

from lightning_r1.report.jobs import Job, find_jobs
from lightning_r1.report.table import fmt, fmt_pm, markdown, mean_std

SETUPS = ("none", "diffaug", "ada", "ada_lecam", "sn")
NAME = re.compile(r"n(?P<n>\d+)_(?P<setup>.+)_s(?P<seed>\d+)$")


def second_half_mean(job: Job, key: str) -> float | None:
    """Mean of ``key`` over the logged rows of the second half of training."""
    steps, values = job.curve(key)
    keep = steps > steps.max() / 2 if steps.size else steps.astype(bool)
    return float(np.mean(values[keep])) if keep.any() else None


def fid_at(job: Job, iteration: int) -> float | None:
    steps, values = job.curve("val/fid")
    hit = values[steps == iteration]
    return float(hit[0]) if hit.size else None


def main(folder: str) -> str:
    cells: dict[tuple[int, str], list[Job]] = defaultdict(list)
    for job in find_jobs(folder):
        match = NAME.match(job.path.name)
        if match and job.problem is None:
            cells[(int(match["n"]), match["setup"])].append(job)
    rows = []
    for n in sorted({n for n, _ in cells}):
        for setup in SETUPS:
            jobs = cells.get((n, setup), [])
            if not jobs:
                continue
            final, std, count = mean_std([job.metrics.get("val/fid") for job in jobs])
            half, half_std, _ = mean_std([fid_at(job, 200) for job in jobs])
            rt, _, _ = mean_std([second_half_mean(job, "train/ada_rt") for job in jobs])
            p, _, _ = mean_std([job.metrics.get("train/aug_p") for job in jobs])
            wall, _, _ = mean_std([job.summary.get("wall_time_s") for job in jobs])
            rows.append([str(n), setup, fmt_pm(final, std), str(count), fmt_pm(half, half_std), fmt(rt), fmt(p),
                         fmt(wall)])  # fmt: skip
    header = ["N", "set-up", "FID (final)", "seeds", "FID @ 200", "r_t (2nd half)", "p (final)", "wall s"]
    return markdown(header, rows) + "\n\n" + rt_curves(cells)


def value_near(job: Job, key: str, iteration: int) -> float | None:
    """``key`` at the last logged row at or before ``iteration``."""
    steps, values = job.curve(key)
    keep = steps <= iteration
    return float(values[keep][-1]) if keep.any() else None


def rt_curves(cells: dict[tuple[int, str], list[Job]], every: int = 50, last: int = 400) -> str:
    """r_t (and p) every ``every`` iterations, mean over seeds: the curves as a table."""
    marks = list(range(every, last + 1, every))
    rows = []
    for (n, setup), jobs in sorted(cells.items(), key=lambda kv: (kv[0][0], SETUPS.index(kv[0][1]))):
        rts = [mean_std([value_near(job, "train/ada_rt", it) for job in jobs])[0] for it in marks]
        ps = [mean_std([value_near(job, "train/aug_p", it) for job in jobs])[0] for it in marks]
        rows.append([str(n), setup, *(f"{fmt(r)} / {fmt(p)}" for r, p in zip(rts, ps, strict=True))])
    return markdown(["N", "set-up", *(f"r_t / p @ {it}" for it in marks)], rows)


if __name__ == "__main__":
    print(main(sys.argv[1]))

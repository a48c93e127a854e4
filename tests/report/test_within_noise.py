"""The sweep report's seed table marks each group against the best one: within the noise when their mean ± s.e.
intervals overlap, beyond it when they do not, no mark without a noise estimate (one seed)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from lightning_r1.report import make_report

# final FID per group and seed. r1: mean 11, s.e. 1/√3 ≈ 0.577. none: mean 11.6, Δ = 0.6 < 2 s.e. ≈ 1.155, within.
# r2: mean 12.5, Δ = 1.5 > 1.155, beyond. wgan_gp: one seed.
FINAL = {"r1": [10.0, 11.0, 12.0], "none": [10.6, 11.6, 12.6], "r2": [11.5, 12.5, 13.5], "wgan_gp": [11.2]}


def write_sweep(root: Path) -> None:
    """A multirun folder as the app writes it: one job folder per (group, seed) with summary.json and metrics.csv."""
    job = 0
    for reg, fids in FINAL.items():
        for seed, fid in enumerate(fids):
            path = root / str(job)
            path.mkdir(parents=True)
            summary = {"iterations": 100, "wall_time_s": 10.0, "regularizers": [], "metrics": {"val/fid": fid},
                       "best": {}, "overrides": [f"regularizer={reg}", f"seed={seed}"], "status": "completed"}  # fmt: skip
            (path / "summary.json").write_text(json.dumps(summary))
            (path / "metrics.csv").write_text(f"iteration,step,val/fid\n100,99,{fid}\n")
            job += 1


def intervals_overlap(a: list[float], b: list[float]) -> bool:
    """The test's own reading: [mean ± std/√n] of a and of b share a point."""
    lo_hi = [
        (statistics.fmean(v) - statistics.stdev(v) / math.sqrt(len(v)),
         statistics.fmean(v) + statistics.stdev(v) / math.sqrt(len(v)))
        for v in (a, b)
    ]  # fmt: skip
    return lo_hi[0][0] <= lo_hi[1][1] and lo_hi[1][0] <= lo_hi[0][1]


def test_the_seed_table_marks_groups_within_the_noise_of_the_best(tmp_path: Path) -> None:
    write_sweep(tmp_path / "sweep")
    md = make_report(tmp_path / "sweep").markdown.read_text()
    section = md.split("## Mean ± std across seeds\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    header, _, *rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in section]
    column = header.index("final val/fid vs the best (mean ± s.e.)")
    marks = {row[0]: row[column] for row in rows}
    assert intervals_overlap(FINAL["r1"], FINAL["none"]) and not intervals_overlap(FINAL["r1"], FINAL["r2"])
    assert marks == {
        "`regularizer=r1`": "best",
        "`regularizer=none`": "≈ best, within noise",
        "`regularizer=r2`": "worse beyond noise",
        "`regularizer=wgan_gp`": "– (one seed: no noise estimate)",
    }
    assert [row[0] for row in rows] == ["`regularizer=r1`", "`regularizer=wgan_gp`", "`regularizer=none`",
                                        "`regularizer=r2`"]  # best first, by mean  # fmt: skip

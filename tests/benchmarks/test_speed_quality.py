"""benchmarks/speed_quality.py: its arithmetic (equal iterations, equal wall-clock, ratios) against independent
computations, its variants as the app composes them, and (slow) the whole script on tiny settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT, compose_config

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import speed_quality as sq  # noqa: E402


def test_value_at_interpolates_like_numpy() -> None:
    curve = [(0, 300.0), (60, 120.0), (120, 90.0), (240, 60.0)]
    xs, ys = zip(*curve, strict=True)
    for it in (0, 30, 60, 100.5, 200, 240):
        assert sq.value_at(curve, it) == pytest.approx(float(np.interp(it, xs, ys)))
    with pytest.raises(ValueError, match="within 0..240"):
        sq.value_at(curve, 241)


def test_equal_wall_clock_reads_each_curve_where_the_time_of_none_runs_out() -> None:
    # FID falls linearly by 1 per iteration from 200: at iteration i it is 200 - i, on every seed ± 1
    line = lambda offset: [(i, 200.0 - i + offset) for i in range(0, 101, 20)]  # noqa: E731
    curves = {"none": {0: line(1), 1: line(-1)}, "r1r2": {0: line(1), 1: line(-1)},
              "lazy4_corr": {0: line(0), 1: line(0)}}  # fmt: skip
    ratios = {"none": 1.0, "r1r2": 2.0, "lazy4": 1.25}
    rows = sq.summarise(curves, ratios, iterations=100)
    assert rows["none"]["fid_equal_iterations"] == pytest.approx({"mean": 100.0, "std": 2**0.5})
    # twice as slow: in none's time for 100 iterations it made 50, where FID = 150
    assert rows["r1r2"]["iterations_at_equal_wall_clock"] == 50
    assert rows["r1r2"]["fid_equal_wall_clock"]["mean"] == pytest.approx(150.0)
    assert rows["r1r2"]["fid_equal_iterations"]["mean"] == pytest.approx(100.0)
    # the corrected lazy variant is timed as the uncorrected one: 100 / 1.25 = 80 iterations
    assert rows["lazy4_corr"]["ratio"] == 1.25
    assert rows["lazy4_corr"]["fid_equal_wall_clock"] == pytest.approx({"mean": 120.0, "std": 0.0})
    table = sq.markdown(rows, seeds=2)
    assert "| r1r2 | 2.00 | 100.00 ± 1.41 | 50 | 150.00 ± 1.41 |" in table  # std of 99, 101: √2


def test_every_variant_composes_to_the_regularizers_it_names(tmp_path: Path) -> None:
    for variant in ("none", "lazy8_corr", "approx_q"):  # one of each kind (each composition costs ~1 s)
        spec = sq.VARIANTS[variant]
        cfg = compose_config(sq.overrides(variant, gamma=0.5), tmp_path / variant)
        regs = dict(cfg.get("regularizer") or {})
        assert sorted(regs) == sorted(spec["regs"] or []), variant
        for reg in regs.values():
            assert reg.gamma == 0.5
            assert reg.every == spec.get("every", 1) and reg.lazy_correction == spec.get(
                "lazy_correction", False
            )
            if "batch_fraction" in spec:
                assert reg.batch_fraction == spec["batch_fraction"]
    for variant, spec in sq.VARIANTS.items():  # the callbacks the timing phase runs
        timed = sq.regularizers(sq.timed_as(variant), gamma=0.5)
        assert sorted(r.name for r in timed) == sorted(spec["regs"] or []), variant
        assert all(r.every == spec.get("every", 1) for r in timed), variant


@pytest.mark.slow
def test_the_script_runs_end_to_end_on_tiny_settings(tmp_path: Path) -> None:
    sq.main(["--out", str(tmp_path), "--variants", "none,lazy4_corr,approx_q", "--seeds", "2", "--iterations", "4",
             "--eval-every", "2", "--fid-samples", "64", "--time-iterations", "4", "--time-warmup", "1",
             "--width", "4", "--batch-size", "8"])  # fmt: skip
    result = json.loads((tmp_path / "speed_quality.json").read_text())
    assert set(result["rows"]) == {"none", "lazy4_corr", "approx_q"} and result["ratios"]["none"] == 1.0
    lengths = {len(c) for per_seed in result["curves"].values() for c in per_seed.values()}
    assert lengths == {2}  # evaluations at iterations 2 and 4
    assert (tmp_path / "curves.png").stat().st_size > 0 and "| approx_q |" in (
        tmp_path / "table.md"
    ).read_text()

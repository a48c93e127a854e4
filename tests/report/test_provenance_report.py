"""The sweep report ranks only values of equal provenance (docs/metrics.md, "Provenance"): runs whose FIDs were
measured with different sample counts (or weights, resize, ...) get the table and one line naming the field, no
ranking, exit 2; equal provenance is ranked as before. (Real runs through the CLI: tests/metrics/test_provenance.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TOY, compose_config
from lightning_r1.app import train
from lightning_r1.metrics.provenance import fidelity_provenance
from lightning_r1.report import make_report
from lightning_r1.report.__main__ import main as report_main

KEY = "lr1-mnist_5k-train-32px-c1-n5000-w4cf61dc78529"


def write_run(path: Path, seed: int, fid: float, provenance: dict | None) -> None:
    """A completed run directory as the app writes it (summary.json and a metrics.csv)."""
    path.mkdir(parents=True)
    summary = {"iterations": 10, "wall_time_s": 1.0, "regularizers": [], "metrics": {"val/fid": fid},
               "best": {"val/fid": {"value": fid, "iteration": 10}}, "overrides": [f"seed={seed}", f"x={path.name}"],
               "status": "completed"}  # fmt: skip
    if provenance is not None:
        summary["provenance"] = {"val/fid": provenance}
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "metrics.csv").write_text(f"step,iteration,val/fid\n9,10,{fid}\n")


def record(num_generated: int = 5000, **changes: object) -> dict:
    sha = "4cf61dc78529" + "0" * 52
    return {**fidelity_provenance("mnist-classifier", sha, 32, num_generated, 5000, KEY), **changes}


@pytest.mark.parametrize(
    "second, field",
    [(record(num_generated=1000), "num_generated (5000 vs 1000)"),
     (record(resize="bilinear-tf1 32->299"), "resize (bilinear-antialias 32->28 vs bilinear-tf1 32->299)"),
     (record(extractor_weights_sha256="ab" * 32), "extractor_weights_sha256"),
     (None, "provenance (recorded vs not recorded)")],
)  # fmt: skip
def test_different_provenance_is_not_ranked_and_the_field_is_named(
    tmp_path: Path, second, field: str, capsys
) -> None:
    write_run(tmp_path / "a", 0, 12.0, record())
    write_run(tmp_path / "b", 0, 30.0, second)
    report = make_report(tmp_path)
    assert report.not_ranked is not None and field in report.not_ranked
    text = report.markdown.read_text()
    assert "Ranking" not in text and "Best" not in text and field in text
    assert "| 12 |" in text and "| 30 |" in text  # the table still shows both runs' values
    assert report_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Not ranked: val/fid of `a` and `b`" in err[0] and field in err[0]


def test_equal_provenance_is_ranked_as_before(tmp_path: Path, capsys) -> None:
    for name, seed, fid in (("a", 0, 12.0), ("b", 0, 30.0)):
        write_run(tmp_path / name, seed, fid, record())
    report = make_report(tmp_path)
    assert report.not_ranked is None
    assert "Ranking (mean ± s.e.): `x=a` 12 (1 seed) < `x=b` 30 (1 seed)" in report.markdown.read_text()
    assert report_main([str(tmp_path)]) == 0 and capsys.readouterr().err == ""


def test_a_run_records_the_provenance_of_its_mode_metrics(make_cfg) -> None:
    cfg = make_cfg([*TOY, "iterations=2", "metrics=modes", "metrics.num_samples=300"])
    train(cfg)
    summary = json.loads((Path(cfg.run_dir) / "summary.json").read_text())
    keys = {"val/modes_covered", "val/high_quality_pct", "val/reverse_kl"}
    assert summary["provenance"] == {key: {"num_generated": 300} for key in keys}
    assert keys <= set(summary["metrics"])


def test_runs_with_different_mode_sample_counts_are_not_ranked(tmp_path: Path) -> None:
    for name, n in (("a", 300), ("b", 200)):
        train(
            compose_config(
                [*TOY, "iterations=2", "metrics=modes", f"metrics.num_samples={n}"], tmp_path / name
            )
        )
    report = make_report(tmp_path)
    assert report.metric in (
        "val/reverse_kl",
        "val/modes_covered",
    )  # reverse KL is inf while no sample is near a mode
    assert report.not_ranked is not None and "num_generated (300 vs 200)" in report.not_ranked

"""benchmarks/budget_quality.py: the time-budget checkpoints on a real run, the table's arithmetic against an
independent computation, and (slow) the whole script on budgets of seconds, resumed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, compose_config
from lightning_r1.build import group_members
from lightning_r1.progress import CHECKPOINT_KEY

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import budget_quality as bq  # noqa: E402


def test_a_run_is_checkpointed_at_each_budget_of_its_own_cpu_time_and_stops_after_the_last(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "train.py", "experiment=ring8", "model.hidden=8", "batch_size=16", "iterations=100000000",
         "metrics.every=0", "samples_every=0", "trainer.enable_progress_bar=false",
         "+callbacks.budget._target_=bench.time_budget.BudgetCheckpoints", "+callbacks.budget.budgets=[1.5,0.5]",
         f"+callbacks.budget.dirpath={run / 'checkpoints'}", f"hydra.run.dir={run}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reached = json.loads((run / "checkpoints" / "budgets.json").read_text())
    assert sorted(reached) == ["0.5", "1.5"]
    for budget, at in reached.items():
        assert (
            float(budget) <= at["cpu_s"] < float(budget) + 1.0
        )  # crossed at the first iteration boundary after
        ckpt = torch.load(
            run / "checkpoints" / f"budget_{budget}s.ckpt", map_location="cpu", weights_only=False
        )
        assert ckpt[CHECKPOINT_KEY]["iteration"] == at["iteration"] > 0
    assert reached["0.5"]["iteration"] < reached["1.5"]["iteration"]
    summary = json.loads((run / "summary.json").read_text())
    assert (
        summary["status"] == "completed" and summary["iterations"] == reached["1.5"]["iteration"]
    )  # stopped there


def test_each_task_and_variant_composes_to_an_rpgan_run_on_the_budget_clock(tmp_path: Path) -> None:
    for task, variant, dataset, metric in (("mnist", "lazy16_corr", "MNIST", "FidelityMetrics"),
                                           ("stacked_mnist", "none", "StackedMNIST", "StackedMNISTModes")):  # fmt: skip
        args = bq.parse_args(["--out", str(tmp_path / task), "--task", task, "--budgets", "600,300"])
        words = bq.train_line(args, variant, seed=2).split()
        assert words[-1] == f"hydra.run.dir={tmp_path / task / 'runs' / f'{variant}_s2'}"
        cfg = compose_config(words[:-1], tmp_path / task / "compose")
        assert cfg.loss.name == "relativistic" and cfg.seed == 2 and cfg.iterations == bq.NEVER_ENDS
        assert dataset in cfg.dataset._target_ and cfg.metrics._target_.endswith(metric)
        assert cfg.metrics.every == 0 and cfg.samples_every == 0 and cfg.checkpoint_every == 0
        assert list(cfg.callbacks.budget.budgets) == [300, 600]
        regs = group_members(cfg, "regularizer")  # what the app builds (the preset's gamma for none: dropped)
        assert sorted(regs) == sorted(bq.VARIANTS[variant]["regs"] or [])
        assert all(r.every == 16 and r.lazy_correction and r.gamma == 1 for r in regs.values())


def cell(variant: str, seed: int, budget: float, fid: float) -> dict:
    return {"variant": variant, "seed": seed, "budget_s": budget, "iteration": 10 * seed + int(budget),
            "cpu_s": budget + 0.1, "metrics": {"val/fid": fid}}  # fmt: skip


def test_the_table_marks_which_variants_the_best_separates_from() -> None:
    fids = {
        "none": [20.0, 22.0, 24.0],
        "r1r2": [10.0, 11.0, 12.0],
        "lazy4": [10.5, 11.5, 12.5],
        "approx": [30.0],
    }
    found = [cell(v, s, 60.0, f) for v, values in fids.items() for s, f in enumerate(values)]
    found += [cell("none", 0, 120.0, 5.0), cell("none", 1, 120.0, 6.0), cell("r1r2", 0, 120.0, 5.2)]
    rows = bq.summarise(found, "val/fid", ["none", "r1r2", "lazy4", "approx"], [60.0, 120.0])
    at60 = rows["60"]
    assert list(at60) == ["r1r2", "lazy4", "none", "approx"]  # best (lowest mean FID) first
    for variant, values in fids.items():  # mean and standard error as numpy computes them
        assert at60[variant]["mean"] == pytest.approx(np.mean(values))
        if len(values) > 1:
            assert at60[variant]["se"] == pytest.approx(np.std(values, ddof=1) / math.sqrt(len(values)))
    # r1r2 11 ± 0.577; lazy4 11.5 ± 0.577 overlaps; none 22 ± 1.155 does not; approx has one seed
    assert {v: r["vs_best"] for v, r in at60.items()} == {
        "r1r2": "best", "lazy4": "no clear difference", "none": "separated", "approx": "one seed"}  # fmt: skip
    assert at60["none"]["iterations"] == pytest.approx(np.mean([60, 70, 80]))
    assert list(rows["120"]) == ["r1r2", "none"] and rows["120"]["none"]["vs_best"] == "one seed"
    table = bq.markdown(rows, found, "val/fid", [])
    assert "| none | 3 | 22 ± 1.2 | 70 | separated |" in table
    assert (
        "Best mean val/fid: `r1r2`; separated from `none`; no clear difference from `lazy4`, `approx`."
        in table
    )


def test_a_repeated_call_keeps_the_earlier_calls_records() -> None:
    assert bq.earlier_calls({}) == []
    # a JSON written before call records existed holds its one call at the top level
    old = {"command": "python budget_quality.py --variants none", "wall_time_s": 12.5,
           "load_average_before_after": [[1, 1, 1], [2, 2, 2]], "rows": {}}  # fmt: skip
    (record,) = bq.earlier_calls(old)
    assert record["command"] == old["command"] and record["wall_time_s"] == 12.5 and record["runs_trained"] is None
    newer = {"calls": [record, {"command": "second", "wall_time_s": 3.0}]}
    assert [c["command"] for c in bq.earlier_calls(newer)] == [old["command"], "second"]


def test_bad_arguments_are_refused_before_any_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for argv, needle in ((["--variants", "none,r3"], "--variants: unknown ['r3']"),
                         (["--budgets", "10,abc"], "--budgets"), (["--budgets", "0,10"], "--budgets")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            bq.main(["--out", str(tmp_path / "out"), *argv])
        assert exit_.value.code == 2 and needle in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_script_trains_evaluates_and_resumes_on_a_budget_of_seconds(tmp_path: Path) -> None:
    argv = ["--out", str(tmp_path), "--variants", "none,lazy4_corr", "--seeds", "0,1", "--budgets", "1,2",
            "--eval-samples", "64", "--extra", "model.width=4 batch_size=8"]  # fmt: skip
    result = bq.main(argv)
    assert not result["problems"] and len(result["cells"]) == 2 * 2 * 2
    for c in result["cells"]:
        assert c["cpu_s"] >= c["budget_s"] and math.isfinite(c["metrics"]["val/fid"])
        run = tmp_path / "runs" / f"{c['variant']}_s{c['seed']}"
        config = (run / "config.yaml").read_text()
        assert "name: relativistic" in config
        if c["budget_s"] == 2:  # the run stopped at its last budget: its own final FID is this cell's
            summary = json.loads((run / "summary.json").read_text())
            assert summary["iterations"] == c["iteration"]
            assert summary["metrics"]["val/fid"] == pytest.approx(c["metrics"]["val/fid"], rel=1e-4)
    assert set(result["rows"]) == {"1", "2"} and (tmp_path / "quality.png").stat().st_size > 0
    assert "| lazy4_corr | 2 |" in (tmp_path / "table.md").read_text()
    # resumed: nothing trained or evaluated again; a run that was cut is moved aside and trained anew
    (tmp_path / "runs" / "none_s1" / "summary.json").unlink()
    (tmp_path / "runs" / "none_s1" / "checkpoints" / "budgets.json").unlink()
    (tmp_path / "runs" / "none_s1" / "eval_2s.json").unlink()
    stamp = (tmp_path / "runs" / "none_s0" / "eval_2s.json").stat().st_mtime_ns
    again = bq.main(argv)
    assert (tmp_path / "runs" / "none_s1.interrupted-1" / "checkpoints" / "budget_1s.ckpt").exists()
    assert (tmp_path / "runs" / "none_s1" / "eval_2s.json").exists() and len(again["cells"]) == 8
    assert (tmp_path / "runs" / "none_s0" / "eval_2s.json").stat().st_mtime_ns == stamp
    # the JSON keeps both calls' records, each with what it trained and scored
    first, second = json.loads((tmp_path / "budget_quality.json").read_text())["calls"]
    assert (first["runs_trained"], first["cells_evaluated"]) == (4, 8)
    assert (second["runs_trained"], second["cells_evaluated"]) == (1, 2)
    assert second["command"] == again["command"] and second["wall_time_s"] == again["wall_time_s"]

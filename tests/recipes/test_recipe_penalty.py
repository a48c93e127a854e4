"""docs/architecture.md, "Where to add … a penalty", followed as written: a ``Regularizer`` subclass in a module of
one's own and a ``regularizer/<name>.yaml`` in a config folder of one's own; no file of the package edited."""

from __future__ import annotations

import json
import math
from pathlib import Path

from recipe_cli import metric_rows, train, write

PENALTY = '''
from lightning_r1 import Regularizer
from lightning_r1.regularizers.base import strength_schedule


class LogitGap(Regularizer):
    """A throw-away penalty: ``gamma · mean_i (D(real_i) − D(fake_i))``, read from the step's D pass."""

    name = "logit_gap"
    strength_name = "gamma"  # the attribute that holds the strength

    def __init__(self, gamma: float = 1.0, every: int = 1) -> None:
        super().__init__(every)
        self.gamma = strength_schedule("gamma", gamma)  # a number or a schedule, read at the GAN's iteration

    def per_sample(self, d_pass):
        return d_pass.d_real - d_pass.d_fake
'''

CONFIG = """# @package regularizer.logit_gap
_target_: my_penalties.LogitGap
gamma: 3.0
"""


def test_a_penalty_from_a_folder_of_ones_own_trains_and_logs_its_value(tmp_path: Path) -> None:
    write(tmp_path, {"code/my_penalties.py": PENALTY, "conf/regularizer/logit_gap.yaml": CONFIG})
    run_dir = train(tmp_path, "regularizer=logit_gap")
    assert json.loads((run_dir / "summary.json").read_text())["regularizers"] == ["logit_gap"]
    rows = metric_rows(run_dir, "train/logit_gap", "train/d_real", "train/d_fake")
    assert [row["iteration"] for row in rows] == [1.0, 2.0, 3.0]  # logged on every D step
    for row in rows:  # the same D pass's mean logits, logged beside it, give the penalty's value
        expected = 3.0 * (row["train/d_real"] - row["train/d_fake"])
        assert math.isclose(row["train/logit_gap"], expected, rel_tol=1e-5, abs_tol=1e-7), row
    assert any(abs(row["train/logit_gap"]) > 1e-4 for row in rows)  # not a column of zeros

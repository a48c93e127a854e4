"""The README's table of config groups names every group folder and every choice in it (experiment presets by
name or by a ``prefix_*`` pattern), so a new config file cannot go undocumented."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from conftest import CONF_DIR, REPO_ROOT

HIDDEN = {"hydra", "callbacks"}  # Hydra's own settings; the app's extra-callback slot has no choices


def test_the_readme_group_table_lists_every_group_and_choice() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("| group | choices |", 1)[1].split("\n\n", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (\w+) \| (.*) \|$", table, flags=re.M)}
    groups = {p.name for p in Path(CONF_DIR).iterdir() if p.is_dir() and p.name not in HIDDEN}
    assert groups <= rows.keys(), f"groups missing from the README's table: {sorted(groups - rows.keys())}"
    for group in sorted(groups):
        named = re.findall(r"`([\w*]+)`", rows[group])
        for choice in sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")):
            assert any(fnmatch.fnmatch(choice, name) for name in named), (
                f"README: {group}={choice} not listed"
            )

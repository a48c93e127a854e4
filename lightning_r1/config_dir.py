"""Where the Hydra configs are read from.

They live at the repository's top level, ``conf/`` (the design's layout: ``pyproject.toml, lightning_r1, conf,
tests, train.py``), and a built wheel ships them inside the package as ``lightning_r1/conf`` (pyproject.toml maps
the one onto the other). So a source checkout, an editable install and an installed wheel each find theirs.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_SHIPPED = _PACKAGE / "conf"  # inside an installed wheel
CONFIG_DIR: str = str(_SHIPPED if _SHIPPED.is_dir() else _PACKAGE.parent / "conf")

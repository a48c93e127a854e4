"""The one argument check shared by the GAN module, the app, the data modules and the model builders."""

from __future__ import annotations

from numbers import Integral
from typing import Any


def check_positive_int(field: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer (bools excluded).

    Raises:
        ValueError: ``Expected `field` to be a positive integer, got value``.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise ValueError(f"Expected `{field}` to be a positive integer, got {value!r}")
    return int(value)

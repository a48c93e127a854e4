"""``--version`` for the command-line apps: lightning_r1's version and the versions of what it runs on.

Hydra's own ``--version`` answers "Hydra 1.3.8"; :func:`answers_version` wraps an app's ``main`` (above
``@hydra.main``) and answers before Hydra parses the command line.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import hydra
import lightning
import torch

import lightning_r1


def version_text() -> str:
    """``lightning_r1 0.1.0 (torch 2.14.1+cu130, lightning 2.6.6, hydra 1.3.8)``: the versions that run."""
    runs_on = ", ".join(f"{module.__name__} {module.__version__}" for module in (torch, lightning, hydra))
    return f"lightning_r1 {lightning_r1.__version__} ({runs_on})"


def answers_version(main: Callable[..., Any]) -> Callable[..., Any]:
    """``main`` that prints :func:`version_text` and exits 0 when the command line holds ``--version``."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "--version" in sys.argv[1:]:
            print(version_text())
            sys.exit(0)
        return main(*args, **kwargs)

    return wrapper

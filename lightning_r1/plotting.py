"""Figures without pyplot: nothing here (or in any module that draws) switches or reads matplotlib's backend.

Every figure of the package is a :class:`matplotlib.figure.Figure` of its own, saved with ``fig.savefig``; no
global figure manager keeps it, so there is nothing to close, and importing the library leaves
``matplotlib.get_backend()`` as the caller set it.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure


def subplots(*args: Any, figsize: tuple[float, float], dpi: float, **kwargs: Any) -> tuple[Figure, Any]:
    """``plt.subplots(*args, figsize=, dpi=, **kwargs)`` on a stand-alone :class:`~matplotlib.figure.Figure`."""
    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(*args, **kwargs)

"""Summaries of a selection: counts shown as a table, and figures of tilt coverage and defocus that show
themselves in a notebook (no pyplot backend needed)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


class Counts(pd.Series):
    """A pandas Series of counts that a notebook shows as a table (a plain Series shows as text)."""

    @property
    def _constructor(self) -> type:
        return Counts

    def _repr_html_(self) -> str:
        return self.to_frame()._repr_html_()


class SummaryFigure(Figure):
    """A matplotlib Figure that renders itself as PNG for notebooks, on any kernel.

    The plots are made without pyplot (no global figure state, nothing shown twice); IPython shows a Figure as an
    image only once a pyplot backend has been set up, so this one brings its own ``_repr_png_``.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def _axes(ax: Any, size: tuple[float, float]) -> tuple[Figure, Any]:
    if ax is not None:
        return ax.figure, ax
    fig = SummaryFigure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def plot_tilt_coverage(datasets: pd.DataFrame, ax: Any = None) -> Figure:
    """One horizontal bar per dataset from tilt_min to tilt_max, sorted by span, on ``ax`` (or a new figure).

    Returns:
        The matplotlib Figure.
    """
    fig, ax = _axes(ax, (6, 4))
    tilts = datasets[["tilt_min", "tilt_max"]].dropna().astype("float64")
    tilts = tilts.assign(span=tilts.tilt_max - tilts.tilt_min).sort_values("span")
    y = np.arange(len(tilts))
    ax.hlines(y, tilts.tilt_min, tilts.tilt_max, lw=max(0.2, min(3.0, 300 / max(len(tilts), 1))), color="tab:blue")
    ax.set_xlabel("tilt angle (°)")
    ax.set_ylabel("datasets (sorted by range)")
    ax.set_title(f"Tilt coverage of {len(tilts)} datasets")
    ax.set_xlim(-90, 90)
    return fig


def plot_defocus(datasets: pd.DataFrame, ax: Any = None, bins: int = 40) -> Figure:
    """A histogram of the datasets' defocus (µm) in ``bins`` bins, on ``ax`` (or a new figure).

    Returns:
        The matplotlib Figure.
    """
    fig, ax = _axes(ax, (6, 3.5))
    values = datasets["defocus"].dropna().astype("float64")
    ax.hist(values, bins=bins, color="tab:orange")
    ax.set_xlabel("defocus (µm)")
    ax.set_ylabel("datasets")
    ax.set_title(f"Defocus of {len(values)} datasets")
    return fig

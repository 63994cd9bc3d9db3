"""Sections as the viewers send them: binned to a size a page can paint, then mapped through a contrast window to
uint8 (one byte a pixel, the bytes a widget buffer carries). No input divides by zero: non-finite values paint 0,
and a window of zero width (a constant section) is a step at its level.

Integer sections of at most 16 bits (MRC modes 0, 1, 6 and 101) take a fast path with the same results: their
percentiles come from a histogram of all values and their frame from a table of every possible value, instead of a
sort and float arithmetic on every pixel.
"""

from __future__ import annotations

import numpy as np

from etdb_explore.volumes.preview import to_float32


def auto_binning(shape: tuple[int, int], max_size: int) -> int:
    """The smallest bin factor that brings a section of ``shape`` to at most ``max_size`` pixels a side.

    Returns:
        The factor (1: no binning).
    """
    return max(1, -(-max(shape) // max(1, max_size)))


def _small_int(section: np.ndarray) -> bool:
    return section.dtype.kind in "iu" and section.dtype.itemsize <= 2


def _offsets(section: np.ndarray) -> np.ndarray:
    """The values of an integer ``section`` shifted to start at 0 (the dtype's lowest value → 0), as intp."""
    return section.astype(np.intp) - int(np.iinfo(section.dtype).min)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation between neighbouring order statistics (``np.percentile``'s default)."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _int_percentiles(section: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile(section, qs)`` of an integer section, from a histogram (same results, no sort)."""
    cumulative = np.cumsum(np.bincount(_offsets(section).ravel()))
    lowest, n = int(np.iinfo(section.dtype).min), section.size
    out = []
    for q in qs:
        at = (n - 1) * np.true_divide(q, 100)
        i = int(np.floor(at))
        a, b = (float(np.searchsorted(cumulative, k, side="right") + lowest) for k in (i, min(i + 1, n - 1)))
        out.append(_lerp(a, b, at - i))
    return out


def contrast_limits(section: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """The ``low`` and ``high`` percentiles of the finite values of ``section``.

    Returns:
        ``(lo, hi)``; ``(0.0, 0.0)`` when no value is finite.
    """
    if section.size and _small_int(section):
        lo, hi = _int_percentiles(section, (low, high))
        return lo, hi
    values = to_float32(section)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    if values.size == 0:
        return 0.0, 0.0
    lo, hi = np.percentile(values, [low, high])
    return float(lo), float(hi)


def to_frame(section: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``section`` to uint8 through the window [lo, hi]: lo and below → 0, hi and above → 255, linear between
    (rounded). Non-finite values → 0. When ``hi <= lo``, values below lo → 0, equal → 128, above → 255.

    Returns:
        A C-contiguous uint8 array of ``section``'s shape.
    """
    if _small_int(section):
        info = np.iinfo(section.dtype)
        table = to_frame(np.arange(info.min, info.max + 1, dtype=np.float32), lo, hi)
        return np.ascontiguousarray(table[_offsets(section)])
    values = to_float32(section)
    finite = np.isfinite(values)
    if hi > lo:
        scaled = (values - np.float32(lo)) * np.float32(255.0 / (hi - lo))
        frame = np.clip(np.where(finite, scaled, 0.0), 0.0, 255.0) + np.float32(0.5)
        return np.ascontiguousarray(frame.astype(np.uint8))
    frame = np.where(values > lo, 255, np.where(values == lo, 128, 0))
    return np.ascontiguousarray(np.where(finite, frame, 0).astype(np.uint8))


def bin_factors(shape: tuple[int, int], factor: int) -> tuple[int, int]:
    """The (y, x) bin factors for ``factor`` on a section of ``shape``: a side shorter than ``factor`` is binned by
    its length, so an image a few pixels tall keeps a row.

    Returns:
        ``(fy, fx)``, each at least 1.
    """
    return max(1, min(factor, shape[0])), max(1, min(factor, shape[1]))


def binned(section: np.ndarray, factor: int) -> np.ndarray:
    """``section`` mean-binned by :func:`bin_factors` (edges that do not fill a bin are dropped); an unbinned
    section comes back as it is.

    Returns:
        A float32 array, or ``section`` itself when nothing is binned.
    """
    fy, fx = bin_factors(section.shape, factor)
    if fy == fx == 1:
        return section
    ny, nx = section.shape
    y, x = ny // fy * fy, nx // fx * fx
    return to_float32(section[:y, :x]).reshape(y // fy, fy, x // fx, fx).mean(axis=(1, 3))

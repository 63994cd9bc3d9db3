"""Sections as the viewers send them: binned to a size a page can paint, then mapped through a contrast window to
uint8 (one byte a pixel, the bytes a widget buffer carries). No input divides by zero: non-finite values paint 0,
and a window of zero width (a constant section) is a step at its level.

The window's percentiles come from :func:`etdb_explore.volumes.preview.finite_percentiles`. Integer sections of at
most 16 bits (MRC modes 0, 1, 6 and 101) take a fast path with the same results: their frame comes from a table of
every possible value instead of float arithmetic on every pixel.
"""

from __future__ import annotations

import numpy as np

from etdb_explore.volumes.preview import is_small_int, to_float32, value_offsets


def auto_binning(shape: tuple[int, int], max_size: int) -> int:
    """The smallest bin factor that brings a section of ``shape`` to at most ``max_size`` pixels a side.

    Returns:
        The factor (1: no binning).
    """
    return max(1, -(-max(shape) // max(1, max_size)))


def to_frame(section: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``section`` to uint8 through the window [lo, hi]: lo and below → 0, hi and above → 255, linear between
    (rounded). Non-finite values → 0. When ``hi <= lo``, values below lo → 0, equal → 128, above → 255.

    Returns:
        A C-contiguous uint8 array of ``section``'s shape.
    """
    if is_small_int(section.dtype):
        info = np.iinfo(section.dtype)
        table = to_frame(np.arange(info.min, info.max + 1, dtype=np.float32), lo, hi)
        return np.ascontiguousarray(table[value_offsets(section)])
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

"""Preview helpers: binning, robust contrast, float conversion — what a slice needs before it is shown."""

from __future__ import annotations

import numpy as np


def to_float32(data: np.ndarray) -> np.ndarray:
    """``data`` as float32.

    Returns:
        ``data`` itself when it is already a float32 ndarray, else a float32 copy.
    """
    return np.asarray(data, dtype=np.float32)


def bin_image(data: np.ndarray, factor: int) -> np.ndarray:
    """Mean-bin the last two axes by ``factor`` (edges that do not fill a bin are dropped).

    Returns:
        A float32 array, the last two axes ``factor`` times shorter (rounded down); ``data`` as float32 when
        ``factor`` <= 1.
    """
    if factor <= 1:
        return to_float32(data)
    *lead, ny, nx = data.shape
    ny, nx = ny // factor * factor, nx // factor * factor
    trimmed = to_float32(data[..., :ny, :nx])
    return trimmed.reshape(*lead, ny // factor, factor, nx // factor, factor).mean(axis=(-3, -1))


def is_small_int(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is an integer of at most 16 bits (MRC modes 0, 1, 6 and 101), whose every possible value
    fits a table.

    Returns:
        True for such a dtype.
    """
    return dtype.kind in "iu" and dtype.itemsize <= 2


def value_offsets(data: np.ndarray) -> np.ndarray:
    """The values of an integer ``data`` shifted to start at 0 (the dtype's lowest value → 0): indices into a table
    of every possible value.

    Returns:
        An intp array of ``data``'s shape.
    """
    return data.astype(np.intp) - int(np.iinfo(data.dtype).min)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation between neighbouring order statistics (``np.percentile``'s default)."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _int_percentiles(data: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile(data, qs)`` of a small-integer ``data``, from a histogram (same results, no sort)."""
    cumulative = np.cumsum(np.bincount(value_offsets(data).ravel()))
    lowest, n = int(np.iinfo(data.dtype).min), data.size
    out = []
    for q in qs:
        at = (n - 1) * np.true_divide(q, 100)
        i = int(np.floor(at))
        a, b = (float(np.searchsorted(cumulative, k, side="right") + lowest) for k in (i, min(i + 1, n - 1)))
        out.append(_lerp(a, b, at - i))
    return out


def finite_percentiles(data: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """The ``low`` and ``high`` percentiles (0–100) of the finite values of ``data``: NaN and ±inf, which a
    float tomogram may hold, are left out. Integers of at most 16 bits are counted from a histogram, with
    ``np.percentile``'s results and no sort.

    Returns:
        ``(lo, hi)`` as floats; ``(0.0, 0.0)`` when no value is finite.
    """
    if data.size and is_small_int(data.dtype):
        lo, hi = _int_percentiles(data, (low, high))
        return lo, hi
    values = to_float32(data)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    if values.size == 0:
        return 0.0, 0.0
    lo, hi = np.percentile(values, [low, high])
    return float(lo), float(hi)


def robust_contrast(data: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Scale to [0, 1] between the ``low`` and ``high`` percentiles of the finite values, clipped (outliers such
    as gold don't rule); non-finite values become 0.

    Returns:
        A float32 array of ``data``'s shape; all zeros when the two percentiles are equal.
    """
    values = to_float32(data)
    lo, hi = finite_percentiles(values, low, high)
    if hi <= lo:
        return np.zeros_like(values)
    scaled = np.clip((values - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0, dtype=np.float32)
    return np.where(np.isfinite(scaled), scaled, np.float32(0.0))


def preview(data: np.ndarray, max_size: int = 512, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """An image of ``data`` ready to show: binned to at most ``max_size`` pixels on its longest side, then
    :func:`robust_contrast` between the ``low`` and ``high`` percentiles.

    Returns:
        A float32 array in [0, 1].
    """
    factor = max(1, -(-max(data.shape[-2:]) // max_size))
    return robust_contrast(bin_image(data, factor), low, high)

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


def robust_contrast(data: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Scale to [0, 1] between the ``low`` and ``high`` percentiles, clipped (outliers such as gold don't rule).

    Returns:
        A float32 array of ``data``'s shape; all zeros when the two percentiles are equal.
    """
    values = to_float32(data)
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:
        return np.zeros_like(values)
    return np.clip((values - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0, dtype=np.float32)


def preview(data: np.ndarray, max_size: int = 512, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """An image of ``data`` ready to show: binned to at most ``max_size`` pixels on its longest side, then
    :func:`robust_contrast` between the ``low`` and ``high`` percentiles.

    Returns:
        A float32 array in [0, 1].
    """
    factor = max(1, -(-max(data.shape[-2:]) // max_size))
    return robust_contrast(bin_image(data, factor), low, high)

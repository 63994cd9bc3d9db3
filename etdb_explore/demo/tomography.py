"""Single-axis tomography on a phantom: tilt-series by projection about the y axis, and weighted back-projection.

Volumes are (z, y, x); the tilt axis is y, so each y row is an independent 2-D (z, x) problem and every step below
works on all rows at once. Projection images are (y, x'), x' the detector coordinate.
"""

from __future__ import annotations

import numpy as np


def _interp_rows(plane: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``plane`` (n, ny) at fractional first-axis ``coords`` (any shape), zero outside."""
    n = plane.shape[0]
    i0 = np.floor(coords).astype(np.int64)
    w = (coords - i0)[..., None].astype(np.float32)
    valid0 = (i0 >= 0) & (i0 < n)
    valid1 = (i0 + 1 >= 0) & (i0 + 1 < n)
    a = plane[np.clip(i0, 0, n - 1)] * valid0[..., None]
    b = plane[np.clip(i0 + 1, 0, n - 1)] * valid1[..., None]
    return a * (1 - w) + b * w


def project(volume: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Line integrals of ``volume`` (z, y, x) along the beam tilted by each angle (degrees) about y.

    A tilted ray crosses each z plane once, at x = (x' - (z - cz)·sin θ) / cos θ, over a path of 1 / cos θ; so each
    projection is a sum over planes of a 1-D resampling.

    Returns:
        A float32 array (n_angles, y, x).
    """
    nz, ny, nx = volume.shape
    cz, cx = (nz - 1) / 2, (nx - 1) / 2
    planes = np.ascontiguousarray(volume.transpose(0, 2, 1))  # (z, x, y)
    detector = (np.arange(nx) - cx)[None, :]
    zs = (np.arange(nz) - cz)[:, None]
    out = np.empty((len(angles_deg), ny, nx), dtype=np.float32)
    for k, theta in enumerate(np.deg2rad(angles_deg)):
        x = (detector - zs * np.sin(theta)) / np.cos(theta) + cx  # (nz, nx')
        total = np.zeros((nx, ny), dtype=np.float32)
        for z in range(nz):
            total += _interp_rows(planes[z], x[z])
        out[k] = total.T / np.cos(theta)
    return out


def ramp_filter(projections: np.ndarray) -> np.ndarray:
    """Ram-Lak filter along x (detector rows), with a Hann window against noise amplification.

    Returns:
        The filtered projections, float32, of the same shape.
    """
    n = projections.shape[-1]
    size = 1 << int(np.ceil(np.log2(2 * n)))
    freqs = np.fft.rfftfreq(size)
    window = np.abs(freqs) * 2 * (0.5 + 0.5 * np.cos(np.pi * freqs / freqs.max()))
    spectrum = np.fft.rfft(projections, n=size, axis=-1) * window
    return np.fft.irfft(spectrum, n=size, axis=-1)[..., :n].astype(np.float32)


def back_project(projections: np.ndarray, angles_deg: np.ndarray, nz: int) -> np.ndarray:
    """Weighted back-projection of (n_angles, y, x) projections taken at ``angles_deg``.

    Returns:
        A float32 volume (nz, y, x).
    """
    filtered = ramp_filter(projections)
    _, ny, nx = projections.shape
    cz, cx = (nz - 1) / 2, (nx - 1) / 2
    zs = (np.arange(nz) - cz)[:, None]
    xs = (np.arange(nx) - cx)[None, :]
    volume = np.zeros((nz, nx, ny), dtype=np.float32)
    for k, theta in enumerate(np.deg2rad(angles_deg)):
        detector = xs * np.cos(theta) + zs * np.sin(theta) + cx  # (nz, nx)
        volume += _interp_rows(filtered[k].T, detector)
    return (volume * (np.pi / (2 * len(angles_deg)))).transpose(0, 2, 1)

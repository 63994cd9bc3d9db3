"""Synthetic cryo-ET cell phantoms: a cell envelope with double membranes, ribosome-like particles, filaments and
gold fiducials, as a density volume (z, y, x) where 1.0 is roughly protein against vitreous ice at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PhantomSpec:
    """Size and content of one phantom; ``pixel`` in Å."""

    shape: tuple[int, int, int] = (56, 160, 160)
    pixel: float = 12.0
    ribosomes: int = 120
    filaments: int = 4
    gold: int = 10
    membrane_gap: float = 2.5  # pixels between inner and outer membrane (periplasm)


def _ellipsoid_distance(zz: np.ndarray, yy: np.ndarray, xx: np.ndarray, center: np.ndarray,
                        radii: np.ndarray) -> np.ndarray:
    """Approximate signed distance (pixels) to an ellipsoid surface; negative inside."""
    r = np.sqrt(((zz - center[0]) / radii[0]) ** 2 + ((yy - center[1]) / radii[1]) ** 2
                + ((xx - center[2]) / radii[2]) ** 2)
    return (r - 1.0) * radii.min()


def _add_blob(volume: np.ndarray, center: np.ndarray, radius: float, density: float) -> None:
    """Add a soft sphere, touching only its bounding box."""
    lo = np.maximum(np.floor(center - radius - 2).astype(int), 0)
    hi = np.minimum(np.ceil(center + radius + 2).astype(int) + 1, volume.shape)
    if np.any(hi <= lo):
        return
    zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    d = np.sqrt((zz - center[0]) ** 2 + (yy - center[1]) ** 2 + (xx - center[2]) ** 2)
    volume[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] += density / (1.0 + np.exp((d - radius) / 0.6))


def make_phantom(spec: PhantomSpec, rng: np.random.Generator) -> np.ndarray:
    """A density volume of one cell section, different for every ``rng`` state.

    Returns:
        A float32 array of ``spec.shape`` (z, y, x); about 1.0 for protein, 0 for ice, up to ~8 for gold.
    """
    nz, ny, nx = spec.shape
    volume = np.zeros(spec.shape, dtype=np.float32)
    zz, yy, xx = np.ogrid[:nz, :ny, :nx]
    center = np.array([nz / 2, ny / 2 + rng.uniform(-8, 8), nx / 2 + rng.uniform(-8, 8)])
    radii = np.array([nz * 0.33, ny * rng.uniform(0.30, 0.40), nx * rng.uniform(0.36, 0.46)])
    dist = _ellipsoid_distance(zz, yy, xx, center, radii)
    cytoplasm = dist < -spec.membrane_gap
    for offset in (0.0, -spec.membrane_gap):  # outer and inner membrane, each a bilayer ~1.2 px thick
        volume += 0.9 * np.exp(-((dist - offset) ** 2) / (2 * 0.6**2))
    volume += 0.12 * cytoplasm  # crowded cytoplasm
    inside = np.argwhere(cytoplasm[::2, ::2, ::2]) * 2
    for idx in rng.choice(len(inside), size=min(spec.ribosomes, len(inside)), replace=False):
        _add_blob(volume, inside[idx] + rng.uniform(0, 2, 3), rng.uniform(1.6, 2.2), 1.1)
    for _ in range(spec.filaments):  # straight filaments crossing the cytoplasm
        start = inside[rng.integers(len(inside))].astype(float)
        direction = rng.normal(size=3)
        direction[0] *= 0.2
        direction /= np.linalg.norm(direction)
        for t in np.arange(-60, 60, 1.0):
            point = start + t * direction
            if np.all(point >= 0) and np.all(point < spec.shape) and cytoplasm[tuple(point.astype(int))]:
                _add_blob(volume, point, 0.9, 0.35)
    for _ in range(spec.gold):  # gold fiducials, mostly outside the cell, very dense
        _add_blob(volume, rng.uniform([nz * 0.1, 4, 4], [nz * 0.9, ny - 4, nx - 4]), rng.uniform(1.5, 2.0), 8.0)
    return volume

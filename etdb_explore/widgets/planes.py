"""Orthogonal planes of a lazily read volume, read with bounded memory and as few bytes as the file's layout allows.

An MRC file is stored section by section (z-major), so the three planes cost very different reads:

- ``xy`` (a z-section) is one contiguous range: :meth:`Volume.aget` of one section (and its cache).
- ``xz`` (fixed y) is one row of every section: one small range read per section (``nz`` reads of the wanted rows,
  run concurrently); over IPFS each read fetches and verifies only the block holding those rows, never the rest of
  the section. The rows next to the wanted one come in the same reads, so neighbouring planes cost nothing more.
- ``yz`` (fixed x) is one column of every row of every section: every block of the file holds part of it, so the
  whole volume is read, but ``CHUNK_BYTES`` of sections at a time (memory stays bounded), with ``progress`` called
  after each chunk; the columns next to the wanted one are cut from the same chunks.

4-bit volumes (mode 101) pack two voxels a byte, so their xz planes are read like yz ones, by whole sections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from etdb_explore.volumes.header import MrcError

if TYPE_CHECKING:
    from etdb_explore.volumes.volume import Volume

PLANES = ("xy", "xz", "yz")
NORMAL = {"xy": 0, "xz": 1, "yz": 2}  # the axis (z, y, x) a plane's position runs along
CHUNK_BYTES = 64 * 1024 * 1024  # sections read at once for a yz plane
CONCURRENT_ROWS = 16  # row reads in flight for an xz plane

Progress = Callable[[int, int], None]  # (sections done, sections in all)


def plane_shape(shape: tuple[int, int, int], plane: str) -> tuple[int, int]:
    """The (rows, columns) of ``plane`` of a volume of ``shape`` (z, y, x): xy → (ny, nx), xz → (nz, nx),
    yz → (nz, ny).

    Returns:
        The plane's shape.
    """
    nz, ny, nx = shape
    return {"xy": (ny, nx), "xz": (nz, nx), "yz": (nz, ny)}[plane]


async def read_planes(volume: Volume, plane: str, first: int, stop: int,
                      progress: Progress | None = None) -> dict[int, np.ndarray]:
    """Planes ``first`` … ``stop - 1`` of kind ``plane`` (positions along its normal axis), read together.

    Returns:
        ``{position: 2-D array of plane_shape(volume.shape, plane)}``, in the volume's dtype.

    Raises:
        As :meth:`Volume.aget`; MrcError for a short read.
    """
    if plane == "xy":
        return {z: await volume.aget(z) for z in range(first, stop)}
    if plane == "xz" and volume.header.mode != 101:
        rows = await _rows(volume, first, stop, progress)
        return {y: np.ascontiguousarray(rows[:, y - first, :]) for y in range(first, stop)}
    return await _by_sections(volume, plane, first, stop, progress)


async def _rows(volume: Volume, first: int, stop: int, progress: Progress | None) -> np.ndarray:
    """Rows ``first`` … ``stop - 1`` of every section: (nz, stop - first, nx), one range read per section."""
    h = volume.header
    nz, _, nx = volume.shape
    row_bytes = h.slice_bytes // volume.shape[1]
    out = np.empty((nz, stop - first, nx), dtype=volume.dtype)
    limit = asyncio.Semaphore(CONCURRENT_ROWS)
    done = 0

    async def read(z: int) -> None:
        nonlocal done
        start = h.data_offset + z * h.slice_bytes + first * row_bytes
        async with limit:
            data = await volume.source.read(start, start + (stop - first) * row_bytes)
        if len(data) != (stop - first) * row_bytes:
            raise MrcError(f"{volume.source.name}: short read of rows {first}..{stop} of section {z}")
        out[z] = np.frombuffer(data, dtype=h.dtype).reshape(stop - first, nx)
        done += 1
        if progress is not None and done % 32 == 0:
            progress(done, nz)

    await asyncio.gather(*(read(z) for z in range(nz)))
    return out


async def _by_sections(volume: Volume, plane: str, first: int, stop: int,
                       progress: Progress | None) -> dict[int, np.ndarray]:
    """xz or yz planes cut from whole sections, read ``CHUNK_BYTES`` at a time."""
    nz = volume.shape[0]
    step = max(1, CHUNK_BYTES // max(1, volume.header.slice_bytes))
    out = np.empty((stop - first, *plane_shape(volume.shape, plane)), dtype=volume.dtype)
    for z0 in range(0, nz, step):
        z1 = min(nz, z0 + step)
        if plane == "xz":
            out[:, z0:z1, :] = (await volume.aget((slice(z0, z1), slice(first, stop)))).transpose(1, 0, 2)
        else:
            out[:, z0:z1, :] = (await volume.aget((slice(z0, z1), slice(None), slice(first, stop)))).transpose(2, 0, 1)
        if progress is not None:
            progress(z1, nz)
    return {p: out[p - first] for p in range(first, stop)}

"""Volumes and tilt-series as napari image layers: a lazy multiscale pyramid, physical scale, contrast, metadata.

The layer's data are dask arrays over :meth:`Volume.to_dask` with one section per chunk, so a 2-D view reads only
the section shown. Coarser levels bin y and x (never z, and never across tilt angles) by 2, 4, 8, … from the same
lazily read sections, down to :data:`PYRAMID_MIN_SIZE` pixels, so napari draws a zoomed-out or 3-D view from a level
that costs little to transfer to the GPU. Contrast limits come from the central section, not the whole volume.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from etdb_explore.volumes.preview import bin_image, finite_percentiles
from etdb_explore.volumes.tiltseries import TiltSeries

if TYPE_CHECKING:
    import dask.array

    from etdb_explore.volumes.volume import Volume

PYRAMID_MIN_SIZE = 256  # pixels on the longer side below which no coarser level is made
CONTRAST_PERCENTILES = (0.5, 99.5)


def _bin_level(block: np.ndarray, factor: int, dtype: np.dtype) -> np.ndarray:
    binned = bin_image(block, factor)
    return np.rint(binned).astype(dtype) if np.issubdtype(dtype, np.integer) else binned.astype(dtype)


def pyramid(volume: Volume, min_size: int = PYRAMID_MIN_SIZE) -> list[dask.array.Array]:
    """The multiscale levels of ``volume``: the full-resolution sections, then y/x binned by 2, 4, … (mean).

    Every level has the volume's dtype (integer means are rounded) and one section per chunk, and is computed from
    the lazily read sections only when napari asks for it.

    Returns:
        The dask arrays, finest first; one level when the sections are already smaller than ``2 * min_size``.

    Raises:
        ImportError: dask is not installed.
    """
    ny, nx = volume.shape[1:]
    full = volume.to_dask(chunks=(1, ny, nx))
    levels = [full]
    factor = 2
    while max(ny, nx) // factor >= min_size:
        shape = (1, ny // factor, nx // factor)
        levels.append(full.map_blocks(_bin_level, factor, volume.dtype, chunks=shape, dtype=volume.dtype,
                                      name=f"{full.name}-bin{factor}"))
        factor *= 2
    return levels


def contrast_limits(volume: Volume) -> tuple[float, float]:
    """Display limits from the central section (the one napari shows first): the 0.5th and 99.5th percentiles of
    its finite values (NaN and ±inf left out); their minimum and maximum when those percentiles are equal.

    Returns:
        (low, high), finite, with high > low.

    Raises:
        MrcError, VerificationError, BlockNotFoundError, SourceError: as :meth:`Volume.aget` for the read.
    """
    section = volume[(volume.shape[0] - 1) // 2]
    low, high = finite_percentiles(section, *CONTRAST_PERCENTILES)
    if high <= low:
        low, high = finite_percentiles(section, 0.0, 100.0)
    return (low, high) if high > low else (low, low + 1.0)


def _title(volume: Volume) -> str:
    meta = volume.metadata
    name = meta.get("title") or volume.source.name.rsplit("/", 1)[-1]
    kind = "tilt-series" if isinstance(volume, TiltSeries) else "tomogram"
    return f"{name} ({kind})" if meta.get("title") else name


def layer_data(volume: Volume) -> tuple[Any, dict[str, Any], str]:
    """napari's LayerData tuple for ``volume``: (data, layer keyword arguments, "image").

    The keyword arguments set the name (the dataset's title, else the file name), ``scale`` from the voxel size
    in Å (z, y, x; a tilt-series' first axis is the image index, with scale 1), ``axis_labels`` z/y/x or
    angle/y/x, ``units``, contrast limits from the central section, and ``metadata``: ``etdb`` (the dataset's
    row), ``path``, ``voxel_size`` (x, y, z Å) and, for a tilt-series, ``tilt_angles`` and ``angle_source``.

    Returns:
        The tuple; the data are a list of dask arrays (``multiscale`` set) when there is more than one level.

    Raises:
        ImportError: dask is not installed.
        MrcError, VerificationError, BlockNotFoundError, SourceError: reading the central section failed.
    """
    levels = pyramid(volume)
    vx, vy, vz = (float(v) if v > 0 else 1.0 for v in volume.voxel_size)
    unit = "angstrom" if all(v > 0 for v in volume.voxel_size) else "pixel"
    tilted = isinstance(volume, TiltSeries)
    metadata: dict[str, Any] = {"etdb": dict(volume.metadata), "path": volume.source.name,
                                "voxel_size": tuple(volume.voxel_size)}
    if tilted:
        metadata["tilt_angles"] = volume.angles
        metadata["angle_source"] = volume.angle_source
    kwargs = {
        "name": _title(volume),
        "scale": (1.0 if tilted else vz, vy, vx),
        "axis_labels": volume.axes,
        "units": ("pixel" if tilted else unit, unit, unit),
        "contrast_limits": contrast_limits(volume),
        "multiscale": len(levels) > 1,
        "metadata": metadata,
    }
    return (levels if len(levels) > 1 else levels[0]), kwargs, "image"


def view(volume: Volume, viewer: Any = None) -> Any:
    """Show ``volume`` (a :class:`Volume` or :class:`TiltSeries`) in napari as a lazy image layer.

    The viewer's dimension sliders take the layer's axis labels (z/y/x or angle/y/x) and start on the central
    section.

    Args:
        viewer: a ``napari.Viewer`` to add the layer to; a new one is made when None.

    Returns:
        The ``napari.layers.Image`` added.

    Raises:
        ImportError: napari or dask is not installed (the ``napari`` extra).
        MrcError, VerificationError, BlockNotFoundError, SourceError: reading the central section failed.
    """
    data, kwargs, _ = layer_data(volume)
    if viewer is None:
        import napari

        viewer = napari.Viewer()
    return viewer.add_image(data, **kwargs)

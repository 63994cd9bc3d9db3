"""The napari reader of the plugin: ``etdb://…`` and ``/ipfs/…`` paths open as lazy image layers.

A path whose file ends in ``.st`` or ``.ali``, or that has tilt angles (a ``.rawtlt``/``.tlt`` file beside it or an
FEI extended header), opens as a tilt-series (axes angle/y/x); any other as a tomogram (z/y/x).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etdb_explore.ipfs.formats.paths import IpfsPathError, parse_ipfs_path
from etdb_explore.napari.layers import layer_data
from etdb_explore.volumes.open import open_tiltseries
from etdb_explore.volumes.volume import Volume

PREFIXES = ("etdb://", "/ipfs/", "ipfs://")
TILT_SERIES_SUFFIXES = (".st", ".ali")


def open_path(path: str) -> Volume:
    """The tomogram or tilt-series at IPFS path ``path`` (any spelling ``parse_ipfs_path`` reads), opened lazily.

    Returns:
        A :class:`~etdb_explore.volumes.tiltseries.TiltSeries` for a ``.st``/``.ali`` file or one whose tilt angles
        are known, else a :class:`Volume` of the same file.

    Raises:
        IpfsPathError, PathError, IsADirectoryError, BlockNotFoundError, SourceError, VerificationError, MrcError:
            as :func:`~etdb_explore.open_tiltseries`.
    """
    series = open_tiltseries(str(parse_ipfs_path(path)))
    if series.angles is not None or path.lower().endswith(TILT_SERIES_SUFFIXES):
        return series
    return Volume(series.source, series.header, series.metadata)


def _accepts(path: Any) -> bool:
    if not isinstance(path, str) or not path.lower().startswith(PREFIXES):
        return False
    try:
        parse_ipfs_path(path)
    except IpfsPathError:
        return False
    return True


def get_reader(path: str | list[str]) -> Callable[[Any], list[tuple]] | None:
    """napari's reader hook: a function reading ``path`` when it is (or all its items are) an IPFS path.

    Returns:
        A reader giving one LayerData tuple per path (see :func:`~etdb_explore.napari.layers.layer_data`), or None
        for paths this plugin does not read.
    """
    paths = path if isinstance(path, list) else [path]
    if not paths or not all(_accepts(p) for p in paths):
        return None
    return read


def read(path: str | list[str]) -> list[tuple]:
    """The layers of ``path`` (one or several IPFS paths), each a lazy multiscale image.

    Returns:
        A list of LayerData tuples.

    Raises:
        As :func:`open_path`.
    """
    paths = path if isinstance(path, list) else [path]
    return [layer_data(open_path(p)) for p in paths]

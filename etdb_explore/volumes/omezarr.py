"""OME-Zarr pyramids of the CZ cryoET Data Portal, read lazily over HTTPS, the coarsest level first.

The portal rewrites each tomogram as an OME-Zarr (v0.4, zarr format 2) multiscale pyramid: level 0 full size, each
further level binned by two. :func:`open_pyramid` reads only the group's metadata; :meth:`Pyramid.preview` reads the
central section of the coarsest level (a few chunks) – a first look in a fraction of the bytes of the full MRC.
Needs the ``portal`` extra (zarr-python; fsspec's HTTP filesystem reads the chunks). The bytes are the portal's
(``rewritten``), never ETDB bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from etdb_explore.errors import EtdbError

MAX_SECTION = 256 << 20  # bytes of one preview section
TIMEOUT = 30.0


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise EtdbError("reading OME-Zarr pyramids needs zarr: pip install 'etdb-explore[portal]'") from None
    return zarr


@dataclass
class Pyramid:
    """A lazily read OME-Zarr multiscale pyramid: ``paths`` of its levels (finest first) and their ``scales``
    (Å per voxel, z y x, when the metadata give them)."""

    url: str
    group: Any
    paths: list[str]
    scales: list[tuple[float, ...] | None]
    content: str = "rewritten"

    def __repr__(self) -> str:
        return f"<Pyramid {self.url} [{self.content}]: {len(self.paths)} levels>"

    def level(self, n: int = -1) -> Any:
        """Level ``n`` as a lazy zarr array (``-1``: the coarsest).

        Returns:
            The ``zarr.Array`` (nothing is read until it is indexed).

        Raises:
            EtdbError: the level does not exist or cannot be opened (naming the URL).
        """
        try:
            return self.group[self.paths[n]]
        except (IndexError, KeyError, OSError, ValueError) as exc:
            raise EtdbError(f"{self.url}: no level {n} ({type(exc).__name__}: {exc})") from None

    def preview(self, n: int = -1) -> np.ndarray:
        """The central z-section of level ``n`` (default the coarsest), as read from the server.

        Returns:
            A 2-D array.

        Raises:
            EtdbError: the level is not 3-D, its section exceeds 256 MiB, or it cannot be read (naming the URL).
        """
        array = self.level(n)
        if len(array.shape) != 3:
            raise EtdbError(f"{self.url} level {n}: shape {array.shape} is not (z, y, x)")
        section = int(np.prod(array.shape[1:])) * np.dtype(array.dtype).itemsize
        if section > MAX_SECTION:
            raise EtdbError(f"{self.url} level {n}: a section of {section} bytes exceeds {MAX_SECTION}")
        try:
            return np.asarray(array[array.shape[0] // 2])
        except (OSError, ValueError, KeyError) as exc:
            raise EtdbError(f"{self.url} level {n}: unreadable ({type(exc).__name__}: {exc})") from None


def _scales(dataset: dict[str, Any]) -> tuple[float, ...] | None:
    for transform in dataset.get("coordinateTransformations") or []:
        if isinstance(transform, dict) and transform.get("type") == "scale":
            scale = transform.get("scale")
            if isinstance(scale, list) and all(isinstance(v, (int, float)) for v in scale):
                return tuple(float(v) for v in scale)
    return None


def _url(x: Any) -> str:
    """The OME-Zarr URL of ``x``: a URL, or a row of a joined/home index with a portal reconstruction pyramid."""
    if isinstance(x, str):
        return x
    if isinstance(x, pd.Series):
        from etdb_explore.index.registry import tagged_index

        index = tagged_index(x)
        if index is not None and "ctype" in index.files:
            files = index.files[(index.files["txid"] == x.get("txid"))
                                & (index.files["ctype"].astype("string") == "ome-zarr")]
            files = files.sort_values("subtype", key=lambda s: s.astype("string") != "reconstruction")
            if len(files):
                return str(files.iloc[0]["url"])
        raise EtdbError(f"the row {x.get('txid')!r} has no OME-Zarr pyramid (only the portal's rows have one)")
    raise TypeError(f"expected a URL or a dataset row, not {type(x).__name__}")


def open_pyramid(x: Any, *, timeout: float = TIMEOUT) -> Pyramid:
    """The OME-Zarr pyramid at a URL, or of a row of a joined/home index (its portal tomogram), opened lazily.

    Returns:
        The :class:`Pyramid` (only its metadata are read now).

    Raises:
        EtdbError: zarr is not installed, the URL holds no OME-Zarr multiscales, or the row has no pyramid.
        TypeError: ``x`` is neither a URL nor a row.
    """
    url = _url(x)
    zarr = _zarr()
    import aiohttp

    options = {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, sock_connect=min(timeout, 10),
                                                                  sock_read=timeout)}}
    try:
        group = zarr.open_group(url, mode="r", storage_options=options)
        multiscales = group.attrs.get("multiscales")
    except (OSError, ValueError, KeyError) as exc:
        raise EtdbError(f"{url}: not a readable OME-Zarr group ({type(exc).__name__}: {exc})") from None
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise EtdbError(f"{url}: no OME-Zarr multiscales metadata")
    datasets = [d for d in multiscales[0].get("datasets") or [] if isinstance(d, dict) and isinstance(d.get("path"),
                                                                                                      str)]
    if not datasets:
        raise EtdbError(f"{url}: the multiscales list no levels")
    return Pyramid(url, group, [d["path"] for d in datasets], [_scales(d) for d in datasets])

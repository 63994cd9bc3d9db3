"""Lazy MRC volumes: numpy-style indexing that fetches only the z-sections it needs.

A :class:`Volume` holds a :class:`ByteRanges` (a local file, or a verified IPFS file) and the checked header. Indexing
reads the byte ranges of the wanted sections, keeps recent sections in an LRU cache bounded in bytes, and reads the
next few sections ahead in the background, since browsing a tomogram moves slice by slice.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from etdb_explore.util import bridge, html
from etdb_explore.volumes.byteranges import ByteRanges
from etdb_explore.volumes.header import MrcError, MrcHeader, read_header

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
DEFAULT_READAHEAD = 2
MAX_CONCURRENT_RUNS = 8


def _memory_limit() -> int:
    """Half the machine's physical memory: larger whole-volume reads are refused before allocation."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted indices → [start, stop) runs of consecutive values."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _normalize_key(key: Any, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """Expand ``key`` to one int or slice per axis; IndexError for anything else or out of range."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - len(key) + 1) + key[at + 1:]
    if len(key) > len(shape):
        raise IndexError(f"too many indices for a {len(shape)}-d volume")
    key = key + (slice(None),) * (len(shape) - len(key))
    out = []
    for k, n in zip(key, shape):
        if isinstance(k, (int, np.integer)):
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
            out.append(int(k) % n)
        elif isinstance(k, slice):
            out.append(k)
        else:
            raise IndexError(f"volumes take ints, slices and ..., not {type(k).__name__}")
    return tuple(out)


class Volume:
    """A lazily read MRC volume (z, y, x); ``np.asarray(vol)`` reads it all, ``vol[z]`` one section.

    Indexing takes ints, slices and ``...`` per axis (see :meth:`aget` for what it returns and raises). Recent
    sections stay in a cache of ``cache_bytes``; after each read the next ``readahead`` sections are read in the
    background. ``metadata`` holds the dataset's row (empty when opened from a path); ``bytes_read`` counts the data
    bytes read so far. Make volumes with :meth:`open` (or :func:`~etdb_explore.open_tomogram`).
    """

    axes: tuple[str, ...] = ("z", "y", "x")  # what the three indices are

    def __init__(self, source: ByteRanges, header: MrcHeader, metadata: dict[str, Any] | None = None, *,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, readahead: int = DEFAULT_READAHEAD) -> None:
        self.source = source
        self.header = header
        self.metadata = dict(metadata or {})
        self.cache_bytes = cache_bytes
        self.readahead = readahead
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._ahead: dict[int, asyncio.Future] = {}  # sections being read ahead in the background
        self._lock = threading.Lock()
        self.bytes_read = 0

    @classmethod
    async def aopen(cls, source: ByteRanges, metadata: dict[str, Any] | None = None, **options: Any) -> Volume:
        """Async :meth:`open`, from any event loop.

        Returns:
            The volume.

        Raises:
            As :meth:`open`.
        """
        return cls(source, await bridge.arun(read_header(source)), metadata, **options)

    @classmethod
    def open(cls, source: ByteRanges, metadata: dict[str, Any] | None = None, **options: Any) -> Volume:
        """The volume of the MRC file ``source``: its header is read and checked now, data are fetched on indexing.

        Args:
            metadata: kept as :attr:`metadata` (a dataset's row).
            options: ``cache_bytes`` and ``readahead`` (see the class).

        Returns:
            The volume.

        Raises:
            MrcError: the header is bad (see :func:`~etdb_explore.volumes.header.read_header`).
            EtdbError: what ``source.read`` raises (VerificationError, BlockNotFoundError, SourceError for IPFS).
        """
        return bridge.run(cls.aopen(source, metadata, **options))

    # ---- array protocol -----------------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int, int]:
        """(nz, ny, nx), from the header."""
        return self.header.shape

    @property
    def dtype(self) -> np.dtype:
        """The native-byte-order dtype of the arrays returned (uint8 for 4-bit mode 101)."""
        return self.header.dtype.newbyteorder("=")

    @property
    def ndim(self) -> int:
        """3."""
        return 3

    @property
    def nbytes(self) -> int:
        """Bytes of the whole volume as arrays of :attr:`dtype` (what ``np.asarray(vol)`` allocates)."""
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """(x, y, z) voxel size in Å."""
        return self.header.voxel_size

    @property
    def origin(self) -> tuple[float, float, float]:
        """(x, y, z) origin from the header, in Å."""
        return self.header.origin

    @property
    def labels(self) -> tuple[str, ...]:
        """The header's non-empty text labels."""
        return self.header.labels

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        nz, ny, nx = self.shape
        vx = self.voxel_size[0]
        read_from = self.metadata.get("read_from")
        label = f" [{read_from['content']}]" if isinstance(read_from, dict) and "content" in read_from else ""
        return f"<{type(self).__name__} {self.source.name}{label}: {nz}×{ny}×{nx} {self.dtype} {vx:.3g} Å/px>"

    def _summary(self) -> list[tuple[str, str]]:
        """(field, value) rows describing this volume, for notebook displays."""
        nz, ny, nx = self.shape
        vx, vy, vz = self.voxel_size
        rows = [("file", html.short_path(self.source.name)),
                ("shape", f"{nz} × {ny} × {nx} ({', '.join(self.axes)})"), ("dtype", str(self.dtype)), ("voxel size", f"{vx:.4g} × {vy:.4g} × {vz:.4g} Å (x, y, z)"),
                ("size", f"{html.size(self.nbytes)}, {html.size(self.bytes_read)} read so far")]
        meta = self.metadata
        rows += [(k, str(meta[k])) for k in ("title", "species") if meta.get(k)]
        if meta.get("txid"):
            rows.append(("txid", html.short(meta["txid"])))
        return rows

    def _repr_html_(self) -> str:
        return html.table(self._summary(), title=type(self).__name__)

    def __getitem__(self, key: Any) -> np.ndarray:
        """``vol[key]``: returns and raises as :meth:`aget`."""
        return bridge.run(self._get(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[...]
        return data if dtype is None else data.astype(dtype, copy=False)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"], state["_lock"], state["_ahead"] = OrderedDict(), None, {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ---- reading ------------------------------------------------------------------------------------------------

    async def aget(self, key: Any) -> np.ndarray:
        """Async ``vol[key]``, from any event loop: the reads (and the read-ahead they start) run on the I/O loop.

        Returns:
            A native-byte-order array of :attr:`dtype`; an int index drops its axis, as in numpy.

        Raises:
            IndexError: more than three indices, an index out of range, or one that is not an int, slice or ``...``.
            MrcError: the sections asked for would take more than half the machine's memory, or a short read.
            EtdbError: what ``source.read`` raises (VerificationError, BlockNotFoundError, SourceError for IPFS).
        """
        return await bridge.arun(self._get(key))

    async def _get(self, key: Any) -> np.ndarray:
        zk, yk, xk = _normalize_key(key, self.shape)
        zs = [zk] if isinstance(zk, int) else list(range(*zk.indices(self.shape[0])))
        out_bytes = len(zs) * self.header.slice_bytes
        if out_bytes > _memory_limit():
            raise MrcError(f"{self.source.name}: reading {out_bytes / 1e9:.1f} GB at once would exceed memory; "
                           "index fewer sections or use to_dask()")
        stack = await self._sections(zs)
        result = stack[:, yk, xk]
        return result[0] if isinstance(zk, int) else result

    async def _sections(self, zs: list[int]) -> np.ndarray:
        """The wanted sections, in order: cached ones from the cache, sections being read ahead awaited, the rest
        in as few range reads as possible. Then the next ``readahead`` sections are read in the background."""
        ny, nx = self.shape[1:]
        out = np.empty((len(zs), ny, nx), dtype=self.dtype)
        use_cache = len(set(zs)) * self.header.slice_bytes <= self.cache_bytes // 2
        with self._lock:
            cached = {z: self._cache[z] for z in zs if z in self._cache} if use_cache else {}
            for z in cached:
                self._cache.move_to_end(z)
        in_flight = {z: self._ahead[z] for z in set(zs) - set(cached) if z in self._ahead}
        missing = sorted(set(zs) - set(cached) - set(in_flight))
        fetched = await self._fetch(missing)
        for z, task in in_flight.items():
            fetched[z] = (await asyncio.shield(task))[z]
        if use_cache:
            self._remember(fetched)
            self._read_ahead(max(zs) + 1)
        for i, z in enumerate(zs):
            out[i] = cached[z] if z in cached else fetched[z]
        return out

    async def _fetch(self, zs: list[int]) -> dict[int, np.ndarray]:
        fetched: dict[int, np.ndarray] = {}
        limit = asyncio.Semaphore(MAX_CONCURRENT_RUNS)

        async def fetch(run: tuple[int, int]) -> None:
            async with limit:
                block = await self._read_run(*run)
            for i, z in enumerate(range(*run)):
                fetched[z] = block[i]

        await asyncio.gather(*(fetch(run) for run in _runs(zs)))
        return fetched

    def _read_ahead(self, start: int) -> None:
        """Start reading sections [start, start + readahead) that are neither cached nor on their way."""
        with self._lock:
            ahead = [z for z in range(start, min(start + self.readahead, self.shape[0]))
                     if z not in self._cache and z not in self._ahead]
        if not ahead:
            return
        task = asyncio.ensure_future(self._fetch(ahead))
        for z in ahead:
            self._ahead[z] = task

        def done(t: asyncio.Future) -> None:
            for z in ahead:
                self._ahead.pop(z, None)
            if not t.cancelled() and t.exception() is None:
                self._remember(t.result())

        task.add_done_callback(done)

    def _remember(self, sections: dict[int, np.ndarray]) -> None:
        with self._lock:
            self._cache.update(sections)
            while len(self._cache) * self.header.slice_bytes > self.cache_bytes and self._cache:
                self._cache.popitem(last=False)

    async def _read_run(self, z0: int, z1: int) -> np.ndarray:
        """Sections [z0, z1) decoded to native-order arrays."""
        h = self.header
        start = h.data_offset + z0 * h.slice_bytes
        data = await self.source.read(start, start + (z1 - z0) * h.slice_bytes)
        if len(data) != (z1 - z0) * h.slice_bytes:
            raise MrcError(f"{self.source.name}: short read of sections {z0}..{z1}")
        self.bytes_read += len(data)
        ny, nx = self.shape[1:]
        if h.mode == 101:
            packed = np.frombuffer(data, dtype=np.uint8).reshape(z1 - z0, ny, (nx + 1) // 2)
            unpacked = np.empty((z1 - z0, ny, packed.shape[2] * 2), dtype=np.uint8)
            unpacked[..., 0::2] = packed & 0x0F
            unpacked[..., 1::2] = packed >> 4
            return unpacked[..., :nx]
        return np.frombuffer(data, dtype=h.dtype).reshape(z1 - z0, ny, nx).astype(self.dtype, copy=False)

    # ---- notebooks ----------------------------------------------------------------------------------------------

    def view(self, **options: Any) -> Any:
        """This volume in a notebook viewer: a :class:`~etdb_explore.widgets.slice_viewer.SliceViewer` (a
        :class:`~etdb_explore.widgets.slice_viewer.TiltSeriesViewer` for a tilt-series), the cell's output.

        Args:
            options: as the viewer (``plane`` "xy", "xz" or "yz"; ``z``, ``contrast``, ``percentiles``, ``window``,
                ``binning``; ``cmap``, a matplotlib colormap name, "gray" or "inverted").

        Returns:
            The widget.

        Raises:
            ViewerError: an option is out of range, or an unknown plane or colormap.
        """
        from etdb_explore.widgets.slice_viewer import viewer_for  # the widgets layer builds on this one

        return viewer_for(self, **options)

    # ---- out of core --------------------------------------------------------------------------------------------

    def to_dask(self, chunks: Any = None) -> Any:
        """A dask array over this volume (default chunks: 8 whole sections); needs the ``dask`` extra.

        Returns:
            The ``dask.array.Array``; computing a chunk indexes this volume (on a worker, its pickled copy).

        Raises:
            ImportError: dask is not installed.
        """
        import dask.array as da

        ny, nx = self.shape[1:]
        return da.from_array(self, chunks=chunks or (8, ny, nx), asarray=True, lock=False,
                             meta=np.empty((0, 0, 0), dtype=self.dtype), name=f"etdb-{self.source.name}")

    def to_napari(self, viewer: Any = None) -> Any:
        """Show this volume in napari as a lazy multiscale image layer (see :func:`etdb_explore.napari.view`).

        Returns:
            The ``napari.layers.Image`` added to ``viewer`` (a new ``napari.Viewer`` when None).

        Raises:
            ImportError: napari or dask is not installed (the ``napari`` extra).
            MrcError, VerificationError, BlockNotFoundError, SourceError: reading the central section failed.
        """
        from etdb_explore.napari import view

        return view(self, viewer)

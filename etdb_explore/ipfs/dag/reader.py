"""The verified UnixFS reader: resolve paths, list directories, and read any byte range of any file.

A range read descends only into the children whose ``blocksizes`` cover it, fetching a bounded window of siblings
ahead, so a 2 MiB slice of a 3 GB tilt-series costs about 2 MiB of leaves plus a few interior nodes, with memory
bounded by the window whatever the range. Every block comes from a BlockSource and is verified against its CID.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.dag.prefetch import CarPrefetch
from etdb_explore.ipfs.formats import dagpb, hamt, unixfs
from etdb_explore.ipfs.formats.cid import CID, DAG_PB, RAW
from etdb_explore.ipfs.sources.base import BlockSource

DEFAULT_WINDOW = 16
CAR_MIN_BYTES = 1 << 20
NODE_CACHE_SIZE = 512
MAX_FILE_DEPTH = 64  # Kubo's balanced DAGs stay under 6 levels for any real file; trickle DAGs under 30
HEAD_BYTES = 256 * 1024  # what opening a file reads at once: an MRC header with a typical extended header


class PathError(EtdbError, FileNotFoundError):
    """A path does not resolve inside a UnixFS DAG."""


@dataclass(frozen=True)
class Stat:
    cid: CID
    type: str  # "file", "directory", "hamt-shard", "symlink"
    size: int  # file bytes (directories: cumulative DAG size of the children)
    target: str | None = None  # symlinks


@dataclass(frozen=True)
class DirEntry:
    name: str
    cid: CID
    size: int | None  # the link's cumulative size (Tsize), as Kubo lists it


@dataclass(frozen=True)
class _Node:
    cid: CID
    pb: dagpb.PBNode | None  # None for raw blocks
    fs: unixfs.UnixFSData | None
    raw: bytes | None  # the bytes of a raw block

    @property
    def file_data(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return (self.fs.data if self.fs else None) or b""

    @property
    def size(self) -> int:
        if self.raw is not None:
            return len(self.raw)
        if self.fs is None:
            return 0
        if self.fs.filesize is not None:
            return self.fs.filesize
        return len(self.fs.data or b"") + sum(self.fs.blocksizes)


class UnixFSReader:
    """Read UnixFS DAGs from a block source (a LocalStore, a gateway client, a MultiSource, …)."""

    def __init__(self, source: BlockSource, window: int = DEFAULT_WINDOW, car_min_bytes: int = CAR_MIN_BYTES) -> None:
        self.source = source
        self.window = window
        self.car_min_bytes = car_min_bytes  # ranges from this size on come as one CAR stream when the source offers it
        self._nodes: OrderedDict[CID, _Node] = OrderedDict()  # interior nodes only (small)

    async def _node(self, cid: CID, source: BlockSource | None = None) -> _Node:
        cached = self._nodes.get(cid)
        if cached is not None:
            self._nodes.move_to_end(cid)
            return cached
        block = await (source or self.source).get(cid)  # block sources hand out verified blocks only
        if cid.codec == RAW:
            return _Node(cid, None, None, block)
        if cid.codec != DAG_PB:
            raise EtdbError(f"block {cid} is {cid.codec_name}, not UnixFS")
        pb = dagpb.decode(block, cid)
        node = _Node(cid, pb, unixfs.decode(pb.data, cid), None)
        if pb.links:
            self._nodes[cid] = node
            if len(self._nodes) > NODE_CACHE_SIZE:
                self._nodes.popitem(last=False)
        return node

    # ---- paths and directories ----------------------------------------------------------------------------------

    async def resolve(self, root: CID | str, path: str = "", source: BlockSource | None = None) -> CID:
        """The CID at ``root/path`` (through plain and HAMT-sharded directories)."""
        cid = CID.decode(root)
        for segment in [s for s in path.strip("/").split("/") if s]:
            if segment in (".", ".."):
                raise PathError(f"path segment {segment!r} is not allowed in {path!r}")
            node = await self._node(cid, source)
            if node.fs is None or node.fs.type not in (unixfs.DIRECTORY, unixfs.HAMT_SHARD):
                raise PathError(f"{cid} is not a directory (resolving {segment!r} of {path!r})")
            found = await (self._hamt_lookup(node, segment, source) if node.fs.type == unixfs.HAMT_SHARD else
                           self._plain_lookup(node, segment))
            if found is None:
                raise PathError(f"no {segment!r} in directory {cid} (resolving {root}/{path.strip('/')})")
            cid = found
        return cid

    @staticmethod
    async def _plain_lookup(node: _Node, name: str) -> CID | None:
        assert node.pb is not None
        return next((link.cid for link in node.pb.links if link.name == name), None)

    async def _shard(self, cid: CID, source: BlockSource | None, depth: int) -> _Node:
        """The HAMT shard node ``cid`` at ``depth``; EtdbError naming it if it is not one, or too deep."""
        if depth >= hamt.MAX_DEPTH:
            raise EtdbError(f"HAMT shard {cid} is deeper than a 64-bit hash allows ({hamt.MAX_DEPTH} levels)")
        node = await self._node(cid, source)
        if node.pb is None or node.fs is None or node.fs.type != unixfs.HAMT_SHARD:
            raise EtdbError(f"HAMT child {cid} is not a HAMT shard")
        if node.fs.fanout != hamt.FANOUT or node.fs.hash_type != unixfs.MURMUR3_X64_64:
            raise EtdbError(f"HAMT shard {cid}: fanout {node.fs.fanout} and hash {node.fs.hash_type} are unsupported")
        return node

    async def _hamt_lookup(self, node: _Node, name: str, source: BlockSource | None) -> CID | None:
        node = await self._shard(node.cid, source, 0)
        for depth in range(hamt.MAX_DEPTH):
            prefix = f"{hamt.slot(name, depth):02X}"
            child = None
            for link in node.pb.links:  # type: ignore[union-attr]
                link_name = link.name or ""
                if link_name == prefix:
                    child = link.cid
                    break
                if link_name.startswith(prefix) and link_name[2:] == name:
                    return link.cid
            if child is None:
                return None
            node = await self._shard(child, source, depth + 1)
        return None

    async def listdir(self, cid: CID | str, path: str = "") -> list[DirEntry]:
        """Entries of a directory (plain or sharded), sorted by name."""
        node = await self._node(await self.resolve(cid, path))
        if node.fs is None or node.fs.type not in (unixfs.DIRECTORY, unixfs.HAMT_SHARD):
            raise PathError(f"{node.cid} is not a directory")
        entries = await self._entries(node)
        return sorted(entries, key=lambda e: e.name)

    async def _entries(self, node: _Node, depth: int = 0) -> list[DirEntry]:
        assert node.pb is not None and node.fs is not None
        if node.fs.type == unixfs.DIRECTORY:
            return [DirEntry(link.name or "", link.cid, link.tsize) for link in node.pb.links]
        node = await self._shard(node.cid, None, depth)
        out = []
        for link in node.pb.links:  # type: ignore[union-attr]
            name = link.name or ""
            if len(name) == 2:
                out.extend(await self._entries(await self._shard(link.cid, None, depth + 1), depth + 1))
            else:
                out.append(DirEntry(name[2:], link.cid, link.tsize))
        return out

    async def stat(self, cid: CID | str, path: str = "", source: BlockSource | None = None) -> Stat:
        node = await self._node(await self.resolve(cid, path, source), source)
        if node.raw is not None:  # a raw block is a whole file
            return Stat(node.cid, "file", len(node.raw))
        assert node.fs is not None and node.pb is not None
        if node.fs.type in (unixfs.FILE, unixfs.RAW):
            return Stat(node.cid, "file", node.size)
        if node.fs.type == unixfs.SYMLINK:
            return Stat(node.cid, "symlink", len(node.fs.data or b""), (node.fs.data or b"").decode("utf-8", "replace"))
        return Stat(node.cid, node.fs.type_name, sum(link.tsize or 0 for link in node.pb.links))

    # ---- file bytes ---------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _streamed(self, cid: CID, path: str, start: int, end: int | None) -> AsyncIterator[BlockSource]:
        """The source to read through: one CAR stream (path blocks first) when the source offers it, else blocks."""
        car_range = getattr(self.source, "car_range", None)
        stream = car_range(cid, start, end, path) if car_range is not None else None
        if stream is None:
            yield self.source
            return
        prefetch = CarPrefetch(self.source, stream)
        try:
            yield prefetch
        finally:
            await prefetch.aclose()

    async def head(self, cid: CID | str, path: str = "", size: int = HEAD_BYTES) -> tuple[Stat, bytes]:
        """Stat ``cid/path`` and, for a file, read its first ``size`` bytes; one round trip to a gateway (a CAR of
        the path's directories, the file's root and its first leaves), which is what opening a remote file costs."""
        async with self._streamed(CID.decode(cid), path, 0, size) as source:
            stat = await self.stat(cid, path, source)
            if stat.type != "file":
                return stat, b""
            root = await self._node(stat.cid, source)
            data = [chunk async for chunk in self._walk(root, 0, 0, min(size, stat.size), source)]
            return stat, b"".join(data)

    async def iter_range(self, cid: CID | str, start: int = 0, end: int | None = None,
                         path: str = "") -> AsyncIterator[bytes]:
        """The bytes [start, end) of a file, in order, in leaf-sized chunks.

        Large ranges from a gateway come as one CAR stream (``entity-bytes``), small ones as raw blocks.
        """
        root_cid = CID.decode(cid)
        if end is not None and end - start < self.car_min_bytes:
            async for chunk in self._range(root_cid, path, start, end, self.source):
                yield chunk
            return
        async with self._streamed(root_cid, path, start, end) as source:
            async for chunk in self._range(root_cid, path, start, end, source):
                yield chunk

    async def _range(self, root_cid: CID, path: str, start: int, end: int | None,
                     source: BlockSource) -> AsyncIterator[bytes]:
        root = await self._node(await self.resolve(root_cid, path, source), source)
        if root.fs is not None and root.fs.type not in (unixfs.FILE, unixfs.RAW):
            raise PathError(f"{root.cid} is a {root.fs.type_name}, not a file")
        size = root.size
        end = size if end is None else min(end, size)
        if start < 0 or start > end:
            raise ValueError(f"invalid byte range [{start}, {end}) for a file of {size} bytes")
        if start < end:
            async for chunk in self._walk(root, 0, start, end, source):
                yield chunk

    def _window(self, source: BlockSource) -> int:
        """Blocks to fetch ahead: one while a CAR stream delivers them in walk order, else the window."""
        return 1 if isinstance(source, CarPrefetch) and source.streaming else self.window

    async def _walk(self, node: _Node, offset: int, start: int, end: int, source: BlockSource,
                    depth: int = 0) -> AsyncIterator[bytes]:
        """Bytes of ``node`` (starting at file ``offset``) that fall in [start, end)."""
        if depth > MAX_FILE_DEPTH:
            raise EtdbError(f"file DAG deeper than {MAX_FILE_DEPTH} levels at {node.cid}")
        data = node.file_data
        if data:
            lo, hi = max(start - offset, 0), min(end - offset, len(data))
            if lo < hi:
                yield data[lo:hi]
            offset += len(data)
        if node.pb is None or not node.pb.links:
            return
        assert node.fs is not None
        if len(node.fs.blocksizes) != len(node.pb.links):
            raise EtdbError(f"file node {node.cid}: {len(node.fs.blocksizes)} blocksizes for "
                            f"{len(node.pb.links)} links")
        wanted: deque[tuple[CID, int, int]] = deque()
        for link, size in zip(node.pb.links, node.fs.blocksizes):
            if offset < end and offset + size > start:
                wanted.append((link.cid, offset, size))
            offset += size
        pending: deque[tuple[asyncio.Task[_Node], int, int]] = deque()
        try:
            while pending or wanted:
                while wanted and len(pending) < self._window(source):
                    child_cid, child_offset, size = wanted.popleft()
                    pending.append((asyncio.ensure_future(self._node(child_cid, source)), child_offset, size))
                task, child_offset, size = pending.popleft()
                child = await task
                if child.size != size:  # a lying blocksize would shift every byte after it
                    raise EtdbError(f"file node {child.cid} holds {child.size} bytes, its parent {node.cid} "
                                    f"says {size}")
                async for chunk in self._walk(child, child_offset, start, end, source, depth + 1):
                    yield chunk
        finally:
            for task, _, _ in pending:
                task.cancel()

    async def read(self, cid: CID | str, start: int = 0, end: int | None = None, path: str = "") -> bytes:
        """The bytes [start, end) of a file at ``cid/path``."""
        return b"".join([chunk async for chunk in self.iter_range(cid, start, end, path)])

"""The verified UnixFS reader: resolve paths, list directories, and read any byte range of any file.

A range read descends only into the children whose ``blocksizes`` cover it, fetching a bounded window of siblings
ahead, so a 2 MiB slice of a 3 GB tilt-series costs about 2 MiB of leaves plus a few interior nodes, with memory
bounded by the window whatever the range. Every block comes from a BlockSource and is verified against its CID.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.dag.nodes import MAX_FILE_DEPTH, Node, NodeCache, check_file_node
from etdb_explore.ipfs.dag.ordered import InOrder
from etdb_explore.ipfs.dag.prefetch import CarPrefetch
from etdb_explore.ipfs.dag.resolve import DirEntry, PathError, entries, resolve
from etdb_explore.ipfs.dag.stripe import Striping, striped
from etdb_explore.ipfs.formats import unixfs
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.base import BlockSource, CarStreamSource, LaneSource

__all__ = ["CAR_MIN_BYTES", "DEFAULT_WINDOW", "HEAD_BYTES", "MAX_FILE_DEPTH", "DirEntry", "PathError", "Stat",
           "UnixFSReader"]

DEFAULT_WINDOW = 16
CAR_MIN_BYTES = 1 << 20
HEAD_BYTES = 256 * 1024  # what opening a file reads at once: an MRC header with a typical extended header


class ByteRangeError(EtdbError, ValueError):
    """A byte range starts before 0 or after its end (or after the end of the file)."""


@dataclass(frozen=True)
class Stat:
    """What is at an IPFS path.

    Attributes:
        cid: the CID at the path.
        type: ``"file"``, ``"directory"``, ``"hamt-shard"`` or ``"symlink"``.
        size: a file's bytes; for a directory the cumulative DAG size of its children; for a symlink its target's
            length.
        target: a symlink's target, else None.
    """

    cid: CID
    type: str
    size: int
    target: str | None = None


class UnixFSReader:
    """Read UnixFS DAGs from a block source (a LocalStore, a gateway client, a MultiSource, …), every block verified.

    Args:
        source: where blocks come from.
        window: how many sibling blocks a range read fetches ahead.
        car_min_bytes: ranges from this size on come as one CAR stream when the source is a CarStreamSource.
        nodes: the node cache to use (share one between readers and walkers over the same content); a new one of
            the default size if None.
        striping: how large ranges are read from several lanes at once when the source has them (a
            :class:`~etdb_explore.ipfs.sources.base.LaneSource`: several gateways, a Kubo node); None reads every
            range through one source at a time.

    ``dropped`` holds, for each lane a striped read dropped, why (lane name → reason; newest last).
    """

    def __init__(self, source: BlockSource, window: int = DEFAULT_WINDOW, car_min_bytes: int = CAR_MIN_BYTES,
                 nodes: NodeCache | None = None, striping: Striping | None = Striping()) -> None:
        self.source = source
        self.window = window
        self.car_min_bytes = car_min_bytes
        self.nodes = nodes if nodes is not None else NodeCache()
        self.striping = striping
        self.dropped: dict[str, str] = {}

    async def node(self, cid: CID, source: BlockSource | None = None) -> Node:
        """The UnixFS node of ``cid`` (a raw block or a DAG-PB node with UnixFS data), through the node cache.

        Returns:
            The decoded node.

        Raises:
            UnixFSError, EtdbError: the block is not UnixFS (naming the CID).
            BlockNotFoundError, SourceError, VerificationError: the block cannot be fetched truthfully.
        """
        return (await self.nodes.get(cid, source or self.source)).require_unixfs()

    # ---- paths and directories ----------------------------------------------------------------------------------

    async def resolve(self, root: CID | str, path: str = "", source: BlockSource | None = None) -> CID:
        """The CID at ``root/path`` (through plain and HAMT-sharded directories).

        Returns:
            The CID (``root`` itself for an empty path).

        Raises:
            PathError: the path does not resolve (naming the segment and the directory).
            BlockNotFoundError, SourceError, VerificationError: a block on the way cannot be fetched truthfully.
        """
        return (await resolve(self.nodes, source or self.source, root, path)).cid

    async def listdir(self, cid: CID | str, path: str = "") -> list[DirEntry]:
        """The entries of the directory (plain or sharded) at ``cid/path``.

        Returns:
            The entries, sorted by name.

        Raises:
            PathError: the path does not resolve, or does not lead to a directory.
            BlockNotFoundError, SourceError, VerificationError: a block cannot be fetched truthfully.
        """
        node = await self.nodes.get(await self.resolve(cid, path), self.source)
        return sorted(await entries(self.nodes, self.source, node), key=lambda e: e.name)

    async def stat(self, cid: CID | str, path: str = "", source: BlockSource | None = None) -> Stat:
        """What is at ``cid/path``: its CID, type and size.

        Returns:
            The Stat.

        Raises:
            PathError: the path does not resolve.
            UnixFSError, EtdbError: the node at the path is not UnixFS.
            BlockNotFoundError, SourceError, VerificationError: a block cannot be fetched truthfully.
        """
        node = await self.node(await self.resolve(cid, path, source), source)
        if node.fs is None:  # a raw block is a whole file
            return Stat(node.cid, "file", len(node.block))
        if node.fs.type in (unixfs.FILE, unixfs.RAW):
            return Stat(node.cid, "file", node.size)
        if node.fs.type == unixfs.SYMLINK:
            target = bytes(node.fs.data or b"")
            return Stat(node.cid, "symlink", len(target), target.decode("utf-8", "replace"))
        return Stat(node.cid, node.fs.type_name, sum(link.tsize or 0 for link in node.links))

    # ---- file bytes ---------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _streamed(self, cid: CID, path: str, start: int, end: int | None,
                        source: BlockSource | None = None) -> AsyncIterator[BlockSource]:
        """The source to read through: one CAR stream (path blocks first) when ``source`` (default the reader's)
        offers it, else blocks."""
        source = source or self.source
        stream = source.car_range(cid, start, end, path) if isinstance(source, CarStreamSource) else None
        if stream is None:
            yield source
            return
        prefetch = CarPrefetch(source, stream)
        try:
            yield prefetch
        finally:
            await prefetch.aclose()

    async def head(self, cid: CID | str, path: str = "", size: int = HEAD_BYTES) -> tuple[Stat, bytes]:
        """Stat ``cid/path`` and, for a file, read its first ``size`` bytes.

        From a CarStreamSource this is one round trip (a CAR of the path's directories, the file's root and its
        first leaves), which is what opening a remote file costs.

        Returns:
            The Stat, and the first ``size`` bytes of a file (``b""`` for anything else).

        Raises:
            PathError: the path does not resolve.
            UnixFSError, EtdbError: a node is not UnixFS or the file's DAG is malformed (naming the node).
            BlockNotFoundError, SourceError, VerificationError: a block cannot be fetched truthfully.
        """
        async with self._streamed(CID.decode(cid), path, 0, size) as source:
            stat = await self.stat(cid, path, source)
            if stat.type != "file":
                return stat, b""
            root = await self.node(stat.cid, source)
            data = [chunk async for chunk in self._walk(root, 0, 0, min(size, stat.size), source)]
            return stat, b"".join(data)

    async def iter_range(self, cid: CID | str, start: int = 0, end: int | None = None,
                         path: str = "") -> AsyncIterator[bytes | memoryview]:
        """The bytes [start, end) of the file at ``cid/path``, in order, in leaf-sized chunks.

        A chunk is ``bytes`` or a read-only ``memoryview`` into a verified block (a DAG-PB leaf's file bytes are not
        copied out of it): write it, hash it or join it as it is; ``bytes(chunk)`` when bytes are needed.

        Ranges of ``car_min_bytes`` or more (and open-ended ones) from a CarStreamSource come as one CAR stream
        (``entity-bytes``), smaller ones block by block. From a source of several lanes (gateways, a Kubo node),
        ranges of ``striping.min_bytes`` or more are striped across all of them (see
        :mod:`etdb_explore.ipfs.dag.stripe`). ``end`` None or beyond the file means its end.

        Returns:
            An async iterator of bytes-like chunks.

        Raises:
            PathError: the path does not resolve, or leads to something that is not a file.
            ByteRangeError: ``start`` is negative or after ``end``.
            UnixFSError, EtdbError: a node is not UnixFS or the file's DAG is malformed (naming the node).
            BlockNotFoundError, SourceError, VerificationError: a block cannot be fetched truthfully.
        """
        root_cid = CID.decode(cid)
        if end is not None and end - start < self.car_min_bytes:
            async for chunk in self._range(root_cid, path, start, end, self.source):
                yield chunk
            return
        policy = self.striping
        lanes = self.source.lanes(root_cid) if policy and isinstance(self.source, LaneSource) else []
        if policy and len(lanes) >= policy.min_lanes and (end is None or end - start >= policy.min_bytes):
            async for chunk in self._striped(root_cid, path, start, end, lanes, policy):
                yield chunk
            return
        async for chunk in self._through(self.source, root_cid, path, start, end):
            yield chunk

    async def _through(self, source: BlockSource, cid: CID, path: str, start: int,
                       end: int | None) -> AsyncIterator[bytes | memoryview]:
        """Bytes [start, end) of ``cid/path`` from ``source``: one CAR stream when it offers one, else blocks.

        A file's range (no path) is passed on straight from the stream while its blocks come in walk order
        (:class:`~etdb_explore.ipfs.dag.ordered.InOrder`); the rest, if the stream breaks that order or ends early,
        comes through a new stream and the general walk."""
        stream = source.car_range(cid, start, end) if not path and isinstance(source, CarStreamSource) else None
        if stream is not None:
            walk = InOrder(self.nodes, cid, start, end, self._check_root, source.name)
            async for chunk in walk.chunks(stream):
                yield chunk
            if walk.complete:
                return
            start, end = walk.position, walk.end
        async with self._streamed(cid, path, start, end, source) as streamed:
            async for chunk in self._range(cid, path, start, end, streamed):
                yield chunk

    async def _striped(self, root_cid: CID, path: str, start: int, end: int | None, lanes: list[BlockSource],
                       policy: Striping) -> AsyncIterator[bytes | memoryview]:
        """Bytes [start, end) striped across ``lanes`` (the file's root first, through the reader's source)."""
        root, end = await self._file_root(root_cid, path, start, end, self.source)
        if end - start < policy.min_bytes or not root.links:
            async for chunk in self._through(self.source, root.cid, "", start, end):
                yield chunk
            return

        def fetch(lane: BlockSource, a: int, b: int) -> AsyncIterator[bytes | memoryview]:
            return self._through(lane, root.cid, "", a, b)

        def fallback(a: int, b: int) -> AsyncIterator[bytes | memoryview]:
            return self._through(self.source, root.cid, "", a, b)

        async for chunk in striped(lanes, fetch, fallback, start, end, policy, self.dropped):
            yield chunk

    async def _file_root(self, root_cid: CID, path: str, start: int, end: int | None,
                         source: BlockSource) -> tuple[Node, int]:
        """The root node of the file at ``root_cid/path`` and the range's end within it (checked)."""
        root = await self.node(await self.resolve(root_cid, path, source), source)
        return root, self._check_root(root, start, end)

    @staticmethod
    def _check_root(root: Node, start: int, end: int | None) -> int:
        """The end of range [start, end) within file ``root`` (``end`` None or past the file: its end).

        Raises:
            PathError: ``root`` is not a file.
            ByteRangeError: the range starts before 0 or after its end.
        """
        if root.fs is not None and root.fs.type not in (unixfs.FILE, unixfs.RAW):
            raise PathError(f"{root.cid} is a {root.fs.type_name}, not a file")
        size = root.size
        end = size if end is None else min(end, size)
        if start < 0 or start > end:
            raise ByteRangeError(f"invalid byte range [{start}, {end}) of {root.cid}, a file of {size} bytes")
        return end

    async def _range(self, root_cid: CID, path: str, start: int, end: int | None,
                     source: BlockSource) -> AsyncIterator[bytes | memoryview]:
        root, end = await self._file_root(root_cid, path, start, end, source)
        if start < end:
            async for chunk in self._walk(root, 0, start, end, source):
                yield chunk

    def _window(self, source: BlockSource) -> int:
        """Blocks to fetch ahead: one while a CAR stream delivers them in walk order, else the window."""
        return 1 if isinstance(source, CarPrefetch) and source.streaming else self.window

    async def _walk(self, node: Node, offset: int, start: int, end: int, source: BlockSource,
                    depth: int = 0) -> AsyncIterator[bytes | memoryview]:
        """Bytes of ``node`` (starting at file ``offset``) that fall in [start, end)."""
        check_file_node(node, depth)
        data = node.file_data
        if data:
            lo, hi = max(start - offset, 0), min(end - offset, len(data))
            if lo < hi:
                yield data[lo:hi]
            offset += len(data)
        wanted: deque[tuple[CID, int, int]] = deque()
        for child_cid, size in node.file_children():
            if offset < end and offset + size > start:
                wanted.append((child_cid, offset, size))
            offset += size
        pending: deque[tuple[asyncio.Task[Node], int, int]] = deque()
        try:
            while pending or wanted:
                while wanted and len(pending) < self._window(source):
                    child_cid, child_offset, size = wanted.popleft()
                    pending.append((asyncio.ensure_future(self.node(child_cid, source)), child_offset, size))
                task, child_offset, size = pending.popleft()
                child = await task
                check_file_node(child, depth + 1, size)
                async for chunk in self._walk(child, child_offset, start, end, source, depth + 1):
                    yield chunk
        finally:
            for task, _, _ in pending:
                task.cancel()

    async def read(self, cid: CID | str, start: int = 0, end: int | None = None, path: str = "") -> bytes:
        """The bytes [start, end) of the file at ``cid/path`` (see :meth:`iter_range`).

        Returns:
            The bytes.

        Raises:
            PathError, ValueError, UnixFSError, EtdbError, BlockNotFoundError, SourceError, VerificationError:
                as :meth:`iter_range`.
        """
        return b"".join([chunk async for chunk in self.iter_range(cid, start, end, path)])

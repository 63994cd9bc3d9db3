"""Walking DAGs for CAR responses and exports: path resolution blocks, then the terminal entity by scope.

Blocks come out in depth-first pre-order (``order=dfs``), each at most once unless ``dups`` is asked for, the way
the trustless-gateway spec describes ``dag-scope=block|entity|all`` and ``entity-bytes=from:to``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.dag.reader import MAX_FILE_DEPTH, PathError
from etdb_explore.ipfs.formats import dagpb, hamt, unixfs
from etdb_explore.ipfs.formats.cid import CID, DAG_PB
from etdb_explore.ipfs.sources.base import BlockSource

FETCH_WINDOW = 16  # blocks fetched ahead while streaming a file
PB_LINKS_TAG = b"\x12"  # protobuf key of PBNode.Links (field 2, length-delimited)


class ScopeError(EtdbError, ValueError):
    """A dag-scope or entity-bytes parameter is malformed."""


@dataclass(frozen=True)
class ByteRange:
    """``entity-bytes=from:to``: ``to`` inclusive, ``*`` for the end; negative values count from the end."""

    start: int
    end: int | None  # inclusive, None = to the end

    @classmethod
    def parse(cls, text: str) -> ByteRange:
        lo, sep, hi = text.partition(":")
        try:
            if not sep:
                raise ValueError
            return cls(int(lo), None if hi == "*" else int(hi))
        except ValueError:
            raise ScopeError(f"entity-bytes must be from:to (integers, to may be *), not {text!r}") from None

    def resolve(self, size: int) -> tuple[int, int]:
        """[start, stop) within a file of ``size`` bytes."""
        start = self.start if self.start >= 0 else max(size + self.start, 0)
        stop = size if self.end is None else (self.end + 1 if self.end >= 0 else size + self.end + 1)
        return min(start, size), max(min(stop, size), min(start, size))


Decoded = tuple[dagpb.PBNode | None, unixfs.UnixFSData | None]


def _decode(cid: CID, block: bytes) -> Decoded:
    if cid.codec != DAG_PB:
        return None, None
    node = dagpb.decode(block, cid)
    try:
        return node, unixfs.decode(node.data, cid)
    except unixfs.UnixFSError:
        return node, None


class NodeCache:
    """Decoded nodes that have links (directories, interior file nodes), kept across walks: a gateway serving many
    ranges of one file decodes its root and interior nodes once, not once per request."""

    def __init__(self, size: int = 256) -> None:  # 256 interior nodes index about 11 GB of file data
        self.size = size
        self._nodes: OrderedDict[CID, Decoded] = OrderedDict()

    def decode(self, cid: CID, block: bytes) -> Decoded:
        hit = self._nodes.get(cid)
        if hit is not None:
            self._nodes.move_to_end(cid)
            return hit
        decoded = _decode(cid, block)
        if decoded[0] is not None and decoded[0].links:
            self._nodes[cid] = decoded
            if len(self._nodes) > self.size:
                self._nodes.popitem(last=False)
        return decoded


class DagWalker:
    """Yields (CID, block) pairs of a DAG for a CAR response or export, fetching from ``source``."""

    def __init__(self, source: BlockSource, dups: bool = False, nodes: NodeCache | None = None) -> None:
        self.source = source
        self.dups = dups
        self._decode = (nodes or NodeCache()).decode
        self._seen: set[CID] = set()

    async def _emit(self, cid: CID) -> tuple[CID, bytes] | None:
        if cid in self._seen and not self.dups:
            return None
        self._seen.add(cid)
        return cid, await self.source.get(cid)

    async def walk(self, root: CID, path: str = "", scope: str = "all",
                   entity_bytes: ByteRange | None = None) -> AsyncIterator[tuple[CID, bytes]]:
        if scope not in ("block", "entity", "all"):
            raise ScopeError(f"dag-scope must be block, entity or all, not {scope!r}")
        cid = root
        for segment in [s for s in path.strip("/").split("/") if s]:
            block = await self.source.get(cid)
            if cid not in self._seen:
                self._seen.add(cid)
                yield cid, block
            node, fs = self._decode(cid, block)
            if node is None or fs is None or fs.type not in (unixfs.DIRECTORY, unixfs.HAMT_SHARD):
                raise PathError(f"{cid} is not a directory (resolving {segment!r})")
            if fs.type == unixfs.DIRECTORY:
                found = next((link.cid for link in node.links if link.name == segment), None)
            else:
                shards, found = await self._hamt_resolve(node, segment)
                for shard in shards:
                    if shard[0] not in self._seen:
                        self._seen.add(shard[0])
                        yield shard
            if found is None:
                raise PathError(f"no {segment!r} in directory {cid}")
            cid = found
        if scope == "block":
            item = await self._emit(cid)
            if item:
                yield item
        elif scope == "all":
            async for item in self._all(cid):
                yield item
        else:
            async for item in self._entity(cid, entity_bytes):
                yield item

    async def _hamt_resolve(self, node: dagpb.PBNode, name: str) -> tuple[list[tuple[CID, bytes]], CID | None]:
        """The child-shard blocks passed on the way to ``name`` in a sharded directory, and its CID (or None)."""
        blocks: list[tuple[CID, bytes]] = []
        depth = 0
        while depth < hamt.MAX_DEPTH:
            prefix = f"{hamt.slot(name, depth):02X}"
            child = None
            for link in node.links:
                if link.name == prefix + name:
                    return blocks, link.cid
                if link.name == prefix:
                    child = link.cid
            if child is None:
                return blocks, None
            block = await self.source.get(child)
            blocks.append((child, block))
            node, _ = self._decode(child, block)
            if node is None:
                return blocks, None
            depth += 1
        return blocks, None

    async def _all(self, cid: CID) -> AsyncIterator[tuple[CID, bytes]]:
        """Every block below ``cid`` in depth-first order (an explicit stack: DAG depth costs no recursion)."""
        stack = [cid]
        while stack:
            item = await self._emit(stack.pop())
            if item is None:
                continue
            yield item
            node, _ = self._decode(*item)
            if node is not None:
                stack.extend(reversed([link.cid for link in node.links]))

    async def _entity(self, cid: CID, entity_bytes: ByteRange | None,
                      depth: int = 0) -> AsyncIterator[tuple[CID, bytes]]:
        if depth > hamt.MAX_DEPTH:
            raise EtdbError(f"HAMT shard {cid} is deeper than a 64-bit hash allows ({hamt.MAX_DEPTH} levels)")
        item = await self._emit(cid)
        if item is None:
            return
        yield item
        node, fs = self._decode(cid, item[1])
        if node is None or fs is None:
            return
        if fs.type == unixfs.HAMT_SHARD:  # a sharded directory's entity is all its shard nodes
            for link in node.links:
                if len(link.name or "") == 2:
                    async for child in self._entity(link.cid, None, depth + 1):
                        yield child
            return
        if fs.type != unixfs.FILE or not node.links:
            return
        size = fs.filesize if fs.filesize is not None else sum(fs.blocksizes)
        start, stop = entity_bytes.resolve(size) if entity_bytes else (0, size)
        async for child in self._file_range(node, fs, 0, start, stop):
            yield child

    async def _file_range(self, node: dagpb.PBNode, fs: unixfs.UnixFSData, offset: int, start: int,
                          stop: int, depth: int = 0) -> AsyncIterator[tuple[CID, bytes]]:
        """The blocks below a file node that cover [start, stop), fetched a window ahead, emitted in DFS order."""
        if depth > MAX_FILE_DEPTH:
            raise EtdbError(f"file DAG deeper than {MAX_FILE_DEPTH} levels below the requested file")
        offset += len(fs.data or b"")
        wanted = []
        for link, size in zip(node.links, fs.blocksizes):
            if offset < stop and offset + size > start and (self.dups or link.cid not in self._seen):
                wanted.append((link.cid, offset))
                self._seen.add(link.cid)
            offset += size
        pending: deque[tuple[asyncio.Task[bytes], CID, int]] = deque()
        queue = iter(wanted)
        try:
            for cid, child_offset in queue:
                pending.append((asyncio.ensure_future(self.source.get(cid)), cid, child_offset))
                if len(pending) >= FETCH_WINDOW:
                    break
            while pending:
                task, cid, child_offset = pending.popleft()
                block = await task
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append((asyncio.ensure_future(self.source.get(nxt[0])), nxt[0], nxt[1]))
                yield cid, block
                if cid.codec != DAG_PB or block[:1] != PB_LINKS_TAG:
                    continue  # a leaf: canonical DAG-PB writes links (field 2) before data, so none here
                child, child_fs = self._decode(cid, block)
                if child is not None and child_fs is not None and child.links:
                    async for grandchild in self._file_range(child, child_fs, child_offset, start, stop,
                                                             depth + 1):
                        yield grandchild
        finally:
            for task, _, _ in pending:
                task.cancel()

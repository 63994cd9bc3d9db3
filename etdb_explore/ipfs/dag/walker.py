"""Walking DAGs for CAR responses and exports: path resolution blocks, then the terminal entity by scope.

Blocks come out in depth-first pre-order (``order=dfs``), each at most once unless ``dups`` is asked for, the way
the trustless-gateway spec describes ``dag-scope=block|entity|all`` and ``entity-bytes=from:to``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.dag.nodes import Node, NodeCache, check_file_node
from etdb_explore.ipfs.dag.resolve import Resolved, check_shard, resolve
from etdb_explore.ipfs.formats import unixfs
from etdb_explore.ipfs.formats.cid import CID, DAG_PB
from etdb_explore.ipfs.sources.base import BlockSource

FETCH_WINDOW = 16  # blocks fetched ahead while streaming a file
PB_LINKS_TAG = b"\x12"  # protobuf key of PBNode.Links (field 2, length-delimited)


SCOPES = ("block", "entity", "all")


class ScopeError(EtdbError, ValueError):
    """A dag-scope or entity-bytes parameter is malformed."""


def check_scope(scope: str) -> None:
    """Check a ``dag-scope`` value.

    Raises:
        ScopeError: ``scope`` is not block, entity or all.
    """
    if scope not in SCOPES:
        raise ScopeError(f"dag-scope must be block, entity or all, not {scope!r}")


@dataclass(frozen=True)
class ByteRange:
    """``entity-bytes=from:to``: ``to`` inclusive, ``*`` for the end; negative values count from the end."""

    start: int
    end: int | None  # inclusive, None = to the end

    @classmethod
    def parse(cls, text: str) -> ByteRange:
        """Parse ``from:to`` as in ``entity-bytes``.

        Returns:
            The ByteRange.

        Raises:
            ScopeError: ``text`` is not two integers (the second may be ``*``) separated by a colon.
        """
        lo, sep, hi = text.partition(":")
        try:
            if not sep:
                raise ValueError
            return cls(int(lo), None if hi == "*" else int(hi))
        except ValueError:
            raise ScopeError(f"entity-bytes must be from:to (integers, to may be *), not {text!r}") from None

    def resolve(self, size: int) -> tuple[int, int]:
        """The range within a file of ``size`` bytes.

        Returns:
            (start, stop), stop exclusive, both clipped to ``size``.
        """
        start = self.start if self.start >= 0 else max(size + self.start, 0)
        stop = size if self.end is None else (self.end + 1 if self.end >= 0 else size + self.end + 1)
        return min(start, size), max(min(stop, size), min(start, size))


class DagWalker:
    """Yields the (CID, block) pairs of a DAG for a CAR response or export, fetching from ``source``.

    Args:
        source: where blocks come from.
        dups: emit a block each time the walk reaches it (``dups=y``), not only the first time.
        nodes: the node cache to use (the gateway server shares one between its reader and walkers); a new one of
            the default size if None.
    """

    def __init__(self, source: BlockSource, dups: bool = False, nodes: NodeCache | None = None) -> None:
        self.source = source
        self.dups = dups
        self.nodes = nodes if nodes is not None else NodeCache()
        self._seen: set[CID] = set()

    def _first_time(self, cid: CID) -> bool:
        """Whether ``cid`` is to be emitted now (always with ``dups``); marks it emitted."""
        fresh = self.dups or cid not in self._seen
        self._seen.add(cid)
        return fresh

    async def walk(self, root: CID | str, path: str = "", scope: str = "all",
                   entity_bytes: ByteRange | None = None) -> AsyncIterator[tuple[CID, bytes]]:
        """The blocks of ``root/path`` for ``dag-scope=scope``: the blocks resolving the path, then the target's.

        Returns:
            An async iterator of verified (CID, block) pairs in depth-first pre-order.

        Raises:
            ScopeError: ``scope`` is not block, entity or all.
            PathError: the path does not resolve.
            BlockNotFoundError, SourceError, VerificationError: a block cannot be fetched truthfully.
        """
        check_scope(scope)
        async for item in self.walk_resolved(await resolve(self.nodes, self.source, root, path), scope, entity_bytes):
            yield item

    async def walk_resolved(self, resolved: Resolved, scope: str = "all",
                            entity_bytes: ByteRange | None = None) -> AsyncIterator[tuple[CID, bytes]]:
        """Like :meth:`walk` for a path already resolved (the server resolves first, to name the root in headers).

        Returns:
            An async iterator of verified (CID, block) pairs: ``resolved.via`` (each once), then the target's.

        Raises:
            ScopeError: ``scope`` is not block, entity or all.
            BlockNotFoundError, SourceError, VerificationError: a block cannot be fetched truthfully.
        """
        check_scope(scope)
        for node in resolved.via:
            if node.cid not in self._seen:
                self._seen.add(node.cid)
                yield node.cid, node.block
        if scope == "block":
            if self._first_time(resolved.cid):
                yield resolved.cid, await self._block(resolved.cid)
        elif scope == "all":
            async for item in self._all(resolved.cid):
                yield item
        else:
            async for item in self._entity(resolved.cid, entity_bytes):
                yield item

    async def _block(self, cid: CID) -> bytes:
        """A block, from the node cache when it holds it."""
        cached = self.nodes.lookup(cid)
        return cached.block if cached is not None else await self.source.get(cid)

    async def _all(self, cid: CID) -> AsyncIterator[tuple[CID, bytes]]:
        """Every block below ``cid`` in depth-first order (an explicit stack: DAG depth costs no recursion)."""
        stack = [cid]
        while stack:
            top = stack.pop()
            if not self._first_time(top):
                continue
            node = await self.nodes.get(top, self.source)
            yield top, node.block
            stack.extend(reversed([link.cid for link in node.links]))

    async def _entity(self, cid: CID, entity_bytes: ByteRange | None,
                      depth: int = 0) -> AsyncIterator[tuple[CID, bytes]]:
        if not self._first_time(cid):
            return
        node = await self.nodes.get(cid, self.source)
        yield cid, node.block
        fs = node.fs
        if fs is None:
            return
        if fs.type == unixfs.HAMT_SHARD:  # a sharded directory's entity is all its shard nodes
            check_shard(node, depth)
            for link in node.links:
                if len(link.name or "") == 2:
                    async for child in self._entity(link.cid, None, depth + 1):
                        yield child
            return
        if fs.type != unixfs.FILE or not node.links:
            return
        start, stop = entity_bytes.resolve(node.size) if entity_bytes else (0, node.size)
        async for child in self._file_range(node, 0, start, stop):
            yield child

    async def _file_range(self, node: Node, offset: int, start: int, stop: int,
                          depth: int = 0) -> AsyncIterator[tuple[CID, bytes]]:
        """The blocks below a file node that cover [start, stop), fetched a window ahead, emitted in DFS order."""
        check_file_node(node, depth)
        offset += len(node.file_data)
        wanted = []
        for child_cid, size in node.file_children():
            if offset < stop and offset + size > start and self._first_time(child_cid):
                wanted.append((child_cid, offset))
            offset += size
        pending: deque[tuple[asyncio.Task[bytes], CID, int]] = deque()
        queue = iter(wanted)
        try:
            for cid, child_offset in queue:
                pending.append((asyncio.ensure_future(self._block(cid)), cid, child_offset))
                if len(pending) >= FETCH_WINDOW:
                    break
            while pending:
                task, cid, child_offset = pending.popleft()
                block = await task
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append((asyncio.ensure_future(self._block(nxt[0])), nxt[0], nxt[1]))
                yield cid, block
                if cid.codec != DAG_PB or block[:1] != PB_LINKS_TAG:
                    continue  # a leaf: canonical DAG-PB writes links (field 2) before data, so none here
                child = self.nodes.decode(cid, block, self.source.name)
                if child.fs is not None and child.links:
                    async for grandchild in self._file_range(child, child_offset, start, stop, depth + 1):
                        yield grandchild
        finally:
            for task, _, _ in pending:
                task.cancel()

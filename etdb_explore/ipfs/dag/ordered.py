"""A file's byte range straight from a CAR stream that arrives in walk order: the fast path of large reads.

An honest trustless gateway sends ``entity-bytes`` blocks in depth-first order (``order=dfs``): the file's root, then
each child covering the range before its own children. :class:`InOrder` follows that order with the same checks as
the reader's walk (the depth limit, each child holding the bytes its parent's ``blocksizes`` give it, the root a
file) and passes each leaf's bytes on as its block arrives: no buffering, no task per block, no fetch-ahead window.
A block the stream does not send because it sent it before (``dups=n``: repeated leaves, repeated subtrees) comes
from the blocks just used or the node cache. Whatever else breaks the order (a block out of place, a stream that
ends or fails early) ends it quietly at :attr:`InOrder.position`, the first byte not yet passed on: the reader goes
on from there by its general path. Every block was verified against its CID by the stream.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator

from etdb_explore.ipfs.dag.nodes import Node, NodeCache, check_file_node
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.base import CarStream

RECENT_BYTES = 2 << 20  # leaves kept after use, for repeats the stream sends once (runs of zeros in a volume)


class InOrder:
    """Bytes [start, end) of the file ``root`` from ``stream``, while its blocks come in walk order.

    Args:
        nodes: the node cache (interior nodes are decoded through it, and a repeated subtree found in it).
        root: the file's root CID (the stream's first block).
        start, end: the range; ``end`` None or past the file's end means its end.
        check_root: called with the root node and the range; returns the range's end within the file (raising
            for a node that is not a file or a range outside it).
        where: names the stream in errors.

    ``position`` is the first byte not passed on yet; ``end`` becomes the range's end within the file once the root
    has arrived, and ``complete`` tells whether every byte of the range was passed on.
    """

    def __init__(self, nodes: NodeCache, root: CID, start: int, end: int | None,
                 check_root: Callable[[Node, int, int | None], int], where: str) -> None:
        self.nodes = nodes
        self.position = start
        self.end = end
        self.check_root = check_root
        self.where = where
        self._recent: OrderedDict[CID, Node] = OrderedDict()
        self._recent_bytes = 0
        self._interior: set[CID] = set()  # interior nodes this stream sent (a file's few: one per 174 leaves)
        # the blocks still to come, the next one last: (CID, file offset, bytes its parent gives it, depth)
        self._expected: list[tuple[CID, int, int | None, int]] = [(root, 0, None, 0)]

    @property
    def complete(self) -> bool:
        """True once every byte of the range was passed on."""
        return self.end is not None and self.position >= self.end

    def _known(self, cid: CID) -> Node | None:
        """A block this stream already sent (so it will not send it again): a leaf just used, or an interior node
        still in the cache."""
        node = self._recent.get(cid)
        if node is not None:
            self._recent.move_to_end(cid)
            return node
        return self.nodes.lookup(cid) if cid in self._interior else None

    def _keep(self, node: Node) -> None:
        if node.links:
            self._interior.add(node.cid)
            return
        if len(node.block) > RECENT_BYTES:
            return
        self._recent[node.cid] = node
        self._recent_bytes += len(node.block)
        while self._recent_bytes > RECENT_BYTES:
            self._recent_bytes -= len(self._recent.popitem(last=False)[1].block)

    def _visit(self, node: Node, offset: int, size: int | None, depth: int) -> bytes | memoryview | None:
        """Check ``node`` where the walk expects it, queue its children within the range, and return its own bytes
        within the range (None when none)."""
        node.require_unixfs()
        check_file_node(node, depth, size)
        if depth == 0:
            self.end = self.check_root(node, self.position, self.end)
        assert self.end is not None
        start, end = self.position, self.end
        data = node.file_data
        piece = None
        if data:
            lo, hi = max(start - offset, 0), min(end - offset, len(data))
            if lo < hi:
                piece = data[lo:hi]
            offset += len(data)
        children = []
        for child_cid, child_size in node.file_children():
            if offset < end and offset + child_size > start:
                children.append((child_cid, offset, child_size, depth + 1))
            offset += child_size
        self._expected.extend(reversed(children))
        self._keep(node)
        return piece

    def _take(self, node: Node) -> Iterator[bytes | memoryview]:
        """Visit ``node`` (the next block expected), then every block after it that the stream sent before."""
        while True:
            _, offset, size, depth = self._expected.pop()
            piece = self._visit(node, offset, size, depth)
            if piece is not None:
                self.position += len(piece)
                yield piece
            if not self._expected or (known := self._known(self._expected[-1][0])) is None:
                return
            node = known

    async def chunks(self, stream: CarStream) -> AsyncIterator[bytes | memoryview]:
        """The range's bytes, in order, while the stream keeps to the walk (the stream is closed at the end).

        Returns:
            An async iterator of bytes-like chunks (views into verified blocks).

        Raises:
            PathError, ByteRangeError: from ``check_root``.
            EtdbError, UnixFSError, DagPbError: a node breaks the file's structure (naming it).
        """
        try:
            async for cid, block in stream:
                if not self._expected or cid != self._expected[-1][0]:
                    return  # out of order (or more than the range): the reader goes on by its general path
                for piece in self._take(self.nodes.decode(cid, block, self.where)):
                    yield piece
        finally:
            await stream.aclose()

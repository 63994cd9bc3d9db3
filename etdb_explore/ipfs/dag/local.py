"""Checking local bytes against a UnixFS file's CID, leaf by leaf, without downloading the leaves.

A resumed download's ``.part`` or a finished file may have been changed on disk since it was written. Only the
DAG's interior nodes are fetched (a fraction of a percent of the file); each leaf is checked against the local
bytes it covers: a raw leaf by hashing them, a DAG-PB leaf by rebuilding its block as Kubo writes it and hashing
that (a leaf written another way is fetched and compared). The check stops at the first leaf that differs.

:func:`verified_range` reads a range of a file from an untrusted copy (an OSN mirror) the same way: every leaf the
range touches is checked against the DAG before its bytes are used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import BinaryIO, Protocol

from etdb_explore.errors import EtdbError, VerificationError
from etdb_explore.ipfs.dag.nodes import Node, check_file_node
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.formats import unixfs
from etdb_explore.ipfs.formats.cid import CID, RAW

MAX_LEAF_BYTES = 2 << 20  # the largest block the IPFS spec lets a peer send


class Digest(Protocol):
    """A running hash (``hashlib.sha256()`` and its kin): anything with ``update``."""

    def update(self, data: bytes, /) -> None:
        """Add ``data`` to the hash."""
        ...


class _Mismatch(Exception):
    """Local bytes differ from the DAG from file offset ``args[0]`` on (the start of the first differing leaf)."""


async def matching_prefix(reader: UnixFSReader, cid: CID, fh: BinaryIO, length: int,
                          digest: Digest | None = None) -> int:
    """How many of the first ``length`` bytes of the local file ``fh`` equal file ``cid``, in whole leaves.

    Args:
        reader: reads the DAG's interior nodes (verified).
        cid: the root of the UnixFS file.
        fh: the local bytes, opened for reading in binary mode.
        length: how many local bytes to check (at most the file's size).
        digest: if given, updated with the matching bytes in order (e.g. the manifest's sha256).

    Returns:
        The length of the longest prefix of whole leaves that matches; ``length`` when all of it does.

    Raises:
        EtdbError: the DAG is malformed or deeper than ``MAX_FILE_DEPTH`` levels (naming the node), or a block is
            unavailable.
    """
    checker = _Checker(reader, fh, length, digest)
    try:
        await checker.node(await reader.node(cid), 0, 0)
    except _Mismatch as mismatch:
        return int(mismatch.args[0])
    return length


class _Checker:
    def __init__(self, reader: UnixFSReader, fh: BinaryIO, length: int, digest: Digest | None) -> None:
        self.reader = reader
        self.fh = fh
        self.length = length
        self.digest = digest

    def _local(self, offset: int, size: int) -> bytes:
        self.fh.seek(offset)
        return self.fh.read(size)

    def _leaf(self, cid: CID, offset: int, size: int) -> bytes | None:
        """The local bytes of leaf ``cid`` if they hash to it as a raw or a Kubo DAG-PB leaf (run in a thread)."""
        local = self._local(offset, size)
        return local if cid.matches(local if cid.codec == RAW else unixfs.file_leaf_block(local)) else None

    def _accept(self, data: bytes) -> None:
        if self.digest is not None:
            self.digest.update(data)

    async def node(self, node: Node, offset: int, depth: int, size: int | None = None) -> None:
        check_file_node(node, depth, size)
        inline = node.file_data
        if inline:
            if offset + len(inline) > self.length or self._local(offset, len(inline)) != inline:
                raise _Mismatch(offset)
            self._accept(inline)
            offset += len(inline)
        for child, child_size in node.file_children():
            if offset >= self.length:
                raise _Mismatch(offset)
            await self.child(child, offset, child_size, depth + 1)
            offset += child_size

    async def child(self, cid: CID, offset: int, size: int, depth: int) -> None:
        if offset + size <= self.length and size <= MAX_LEAF_BYTES:
            local = await asyncio.to_thread(self._leaf, cid, offset, size)
            if local is not None:
                self._accept(local)
                return
        if cid.codec == RAW:
            raise _Mismatch(offset)  # differing, or only partly on disk
        # an interior node, a leaf not written as Kubo writes them, or differing bytes: the node itself decides
        await self.node(await self.reader.node(cid), offset, depth, size)


async def verified_range(reader: UnixFSReader, cid: CID, start: int, end: int,
                         fetch: Callable[[int, int], Awaitable[bytes]]) -> bytes:
    """Bytes [start, end) of file ``cid`` taken from an untrusted copy of it, each whole leaf they touch checked
    against the DAG: only the interior nodes come from IPFS (verified), the leaves' bytes from ``fetch(a, b)``
    (the copy's bytes [a, b), one call for the whole span of leaves), each hashed as a raw or a Kubo DAG-PB leaf.
    A DAG-PB child that does not hash as a leaf is fetched from IPFS as a node and its leaves checked in turn.

    Returns:
        Exactly the ``end - start`` bytes (fewer only past the end of the file).

    Raises:
        VerificationError: the copy's bytes of a leaf do not hash to its CID (naming the leaf and its offset).
        EtdbError: the DAG is malformed or a node is unavailable (naming it); whatever ``fetch`` raises.
    """
    if end <= start:
        return b""
    pieces: list[tuple[int, bytes]] = []
    await _verified(reader, await reader.node(cid), 0, 0, None, start, end, fetch, pieces)
    data = b"".join(piece for _, piece in sorted(pieces, key=lambda p: p[0]))
    first = min((offset for offset, _ in pieces), default=start)
    return data[start - first: end - first]


async def _verified(reader: UnixFSReader, node: Node, offset: int, depth: int, size: int | None, start: int,
                    end: int, fetch: Callable[[int, int], Awaitable[bytes]],
                    pieces: list[tuple[int, bytes]]) -> None:
    """The verified pieces of ``node`` (at file ``offset``) that overlap [start, end), added to ``pieces``."""
    check_file_node(node, depth, size)
    inline = node.file_data
    if inline and offset < end and offset + len(inline) > start:
        pieces.append((offset, inline))
    offset += len(inline)
    wanted = []
    for child, child_size in node.file_children():
        if offset >= end:
            break
        if offset + child_size > start:
            wanted.append((child, offset, child_size))
        offset += child_size
    leaves = [w for w in wanted if w[0].codec == RAW or w[2] <= MAX_LEAF_BYTES]
    span = await fetch(leaves[0][1], leaves[-1][1] + leaves[-1][2]) if leaves else b""
    base = leaves[0][1] if leaves else 0
    for child, child_offset, child_size in wanted:
        data = span[child_offset - base: child_offset - base + child_size] if (child, child_offset, child_size) \
            in leaves else None
        if data is not None and len(data) == child_size and \
                child.matches(data if child.codec == RAW else unixfs.file_leaf_block(data)):
            pieces.append((child_offset, data))
        elif child.codec == RAW:
            raise VerificationError(f"bytes {child_offset}-{child_offset + child_size} of the copy do not hash to "
                                    f"leaf {child} of {node.cid}")
        else:  # an interior node, or a leaf not written as Kubo writes them: the node itself decides
            try:
                child_node = await reader.node(child)
            except EtdbError as exc:
                raise VerificationError(f"bytes {child_offset}-{child_offset + child_size} of the copy do not hash "
                                        f"to leaf {child} of {node.cid}, and its node cannot be fetched to look "
                                        f"further ({exc})") from exc
            await _verified(reader, child_node, child_offset, depth + 1, child_size, start, end, fetch, pieces)

"""Paths and directories in UnixFS DAGs: the one place that resolves ``root/a/b`` and looks names up in HAMTs.

The reader, the DAG walker and the gateway server all resolve through :func:`resolve`, which also reports the
directory and shard nodes it passed (a CAR response for a path starts with them).
"""

from __future__ import annotations

from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.dag.nodes import Node, NodeCache
from etdb_explore.ipfs.formats import hamt, unixfs
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.base import BlockSource


class PathError(EtdbError, FileNotFoundError):
    """A path does not resolve inside a UnixFS DAG."""


@dataclass(frozen=True)
class DirEntry:
    """One entry of a directory listing.

    Attributes:
        name: the entry's name.
        cid: the entry's CID.
        size: the link's cumulative size (Tsize), as Kubo lists it; None when the link has none.
    """

    name: str
    cid: CID
    size: int | None


@dataclass(frozen=True)
class Resolved:
    """Where a path led.

    Attributes:
        cid: the CID at ``root/path`` (``root`` itself for an empty path).
        via: the directory and HAMT-shard nodes passed on the way, in the order they were passed (depth first).
    """

    cid: CID
    via: tuple[Node, ...]


def _segments(path: str) -> list[str]:
    """The names in a slash-separated path inside a DAG (empty segments dropped).

    Returns:
        The segments, in order; ``[]`` for ``""`` or ``"/"``.

    Raises:
        PathError: a segment is ``.`` or ``..`` (a DAG has no parent links).
    """
    parts = [s for s in path.strip("/").split("/") if s]
    for part in parts:
        if part in (".", ".."):
            raise PathError(f"path segment {part!r} is not allowed in {path!r}")
    return parts


async def resolve(nodes: NodeCache, source: BlockSource, root: CID | str, path: str = "") -> Resolved:
    """Follow ``path`` from ``root`` through plain and HAMT-sharded directories.

    Returns:
        The CID at ``root/path`` and the nodes passed on the way.

    Raises:
        PathError: a segment is missing, ``.`` or ``..``, or something on the way is not a directory.
        CIDError: ``root`` is not a CID.
        BlockNotFoundError, SourceError, VerificationError: a block on the way cannot be fetched truthfully.
    """
    cid = CID.decode(root)
    via: list[Node] = []
    for segment in _segments(path):
        node = await nodes.get(cid, source)
        via.append(node)
        if not node.is_directory:
            raise PathError(f"{cid} is not a directory (resolving {segment!r} of {path!r})")
        found = await _lookup(nodes, source, node, segment, via)
        if found is None:
            raise PathError(f"no {segment!r} in directory {cid} (resolving {root}/{path.strip('/')})")
        cid = found
    return Resolved(cid, tuple(via))


async def _lookup(nodes: NodeCache, source: BlockSource, directory: Node, name: str, via: list[Node]) -> CID | None:
    """The CID of ``name`` in a plain directory or a HAMT shard (child shards passed are appended to ``via``)."""
    if not directory.is_hamt_shard:
        return next((link.cid for link in directory.links if link.name == name), None)
    shard = check_shard(directory, 0)
    for depth in range(hamt.MAX_DEPTH):
        prefix = f"{hamt.slot(name, depth):02X}"
        child = None
        for link in shard.links:
            if link.name == prefix + name:
                return link.cid
            if link.name == prefix:
                child = link.cid
        if child is None:
            return None
        shard = check_shard(await nodes.get(child, source), depth + 1)
        via.append(shard)
    raise AssertionError("unreachable: check_shard refuses a shard deeper than the hash")


def check_shard(node: Node, depth: int) -> Node:
    """``node`` if it is a HAMT shard this reader can follow at ``depth`` (0 for a sharded directory's root).

    Returns:
        ``node``.

    Raises:
        EtdbError: the node is not a HAMT shard, is deeper than the 64-bit hash allows, or uses another fanout or
            hash function (naming it).
    """
    if depth >= hamt.MAX_DEPTH:
        raise EtdbError(f"HAMT shard {node.cid} is deeper than a 64-bit hash allows ({hamt.MAX_DEPTH} levels)")
    fs = node.fs
    if fs is None or fs.type != unixfs.HAMT_SHARD:
        raise EtdbError(f"HAMT child {node.cid} is not a HAMT shard")
    if fs.fanout != hamt.FANOUT or fs.hash_type != unixfs.MURMUR3_X64_64:
        raise EtdbError(f"HAMT shard {node.cid}: fanout {fs.fanout} and hash {fs.hash_type} are unsupported")
    return node


async def entries(nodes: NodeCache, source: BlockSource, directory: Node) -> list[DirEntry]:
    """The entries of a plain directory or of a whole sharded directory (all its child shards), unsorted.

    Returns:
        One DirEntry per entry.

    Raises:
        PathError: ``directory`` is not a directory.
        EtdbError: a shard is malformed (see :func:`check_shard`).
        BlockNotFoundError, SourceError, VerificationError: a child shard cannot be fetched truthfully.
    """
    if not directory.is_directory:
        raise PathError(f"{directory.cid} is not a directory")
    if not directory.is_hamt_shard:
        return [DirEntry(link.name or "", link.cid, link.tsize) for link in directory.links]
    return await _shard_entries(nodes, source, check_shard(directory, 0), 0)


async def _shard_entries(nodes: NodeCache, source: BlockSource, shard: Node, depth: int) -> list[DirEntry]:
    out = []
    for link in shard.links:
        name = link.name or ""
        if len(name) == 2:
            child = check_shard(await nodes.get(link.cid, source), depth + 1)
            out.extend(await _shard_entries(nodes, source, child, depth + 1))
        else:
            out.append(DirEntry(name[2:], link.cid, link.tsize))
    return out

"""Decoded DAG nodes and the one cache of them that the reader, the DAG walker and the gateway server share.

A :class:`Node` is a block together with what it decodes to: a raw block, a DAG-PB node with its UnixFS data, or a
block of another codec (kept as bytes, with no links). The :class:`NodeCache` keeps the nodes that have links
(directories, HAMT shards, the interior nodes of files) so that a path, a directory or the upper levels of a large
file are fetched and decoded once, not once per read or per request. It is bounded by an estimate of the memory its
nodes take, and it only admits blocks that hash to their CID.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.formats import dagpb, unixfs
from etdb_explore.ipfs.formats.cid import CID, DAG_PB, RAW
from etdb_explore.ipfs.sources.base import BlockSource

DEFAULT_CACHE_BYTES = 32 << 20  # about 400 interior nodes of 174 links each: the upper levels of ~17 GB of files
LINK_BYTES = 400  # memory of one decoded link (a Link, its CID and their fields), measured with tracemalloc
MAX_FILE_DEPTH = 64  # Kubo's balanced DAGs stay under 6 levels for any real file; trickle DAGs under 30


_LEAF = dagpb.PBNode()  # what a file leaf decodes to beside its UnixFS data: no links, its Data held in ``fs``


@dataclass(frozen=True, eq=False)
class Node:
    """A block and its decoded form.

    Attributes:
        cid: the block's CID.
        block: the block's bytes.
        pb: the DAG-PB node; None for raw blocks and blocks of other codecs. When its Data decodes as UnixFS, it
            lives on in ``fs`` only (``pb.data`` is then None), as a view into ``block``: a leaf's bytes are held
            once.
        fs: the UnixFS data of a DAG-PB node; None for raw blocks, other codecs, and DAG-PB nodes whose Data is not
            valid UnixFS (see :meth:`require_unixfs`).
    """

    cid: CID
    block: bytes
    pb: dagpb.PBNode | None = None
    fs: unixfs.UnixFSData | None = None

    @classmethod
    def decode(cls, cid: CID, block: bytes) -> Node:
        """Decode ``block`` according to the codec of ``cid`` (the block is not verified here).

        Returns:
            The node; a DAG-PB node whose Data is not UnixFS has ``fs`` None.

        Raises:
            DagPbError: a DAG-PB block is malformed (naming the CID).
        """
        if cid.codec != DAG_PB:
            return cls(cid, block)
        leaf = unixfs.decode_file_leaf(block)
        if leaf is not None:
            return cls(cid, block, _LEAF, leaf)
        pb = dagpb.decode(block, cid, data_view=True)  # a file's bytes stay a view into the block: never copied
        try:
            fs = unixfs.decode(pb.data, cid, data_view=True)
        except unixfs.UnixFSError:
            return cls(cid, block, dagpb.PBNode(pb.links, None if pb.data is None else bytes(pb.data)))
        return cls(cid, block, dagpb.PBNode(pb.links), fs)

    @property
    def links(self) -> tuple[dagpb.Link, ...]:
        """The node's links, in order; empty for raw blocks and other codecs."""
        return self.pb.links if self.pb is not None else ()

    @property
    def is_directory(self) -> bool:
        """True for a UnixFS directory or HAMT shard."""
        return self.fs is not None and self.fs.type in (unixfs.DIRECTORY, unixfs.HAMT_SHARD)

    @property
    def is_hamt_shard(self) -> bool:
        """True for a HAMT shard (a node of a sharded directory)."""
        return self.fs is not None and self.fs.type == unixfs.HAMT_SHARD

    @property
    def file_data(self) -> bytes | memoryview:
        """The file bytes held in the node itself: the whole block for a raw block, the UnixFS Data (a view into
        the block) otherwise."""
        if self.cid.codec == RAW:
            return self.block
        return (self.fs.data if self.fs else None) or b""

    @property
    def size(self) -> int:
        """The file bytes under this node: ``filesize``, else its own data plus its children's ``blocksizes``."""
        if self.cid.codec == RAW:
            return len(self.block)
        if self.fs is None:
            return 0
        if self.fs.filesize is not None:
            return self.fs.filesize
        return len(self.fs.data or b"") + sum(self.fs.blocksizes)

    def file_children(self) -> list[tuple[CID, int]]:
        """The children of a file node with the file bytes under each (its ``blocksizes``), in file order.

        Returns:
            (CID, size) pairs; empty for a leaf.

        Raises:
            EtdbError: the node has links but not one blocksize per link (naming the node).
        """
        if not self.links:
            return []
        sizes = self.fs.blocksizes if self.fs is not None else ()
        if len(sizes) != len(self.links):
            raise EtdbError(f"file node {self.cid}: {len(sizes)} blocksizes for {len(self.links)} links")
        return [(link.cid, size) for link, size in zip(self.links, sizes)]

    @property
    def memory(self) -> int:
        """An estimate of the bytes this node keeps alive (its block, a copied Data and its links; UnixFS Data is a
        view into the block)."""
        pb_data = len(self.pb.data or b"") if self.pb is not None else 0
        return len(self.block) + pb_data + LINK_BYTES * len(self.links)

    def require_unixfs(self) -> Node:
        """This node, if it is UnixFS content: a raw block or a DAG-PB node with valid UnixFS data.

        Returns:
            ``self``.

        Raises:
            UnixFSError: a DAG-PB node without valid UnixFS data (naming the CID).
            EtdbError: a block of another codec (naming the CID and the codec).
        """
        if self.cid.codec == RAW or self.fs is not None:
            return self
        if self.pb is None:
            raise EtdbError(f"block {self.cid} is {self.cid.codec_name}, not UnixFS")
        unixfs.decode(self.pb.data, self.cid)  # raises the UnixFSError that made ``fs`` None
        raise AssertionError("unreachable: this node's UnixFS data failed to decode once already")


def check_file_node(node: Node, depth: int, size: int | None = None) -> None:
    """Check that ``node`` may stand ``depth`` levels below a file's root, holding the ``size`` bytes its parent's
    blocksize gives it (a lying blocksize would shift every byte after it).

    Raises:
        EtdbError: the DAG is deeper than ``MAX_FILE_DEPTH`` levels, or the node holds another number of bytes
            (naming the node).
    """
    if depth > MAX_FILE_DEPTH:
        raise EtdbError(f"file DAG deeper than {MAX_FILE_DEPTH} levels at {node.cid}")
    if size is not None and node.size != size:
        raise EtdbError(f"file node {node.cid} holds {node.size} bytes, its parent says {size}")


class NodeCache:
    """Decoded nodes that have links, least recently used first out, within ``max_bytes`` (see :attr:`Node.memory`).

    One cache may serve many readers and walkers over different sources: its keys are CIDs, and only blocks that
    hash to their CID are admitted.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0  # the memory estimate of the nodes held now
        self._nodes: OrderedDict[CID, Node] = OrderedDict()

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, cid: object) -> bool:
        return cid in self._nodes

    def lookup(self, cid: CID) -> Node | None:
        """The cached node of ``cid``, or None (without fetching anything).

        Returns:
            The node, marked as recently used; None when it is not cached.
        """
        node = self._nodes.get(cid)
        if node is not None:
            self._nodes.move_to_end(cid)
        return node

    def decode(self, cid: CID, block: bytes, where: str = "a block handed to the node cache") -> Node:
        """The node of ``block``: from the cache, or decoded and, if it has links, verified and cached.

        Returns:
            The decoded node.

        Raises:
            VerificationError: a block with links does not hash to ``cid`` (naming it and ``where``).
            DagPbError: a DAG-PB block is malformed.
        """
        node = self.lookup(cid)
        if node is not None:
            return node
        node = Node.decode(cid, block)
        if node.links:
            cid.verify(block, where)
            self._admit(node)
        return node

    async def get(self, cid: CID, source: BlockSource) -> Node:
        """The node of ``cid``: from the cache, else fetched from ``source`` and decoded (and cached if it has links).

        Returns:
            The decoded node.

        Raises:
            BlockNotFoundError, SourceError: the source cannot deliver the block.
            VerificationError: the block does not hash to ``cid``.
            DagPbError: a DAG-PB block is malformed.
        """
        node = self.lookup(cid)
        if node is not None:
            return node
        return self.decode(cid, await source.get(cid), source.name)

    def _admit(self, node: Node) -> None:
        cost = node.memory
        if cost > self.max_bytes:
            return
        self._nodes[node.cid] = node
        self.nbytes += cost
        while self.nbytes > self.max_bytes:
            _, old = self._nodes.popitem(last=False)
            self.nbytes -= old.memory

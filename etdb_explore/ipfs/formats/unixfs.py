"""UnixFS ``Data`` messages (files, directories, HAMT shards, symlinks) inside DAG-PB nodes."""

from __future__ import annotations

from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.formats import dagpb
from etdb_explore.ipfs.formats.cid import decode_varint
from etdb_explore.ipfs.formats.protobuf import field_bytes, field_varint, iter_fields

RAW, DIRECTORY, FILE, METADATA, SYMLINK, HAMT_SHARD = 0, 1, 2, 3, 4, 5
TYPE_NAMES = {RAW: "raw", DIRECTORY: "directory", FILE: "file", METADATA: "metadata", SYMLINK: "symlink",
              HAMT_SHARD: "hamt-shard"}
MURMUR3_X64_64 = 0x22


class UnixFSError(EtdbError, ValueError):
    """A DAG-PB node does not hold valid UnixFS data."""


@dataclass(frozen=True)
class UnixFSData:
    """A UnixFS ``Data`` message.

    Attributes:
        type: RAW, DIRECTORY, FILE, METADATA, SYMLINK or HAMT_SHARD.
        data: file bytes held in the node, a symlink's target, or a HAMT shard's bitfield (a memoryview into the
            node's block when decoded with ``data_view``); None when absent.
        filesize: a file node's total bytes; None when absent.
        blocksizes: the file bytes under each child link, in link order.
        hash_type: a HAMT shard's hash function (MURMUR3_X64_64); None otherwise.
        fanout: a HAMT shard's fanout (256); None otherwise.
    """

    type: int
    data: bytes | memoryview | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = ()
    hash_type: int | None = None
    fanout: int | None = None

    @property
    def type_name(self) -> str:
        """The type's name (``file``, ``directory``, ``hamt-shard``, …), else its number."""
        return TYPE_NAMES.get(self.type, str(self.type))

    def encode(self) -> bytes:
        """The message's protobuf bytes, fields in number order as Kubo writes them.

        Returns:
            The encoded ``Data``.
        """
        out = field_varint(1, self.type)
        if self.data is not None:
            out += field_bytes(2, self.data)
        if self.filesize is not None:
            out += field_varint(3, self.filesize)
        out += b"".join(field_varint(4, size) for size in self.blocksizes)
        if self.hash_type is not None:
            out += field_varint(5, self.hash_type)
        if self.fanout is not None:
            out += field_varint(6, self.fanout)
        return out


def decode(data: bytes | memoryview | None, where: object = "?", *, data_view: bool = False) -> UnixFSData:
    """Decode a DAG-PB node's UnixFS ``Data``.

    ``data_view``: leave the ``Data`` field (a leaf's file bytes) as a memoryview into ``data`` instead of copying
    it, for a caller that keeps the buffer ``data`` views anyway (a node keeps its block).

    Returns:
        The message.

    Raises:
        UnixFSError: ``data`` is None or malformed (naming ``where``, usually the CID).
    """
    if data is None:
        raise UnixFSError(f"node {where} has no UnixFS data")
    values: dict[int, int | bytes] = {}
    blocksizes: list[int] = []
    try:
        for number, value in iter_fields(data):
            if number == 4 and isinstance(value, memoryview):  # packed encoding
                pos = 0
                while pos < len(value):
                    size, pos = decode_varint(value, pos)
                    blocksizes.append(size)
            elif number == 4:
                blocksizes.append(value)
            elif (number == 2) != isinstance(value, memoryview):
                raise UnixFSError(f"node {where}: UnixFS field {number} has the wrong wire type")
            else:
                values[number] = bytes(value) if isinstance(value, memoryview) and not data_view else value
    except ValueError as exc:
        if isinstance(exc, UnixFSError):
            raise
        raise UnixFSError(f"node {where} has malformed UnixFS data: {exc}") from exc
    if 1 not in values:
        raise UnixFSError(f"node {where}: UnixFS data without a Type")
    return UnixFSData(int(values[1]), values.get(2), values.get(3), tuple(blocksizes),  # type: ignore[arg-type]
                      values.get(5), values.get(6))  # type: ignore[arg-type]


_LEAF_DATA = b"\x08\x02\x12"  # UnixFS Type = file, then the key of its Data field


def decode_file_leaf(block: bytes) -> UnixFSData | None:
    """The UnixFS data of a file leaf as Kubo writes it without raw leaves (a DAG-PB node with no links whose Data is
    ``{Type: file, Data, filesize}``), read at fixed places instead of field by field: a large file is mostly such
    leaves. Anything else is left to the general decoders.

    Returns:
        What ``decode(dagpb.decode(block).data, data_view=True)`` gives (the file bytes a memoryview into
        ``block``); None when ``block`` is not exactly of that shape.
    """
    try:
        if block[0] != 0x0A:  # PBNode field 1 (Data), length-delimited
            return None
        length, pos = decode_varint(block, 1)
        if pos + length != len(block) or block[pos:pos + 3] != _LEAF_DATA:
            return None
        size, start = decode_varint(block, pos + 3)
        stop = start + size
        if block[stop:stop + 1] != b"\x18":  # filesize, a varint
            return None
        filesize, end = decode_varint(block, stop + 1)
    except (IndexError, ValueError):
        return None
    if end != len(block):
        return None
    return UnixFSData(FILE, memoryview(block)[start:stop], filesize)


def file_leaf_block(chunk: bytes) -> bytes:
    """The DAG-PB block of a UnixFS file leaf holding ``chunk``, byte for byte as Kubo writes it (no raw leaves).

    Returns:
        The encoded block, whose CID is the leaf's CID.
    """
    return dagpb.PBNode((), UnixFSData(FILE, chunk if chunk else None, len(chunk)).encode()).encode()

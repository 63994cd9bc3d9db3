"""DAG-PB nodes: ``PBNode {Links: [PBLink {Hash, Name, Tsize}], Data}``, encoded as Kubo encodes them.

Links are written before Data (field 2 then field 1), Name and Tsize are written when present, as go-codec-dagpb does.
"""

from __future__ import annotations

from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.protobuf import field_bytes, field_varint, iter_fields


class DagPbError(EtdbError, ValueError):
    """A block is not a valid DAG-PB node."""


@dataclass(frozen=True)
class Link:
    """A DAG-PB link (``PBLink``).

    Attributes:
        cid: the target's CID (``Hash``).
        name: the link's name (``Name``); None when absent from the block.
        tsize: the cumulative size of the target's DAG (``Tsize``); None when absent.
    """

    cid: CID
    name: str | None = ""
    tsize: int | None = None

    def encode(self) -> bytes:
        """The link's protobuf bytes (Hash, then Name and Tsize when present).

        Returns:
            The encoded ``PBLink``.
        """
        out = field_bytes(1, self.cid.bytes)
        if self.name is not None:
            out += field_bytes(2, self.name.encode("utf-8"))
        if self.tsize is not None:
            out += field_varint(3, self.tsize)
        return out


@dataclass(frozen=True)
class PBNode:
    """A DAG-PB node (``PBNode``).

    Attributes:
        links: the links, in block order.
        data: the ``Data`` bytes (UnixFS data in UnixFS DAGs); None when absent; a memoryview into the block when
            decoded with ``data_view``.
    """

    links: tuple[Link, ...] = ()
    data: bytes | memoryview | None = None

    def encode(self) -> bytes:
        """The node's block, as Kubo writes it (links first, then Data).

        Returns:
            The encoded block.
        """
        out = b"".join(field_bytes(2, link.encode()) for link in self.links)
        if self.data is not None:
            out += field_bytes(1, self.data)
        return out


def _decode_link(raw: memoryview) -> Link:
    cid, name, tsize = None, None, None
    for number, value in iter_fields(raw):
        if number == 1 and isinstance(value, memoryview):
            cid = CID.from_bytes(bytes(value))
        elif number == 2 and isinstance(value, memoryview):
            name = bytes(value).decode("utf-8")
        elif number == 3 and isinstance(value, int):
            tsize = value
        else:
            raise DagPbError(f"unexpected field {number} in a DAG-PB link")
    if cid is None:
        raise DagPbError("DAG-PB link without a Hash")
    return Link(cid, name, tsize)


def decode(block: bytes | memoryview, cid: CID | None = None, *, data_view: bool = False) -> PBNode:
    """Decode a DAG-PB block.

    Args:
        block: the block's bytes.
        cid: its CID, named in errors.
        data_view: leave ``Data`` as a memoryview into ``block`` instead of copying it (for a caller that decodes
            it at once, as UnixFS, and keeps only what that gives).

    Returns:
        The node.

    Raises:
        DagPbError: the block is malformed (naming ``cid``).
    """
    try:
        links, data = [], None
        for number, value in iter_fields(block):
            if number == 2 and isinstance(value, memoryview):
                links.append(_decode_link(value))
            elif number == 1 and isinstance(value, memoryview):
                data = value if data_view else bytes(value)
            else:
                raise DagPbError(f"unexpected field {number} in a DAG-PB node")
        return PBNode(tuple(links), data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DagPbError(f"block {cid or '?'} is not valid DAG-PB: {exc}") from exc

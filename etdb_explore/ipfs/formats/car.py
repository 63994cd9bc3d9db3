"""CAR files: CARv1 read (streaming, every block verified) and write; CARv2 read.

CARv1 = varint(len) ‖ DAG-CBOR header ``{"roots": [CID], "version": 1}``, then sections varint(len) ‖ CID ‖ block.
CARv2 = an 11-byte pragma, a 40-byte header (characteristics, data offset, data size, index offset), the CARv1
payload at the data offset. Only the tiny DAG-CBOR subset of the header is encoded here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.formats.cid import CID, CIDError, decode_varint, encode_varint

MAX_HEADER = 1 << 20
MAX_SECTION = (1 << 21) + 256  # blocks above 2 MiB are refused, as IPFS implementations do
CARV2_PRAGMA = bytes.fromhex("0aa16776657273696f6e02")


class CarError(EtdbError, ValueError):
    """A CAR stream is malformed, truncated or holds a block that does not match its CID."""


# ---- the DAG-CBOR header ----------------------------------------------------------------------------------------

def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def _cbor_text(text: str) -> bytes:
    raw = text.encode()
    return _cbor_head(3, len(raw)) + raw


def encode_header(roots: Iterable[CID]) -> bytes:
    """The DAG-CBOR of a CARv1 header ``{"roots": [...], "version": 1}`` (keys in DAG-CBOR's length-first order).

    Returns:
        The header's bytes (without the length prefix; see :func:`car_header`).
    """
    roots = list(roots)
    cids = b"".join(b"\xd8\x2a" + _cbor_head(2, len(c.bytes) + 1) + b"\x00" + c.bytes for c in roots)
    return (_cbor_head(5, 2) + _cbor_text("roots") + _cbor_head(4, len(roots)) + cids
            + _cbor_text("version") + _cbor_head(0, 1))


MAX_HEADER_DEPTH = 4  # {"roots": [tag 42 (bytes)]} needs three levels


def _cbor_item(data: bytes, pos: int, depth: int = 0) -> tuple[object, int]:
    """One DAG-CBOR item of the header subset (uint, bytes, text, array, map, tag 42); CarError on anything else.

    Lengths are checked against the bytes present before anything is sized by them, and nesting is bounded, so a
    hostile header costs at most its own length.
    """
    if depth > MAX_HEADER_DEPTH:
        raise CarError("CAR header nested too deeply")
    if pos >= len(data):
        raise CarError("CAR header ends inside an item")
    initial = data[pos]
    major, info = initial >> 5, initial & 31
    pos += 1
    if info < 24:
        n = info
    elif info in (24, 25, 26, 27):
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise CarError("CAR header ends inside an item")
        n = int.from_bytes(data[pos:pos + size], "big")
        pos += size
    else:
        raise CarError("unsupported CBOR item in CAR header")
    if major == 0:
        return n, pos
    if major in (2, 3):
        if pos + n > len(data):
            raise CarError("CAR header ends inside a string")
        raw = data[pos:pos + n]
        try:
            return (raw.decode("utf-8") if major == 3 else raw), pos + n
        except UnicodeDecodeError as exc:
            raise CarError(f"CAR header text is not UTF-8: {exc}") from exc
    if major in (4, 5) and n > len(data) - pos:
        raise CarError(f"CAR header claims {n} items in {len(data) - pos} bytes")
    if major == 4:
        items = []
        for _ in range(n):
            item, pos = _cbor_item(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        mapping: dict[str, object] = {}
        for _ in range(n):
            key, pos = _cbor_item(data, pos, depth + 1)
            if not isinstance(key, str):
                raise CarError("CAR header map key is not text")
            mapping[key], pos = _cbor_item(data, pos, depth + 1)
        return mapping, pos
    if major == 6 and n == 42:
        raw, pos = _cbor_item(data, pos, depth + 1)
        if not isinstance(raw, bytes) or raw[:1] != b"\x00":
            raise CarError("malformed CID in CAR header")
        return CID.from_bytes(raw[1:]), pos
    raise CarError(f"unsupported CBOR major type {major} in CAR header")


def decode_header(data: bytes) -> tuple[int, list[CID]]:
    """The version and roots of a CARv1 header (its DAG-CBOR bytes).

    Returns:
        ``(version, roots)``.

    Raises:
        CarError: the header is malformed, or its fields have the wrong types.
    """
    try:
        header, _ = _cbor_item(data, 0)
    except CIDError as exc:
        raise CarError(f"malformed CAR header: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("version"), int):
        raise CarError("CAR header without an integer version")
    roots = header.get("roots", [])
    if not isinstance(roots, list) or not all(isinstance(root, CID) for root in roots):
        raise CarError("CAR header roots are not a list of CIDs")
    return header["version"], roots


# ---- reading ----------------------------------------------------------------------------------------------------

class _Pending:
    """Bytes fed to a reader and not parsed yet, kept as the chunks they came in: nothing is copied until a block
    is cut out of them (once, whatever the number of chunks it spans)."""

    def __init__(self) -> None:
        self._chunks: deque[memoryview] = deque()
        self.size = 0

    def add(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._chunks.append(memoryview(data if isinstance(data, bytes) else bytes(data)))  # a caller's buffer
            self.size += len(data)  # may change after the call: only immutable bytes are kept

    def peek(self, n: int) -> bytes | memoryview:
        """The first ``min(n, size)`` bytes, not consumed."""
        if not self._chunks:
            return b""
        first = self._chunks[0]
        if len(first) >= n or len(self._chunks) == 1:
            return first[:n]
        parts, have = [], 0
        for chunk in self._chunks:
            parts.append(chunk[:n - have])
            have += len(parts[-1])
            if have >= n:
                break
        return b"".join(parts)

    def take(self, n: int, keep: bool = True) -> bytes:
        """The first ``n`` bytes (at most ``size``), consumed; ``keep=False`` drops them (and returns ``b""``)."""
        parts = []
        self.size -= n
        while n:
            chunk = self._chunks[0]
            if len(chunk) <= n:
                self._chunks.popleft()
            else:
                self._chunks[0] = chunk[n:]
                chunk = chunk[:n]
            n -= len(chunk)
            if keep:
                parts.append(chunk)
        if not keep:
            return b""
        if len(parts) != 1:  # several pieces, or none (an empty block)
            return b"".join(parts)
        whole = parts[0].obj  # the bytes fed (add() keeps only bytes): a block that arrived alone is not copied
        return whole if len(whole) == len(parts[0]) else parts[0].tobytes()  # type: ignore[return-value]

    def clear(self) -> None:
        self._chunks.clear()
        self.size = 0


MAX_CID_BYTES = 4096  # how much of a section its CID is looked for in (a CID is far shorter)


@dataclass
class CarReader:
    """Incremental CAR parser: feed bytes as they arrive, take verified (CID, block) pairs out.

    Works on CARv1 and CARv2 streams. ``source`` names where the bytes come from in error messages. A block is
    copied once, out of the chunks it arrived in.
    """

    source: str = "CAR"
    roots: list[CID] | None = None
    version: int | None = None

    def __post_init__(self) -> None:
        self._pending = _Pending()
        self._state = "start"  # start → header → sections
        self._skip = 0  # CARv2: bytes between its header and the CARv1 payload
        self._payload_left: int | None = None  # CARv2: bytes of payload not yet consumed

    def feed(self, data: bytes) -> Iterator[tuple[CID, bytes]]:
        """Add the next bytes of the stream.

        Returns:
            An iterator of the (CID, block) sections these bytes complete, each verified as it is cut out; consume
            it before feeding more.

        Raises:
            CarError: the stream is malformed or a section is too large (naming ``source``).
            VerificationError: a block does not match its CID.
        """
        self._pending.add(data)
        yield from self._drain()

    def _varint(self) -> tuple[int, int] | None:
        if not self._pending.size:
            return None  # between sections, where a piece received often ends
        head = self._pending.peek(10)
        try:
            return decode_varint(head, 0)
        except ValueError:
            if len(head) >= 10:
                raise CarError(f"{self.source}: malformed length prefix") from None
            return None

    def _consume(self, n: int, keep: bool = False) -> bytes:
        if self._payload_left is not None:
            self._payload_left -= n
        return self._pending.take(n, keep)

    def _drain(self) -> Iterator[tuple[CID, bytes]]:
        if self._state == "start" and not self._read_pragma():
            return
        if self._skip:
            n = min(self._skip, self._pending.size)
            self._pending.take(n, keep=False)
            self._skip -= n
            if self._skip:
                return
        if self._state == "header" and not self._read_v1_header():
            return
        while self._payload_left != 0:
            prefix = self._varint()
            if prefix is None:
                return
            length, start = prefix
            if length > MAX_SECTION:
                raise CarError(f"{self.source}: section of {length} bytes exceeds the {MAX_SECTION}-byte limit")
            if self._pending.size < start + length:
                return
            try:
                cid, pos = CID.read(self._pending.peek(start + min(length, MAX_CID_BYTES)), start)
            except ValueError as exc:
                raise CarError(f"{self.source}: malformed CID in a section: {exc}") from exc
            if pos > start + length:
                raise CarError(f"{self.source}: section shorter than its CID")
            self._consume(pos)
            block = self._consume(start + length - pos, keep=True)
            cid.verify(block, self.source)
            yield cid, block
        self._pending.clear()  # CARv2: what follows the payload is its index

    def _read_pragma(self) -> bool:
        if self._pending.size < len(CARV2_PRAGMA):
            return False
        if bytes(self._pending.peek(11)) == CARV2_PRAGMA:
            if self._pending.size < 51:
                return False
            head = bytes(self._pending.peek(51))
            data_offset = int.from_bytes(head[27:35], "little")
            self._payload_left = int.from_bytes(head[35:43], "little")
            if data_offset < 51:
                raise CarError(f"{self.source}: CARv2 data offset {data_offset} inside its header")
            self._pending.take(51, keep=False)
            self._skip = data_offset - 51
        self._state = "header"
        return True

    def _read_v1_header(self) -> bool:
        prefix = self._varint()
        if prefix is None:
            return False
        length, start = prefix
        if length == 0 or length > MAX_HEADER:
            raise CarError(f"{self.source}: CAR header length {length} is impossible")
        if self._pending.size < start + length:
            return False
        version, roots = decode_header(bytes(self._pending.peek(start + length)[start:]))
        if version != 1:
            raise CarError(f"{self.source}: unsupported CAR version {version}")
        self._consume(start + length)
        self.version, self.roots = version, roots
        self._state = "sections"
        return True

    def close(self) -> None:
        """Declare the stream ended.

        Raises:
            CarError: it ended before the end of the header or inside a section.
        """
        if self._state != "sections":
            raise CarError(f"{self.source}: stream ended before the end of the CAR header")
        if self._pending.size or (self._payload_left or 0) > 0:
            raise CarError(f"{self.source}: stream ended inside a section ({self._pending.size} bytes left over)")


def read_car(data: bytes, source: str = "CAR") -> tuple[list[CID], list[tuple[CID, bytes]]]:
    """Read a whole CAR held in memory.

    Returns:
        ``(roots, blocks)``: the header's roots and every (CID, block) pair, verified, in order.

    Raises:
        CarError: the CAR is malformed or truncated (naming ``source``).
        VerificationError: a block does not match its CID.
    """
    reader = CarReader(source)
    blocks = list(reader.feed(data))
    reader.close()
    return reader.roots or [], blocks


# ---- writing ----------------------------------------------------------------------------------------------------

def car_header(roots: Iterable[CID]) -> bytes:
    """The start of a CARv1 with these roots.

    Returns:
        The length-prefixed header.
    """
    header = encode_header(roots)
    return encode_varint(len(header)) + header


def car_section(cid: CID, block: bytes) -> bytes:
    """One CAR section.

    Returns:
        The length prefix, the binary CID and the block.
    """
    return section_head(cid, block) + block


def section_head(cid: CID, block: bytes) -> bytes:
    """A CAR section without its block: write it, then the block, to avoid copying large blocks.

    Returns:
        The length prefix and the binary CID.
    """
    return encode_varint(len(cid.bytes) + len(block)) + cid.bytes

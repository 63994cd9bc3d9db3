"""Content identifiers: unsigned varints, multihash (sha2-256, identity), multibase (base58btc, base32) and CIDs."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from etdb_explore.errors import EtdbError, VerificationError
from etdb_explore.util.base58 import b58decode, b58encode

DAG_PB = 0x70
RAW = 0x55
DAG_CBOR = 0x71
SHA2_256 = 0x12
IDENTITY = 0x00
CODEC_NAMES = {DAG_PB: "dag-pb", RAW: "raw", DAG_CBOR: "dag-cbor"}
MAX_IDENTITY_BYTES = 128  # Kubo's limit on inlined (identity-hash) blocks


class CIDError(EtdbError, ValueError):
    """A string or byte sequence is not a valid CID."""


def encode_varint(n: int) -> bytes:
    """The unsigned varint (LEB128) of ``n``, as multiformats and protobuf write it.

    Returns:
        1 byte for ``n`` < 128, one more per further 7 bits.
    """
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _shown(value: object, limit: int = 100) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters (inputs may be huge and hostile)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class VarintError(EtdbError, ValueError):
    """An unsigned varint is truncated or longer than 9 bytes."""


def decode_varint(data: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """An unsigned varint at ``pos``.

    Returns:
        ``(value, position after it)``.

    Raises:
        VarintError: the varint is truncated or longer than 9 bytes.
    """
    if pos < len(data) and data[pos] < 0x80:  # one byte: most tags, lengths and codes
        return data[pos], pos + 1
    value = shift = 0
    while True:
        if pos >= len(data):
            raise VarintError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise VarintError("varint longer than 9 bytes")


def _varint_size(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def _b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").lower().rstrip("=")


def _b32decode(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


_BASE36 = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")


def _b36decode(text: str) -> bytes:
    """Multibase base36 (``k…``, as subdomain gateways spell long CIDs), leading ``0``s as zero bytes."""
    text = text.lower()
    if not text or not set(text) <= _BASE36:
        raise ValueError("invalid base36 text")
    value = int(text, 36)
    zeros = len(text) - len(text.lstrip("0"))
    return bytes(zeros) + value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass(frozen=True)
class CID:
    """A CIDv0 or CIDv1: version, codec, and the multihash (hash code + digest)."""

    version: int
    codec: int
    hash_code: int
    digest: bytes
    _bytes: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.version == 0 and (self.codec != DAG_PB or self.hash_code != SHA2_256):
            raise CIDError("CIDv0 is dag-pb with sha2-256 only")
        if self.hash_code not in (SHA2_256, IDENTITY):
            raise CIDError(f"unsupported multihash code 0x{self.hash_code:x}")
        if self.hash_code == SHA2_256 and len(self.digest) != 32:
            raise CIDError("sha2-256 digest must be 32 bytes")
        if self.hash_code == IDENTITY and len(self.digest) > MAX_IDENTITY_BYTES:
            # an inlined block is not content-addressed storage: a large one lets a URL or a link smuggle a DAG in
            raise CIDError(f"identity CID of {len(self.digest)} bytes is over the {MAX_IDENTITY_BYTES}-byte limit")
        if not self._bytes:
            object.__setattr__(self, "_bytes", self.multihash if self.version == 0 else
                               encode_varint(1) + encode_varint(self.codec) + self.multihash)

    @property
    def multihash(self) -> bytes:
        """The multihash: varint hash code, varint digest length, digest."""
        return encode_varint(self.hash_code) + encode_varint(len(self.digest)) + self.digest

    @property
    def bytes(self) -> bytes:
        """The binary CID (as in DAG-PB links and CAR sections)."""
        return self._bytes

    @property
    def codec_name(self) -> str:
        """The codec's multicodec name (``dag-pb``, ``raw``, ``dag-cbor``), else its code in hex."""
        return CODEC_NAMES.get(self.codec, hex(self.codec))

    def __str__(self) -> str:
        return b58encode(self._bytes) if self.version == 0 else "b" + _b32encode(self._bytes)

    def __repr__(self) -> str:
        return f"CID({self})"

    def __hash__(self) -> int:
        return hash(self._bytes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CID) and self._bytes == other._bytes

    # ---- construction -------------------------------------------------------------------------------------------

    @classmethod
    def for_block(cls, data: bytes | memoryview, codec: int = RAW, version: int = 1) -> CID:
        """The sha2-256 CID of a block.

        Returns:
            The CID of ``version`` and ``codec`` whose digest is the block's sha2-256.

        Raises:
            CIDError: version 0 with a codec other than DAG-PB.
        """
        return cls(version, codec, SHA2_256, hashlib.sha256(data).digest())

    @classmethod
    def decode(cls, value: str | bytes | CID) -> CID:
        """Parse a CID from its string (``Qm…``; multibase ``b``/``B`` base32, ``k``/``K`` base36, ``z`` base58btc,
        ``f``/``F`` base16) or binary form.

        Returns:
            The CID.

        Raises:
            CIDError: ``value`` is not a valid CID (the message names it).
        """
        if isinstance(value, CID):
            return value
        try:
            if isinstance(value, (bytes, bytearray, memoryview)):
                return cls.from_bytes(bytes(value))
            text = value.strip()
            if len(text) == 46 and text.startswith("Qm"):
                return cls.from_bytes(b58decode(text))
            if text[:1] in ("b", "B"):
                return cls.from_bytes(_b32decode(text[1:].lower()))
            if text[:1] in ("k", "K"):
                return cls.from_bytes(_b36decode(text[1:]))
            if text[:1] == "z":
                return cls.from_bytes(b58decode(text[1:]))
            if text[:1] in ("f", "F"):
                return cls.from_bytes(bytes.fromhex(text[1:]))
        except (ValueError, TypeError, AttributeError) as exc:
            raise CIDError(f"not a CID: {_shown(value)} ({exc})") from exc
        raise CIDError(f"not a CID (unsupported multibase): {_shown(value)}")

    @classmethod
    def from_bytes(cls, data: bytes) -> CID:
        """Parse a binary CID that is all of ``data``.

        Returns:
            The CID.

        Raises:
            CIDError: ``data`` is not one valid binary CID (or has bytes after it).
        """
        cid, end = cls.read(data, 0)
        if end != len(data):
            raise CIDError(f"{len(data) - end} trailing bytes after CID")
        return cid

    @classmethod
    def read(cls, data: bytes | memoryview, pos: int) -> tuple[CID, int]:
        """Parse a binary CID starting at ``pos`` of a longer buffer (as in CAR sections).

        Returns:
            ``(cid, position after it)``.

        Raises:
            CIDError: the bytes there are not a valid CID.
            VarintError: a varint in it is truncated or too long.
        """
        start = pos
        if data[pos:pos + 2] == b"\x12\x20":
            if pos + 34 > len(data):
                raise CIDError("truncated multihash")
            raw = bytes(data[pos:pos + 34])
            return cls(0, DAG_PB, SHA2_256, raw[2:], raw), pos + 34
        version, pos = decode_varint(data, pos)
        if version != 1:
            raise CIDError(f"unsupported CID version {version}")
        codec, pos = decode_varint(data, pos)
        hash_code, pos = decode_varint(data, pos)
        length, pos = decode_varint(data, pos)
        if pos + length > len(data):
            raise CIDError("truncated multihash")
        raw = bytes(data[start:pos + length])
        if len(raw) != 1 + _varint_size(codec) + _varint_size(hash_code) + _varint_size(length) + length:
            raise CIDError("CID with a non-minimal varint")
        return cls(1, codec, hash_code, raw[len(raw) - length:], raw), pos + length

    # ---- verification -------------------------------------------------------------------------------------------

    def matches(self, data: bytes | memoryview) -> bool:
        """Whether ``data`` hashes to this CID (equals the digest, for an identity CID).

        Returns:
            True if the block is this CID's.
        """
        if self.hash_code == IDENTITY:
            return bytes(data) == self.digest
        return hashlib.sha256(data).digest() == self.digest

    def verify(self, data: bytes | memoryview, source: str = "") -> None:
        """Check that ``data`` hashes to this CID.

        Raises:
            VerificationError: it does not (naming this CID and ``source``).
        """
        if not self.matches(data):
            where = f" from {source}" if source else ""
            raise VerificationError(f"block {self}{where} does not match its CID ({len(data)} bytes received)")

    @property
    def is_inline(self) -> bool:
        """An identity-hash CID carries its block in itself."""
        return self.hash_code == IDENTITY

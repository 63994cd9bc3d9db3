"""The few protobuf wire-format pieces DAG-PB and UnixFS need: varint and length-delimited fields."""

from __future__ import annotations

from collections.abc import Iterator

from etdb_explore.ipfs.formats.cid import decode_varint, encode_varint

VARINT, LENGTH_DELIMITED = 0, 2


def field_varint(number: int, value: int) -> bytes:
    return encode_varint(number << 3 | VARINT) + encode_varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(len(value)) + value


def iter_fields(data: bytes | memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) pairs: ints for varints, memoryviews for length-delimited fields."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        key, pos = decode_varint(view, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = decode_varint(view, pos)
            yield number, value
        elif wire == LENGTH_DELIMITED:
            length, pos = decode_varint(view, pos)
            if pos + length > len(view):
                raise ValueError(f"field {number} runs past the end of the message")
            yield number, view[pos:pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in field {number}")

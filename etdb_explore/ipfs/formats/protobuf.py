"""The few protobuf wire-format pieces DAG-PB and UnixFS need: varint and length-delimited fields."""

from __future__ import annotations

from collections.abc import Iterator

from etdb_explore.ipfs.formats.cid import decode_varint, encode_varint

VARINT, LENGTH_DELIMITED = 0, 2


def field_varint(number: int, value: int) -> bytes:
    """A varint field.

    Returns:
        The field's key (``number``, wire type 0) and ``value``, encoded.
    """
    return encode_varint(number << 3 | VARINT) + encode_varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    """A length-delimited field.

    Returns:
        The field's key (``number``, wire type 2), the length of ``value``, and ``value``.
    """
    return encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(len(value)) + value


def iter_fields(data: bytes | memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """The fields of a protobuf message, in order.

    Returns:
        An iterator of (field number, value): ints for varints, memoryviews into ``data`` for length-delimited
        fields.

    Raises:
        ValueError: a field runs past the end, uses an unsupported wire type, or a varint is malformed.
    """
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

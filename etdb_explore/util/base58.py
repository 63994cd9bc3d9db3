"""Base58 with the Bitcoin alphabet: FLO addresses and keys, IPFS CIDv0."""

from __future__ import annotations

from etdb_explore.errors import EtdbError

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INVALID = b"\xff"
_VALUES = bytes(ALPHABET.index(chr(b)) if chr(b) in ALPHABET else _INVALID[0] for b in range(256))
# Longest text decoded: FLO addresses have 34 characters, WIF keys 52, CIDv0 46, a CIDv1 with 700 bytes of
# inline (identity) data about 960. Longer texts are refused, as decoding takes time quadratic in the length.
MAX_LENGTH = 1024


class Base58Error(EtdbError, ValueError):
    """A text is not base58, or is too long to decode."""


def b58encode(data: bytes) -> str:
    """Base58 encoding of ``data``.

    Returns:
        The text, one '1' per leading zero byte (the empty string for no bytes).
    """
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(ALPHABET[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`, for texts up to :data:`MAX_LENGTH` characters (decoding is quadratic).

    Returns:
        The bytes, one zero byte per leading '1'.

    Raises:
        Base58Error: the text is longer than MAX_LENGTH, or (naming it) has a character outside the alphabet.
    """
    if len(text) > MAX_LENGTH:
        raise Base58Error(f"base58 text of {len(text)} characters is longer than {MAX_LENGTH}: {text[:60]!r}…")
    digits = text.encode("utf-8", "surrogatepass").translate(_VALUES)
    bad = digits.find(_INVALID)  # every byte before it is an ASCII character of the alphabet
    if bad >= 0:
        raise Base58Error(f"invalid base58 character {text[bad]!r} at {bad} in {text[:60]!r}")
    n = 0
    for value in digits:
        n = n * 58 + value
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + body

"""HAMT-sharded UnixFS directories, as go-unixfs/boxo build and read them.

Names hash with murmur3-x64-64 (the first 64 bits of murmur3_x64_128, seed 0, big-endian); each level of the trie
consumes 8 bits (fanout 256). A shard node's UnixFS Data holds a bitfield of occupied slots (a big-endian integer,
leading zero bytes trimmed); its links are ordered by slot and named by the slot in two upper-case hex digits,
followed by the entry name for an entry, alone for a child shard. Building shards lives in :mod:`etdb_explore.ipfs.build.importer`.
"""

from __future__ import annotations

FANOUT = 256
MAX_DEPTH = 8  # one byte of the 64-bit hash per level
_M64 = (1 << 64) - 1
_C1, _C2 = 0x87C37B91114253D5, 0x4CF5AD432745937F


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    return k ^ (k >> 33)


def murmur3_x64_64(data: bytes) -> bytes:
    """go-unixfs's HAMT hash of ``data``: the first 64-bit half of murmur3_x64_128 (seed 0).

    Returns:
        8 bytes, big-endian.
    """
    h1 = h2 = 0
    n = len(data)
    nblocks = n // 16
    for i in range(nblocks):
        k1 = int.from_bytes(data[16 * i:16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8:16 * i + 16], "little")
        h1 ^= (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
        h1 = (_rotl(h1, 27) + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        h2 ^= (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
        h2 = (_rotl(h2, 31) + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = data[16 * nblocks:]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        h2 ^= (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        h1 ^= (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M64
    return h1.to_bytes(8, "big")


def slot(name: str, depth: int) -> int:
    """The slot of ``name`` at ``depth`` (one byte of its hash per level).

    Returns:
        A slot number, 0 to 255.

    Raises:
        ValueError: ``depth`` is beyond the 8 bytes of the hash.
    """
    digest = murmur3_x64_64(name.encode("utf-8", "surrogatepass"))
    if depth >= len(digest):
        raise ValueError(f"HAMT deeper than the 64-bit hash allows, for {name!r}")
    return digest[depth]

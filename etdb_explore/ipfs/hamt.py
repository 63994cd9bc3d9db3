"""HAMT-sharded UnixFS directories, as go-unixfs/boxo build and read them.

Names hash with murmur3-x64-64 (the first 64 bits of murmur3_x64_128, seed 0, big-endian); each level of the trie
consumes 8 bits (fanout 256). A shard node's UnixFS Data holds a bitfield of occupied slots (a big-endian integer,
leading zero bytes trimmed); its links are ordered by slot and named by the slot in two upper-case hex digits,
followed by the entry name for an entry, alone for a child shard. Kubo shards a directory once the sum over its
links of ``len(name) + len(cid bytes)`` reaches 256 KiB.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import dagpb, unixfs
from .cid import CID

if TYPE_CHECKING:
    from .importer import Entry, Profile

FANOUT = 256
SHARDING_THRESHOLD = 256 * 1024
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
    """The first 64-bit half of murmur3_x64_128 (seed 0), big-endian: go-unixfs's HAMT hash."""
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
    """The slot of ``name`` at ``depth`` (one byte of its hash per level)."""
    digest = murmur3_x64_64(name.encode("utf-8"))
    if depth >= len(digest):
        raise ValueError(f"HAMT deeper than the 64-bit hash allows, for {name!r}")
    return digest[depth]


def needs_sharding(links: dict[str, CID]) -> bool:
    return sum(len(name.encode("utf-8")) + len(cid.bytes) for name, cid in links.items()) >= SHARDING_THRESHOLD


def bitfield_bytes(slots: set[int]) -> bytes:
    value = sum(1 << s for s in slots)
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def build_shard(entries: dict[str, Entry], profile: Profile, emit: Callable[[CID, bytes], None],
                depth: int = 0) -> Entry:
    """A HAMT shard (and its child shards) holding ``entries``; returns the root shard's Entry."""
    from .importer import Entry

    buckets: dict[int, dict[str, Entry]] = {}
    for name, entry in entries.items():
        buckets.setdefault(slot(name, depth), {})[name] = entry
    links = []
    for index in sorted(buckets):
        bucket = buckets[index]
        prefix = f"{index:02X}"
        if len(bucket) == 1:
            (name, entry), = bucket.items()
            links.append((dagpb.Link(entry.cid, prefix + name, entry.tsize), entry))
        else:
            child = build_shard(bucket, profile, emit, depth + 1)
            links.append((dagpb.Link(child.cid, prefix, child.tsize), child))
    data = unixfs.UnixFSData(unixfs.HAMT_SHARD, bitfield_bytes(set(buckets)) or None, hash_type=unixfs.MURMUR3_X64_64,
                             fanout=FANOUT).encode()
    block = dagpb.PBNode(tuple(link for link, _ in links), data).encode()
    cid = profile.node_cid(block)
    emit(cid, block)
    return Entry(cid, sum(e.filesize for _, e in links), len(block) + sum(e.tsize for _, e in links))

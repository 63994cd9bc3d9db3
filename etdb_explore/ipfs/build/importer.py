"""Kubo-compatible UnixFS importer: fixed-size chunks, balanced DAG, the same CIDs ``ipfs add`` computes.

Profiles: Kubo's default (CIDv0, DAG-PB leaves, 262144-byte chunks, 174 links per node) and the CIDv1 raw-leaves
profile (``ipfs add --cid-version=1``). Files stream with constant memory: a few chunks are hashed at a time, on two
threads (hashlib releases the GIL), and only one open node per tree level is kept.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from etdb_explore.ipfs.formats import dagpb, hamt, unixfs
from etdb_explore.ipfs.formats.cid import CID, DAG_PB, RAW

BATCH_CHUNKS = 16
SHARDING_THRESHOLD = 256 * 1024  # Kubo's HAMTShardingSize


@dataclass(frozen=True)
class Profile:
    """How ``ipfs add`` builds a DAG."""

    cid_version: int = 0
    raw_leaves: bool = False
    chunk_size: int = 262144
    max_links: int = 174

    def node_cid(self, block: bytes) -> CID:
        """The CID this profile gives a DAG-PB block.

        Returns:
            The sha2-256 CID of ``block`` with codec DAG-PB and the profile's CID version.
        """
        return CID.for_block(block, DAG_PB, self.cid_version)


KUBO_DEFAULT = Profile()
KUBO_CIDV1 = Profile(cid_version=1, raw_leaves=True)


class BlockSink(Protocol):
    """Where added blocks go (a LocalStore); ``put_ref`` records a raw leaf that stays in the original file."""

    def put(self, cid: CID, block: bytes) -> None:
        """Store ``block`` under ``cid``."""
        ...

    def put_ref(self, cid: CID, path: Path, offset: int, length: int) -> None:
        """Record that block ``cid`` is bytes [offset, offset+length) of ``path`` (no copy)."""
        ...


@dataclass(frozen=True)
class Entry:
    """A node of the DAG being built: its CID, the file bytes below it, and the cumulative DAG size."""

    cid: CID
    filesize: int
    tsize: int


@dataclass(frozen=True)
class Added:
    """The result of adding a file or directory."""

    cid: CID
    size: int  # file bytes (directories: the sum of their files)
    tsize: int  # cumulative size of every block of the DAG
    path: Path | None = None


class _BalancedBuilder:
    """Builds go-unixfs's balanced layout leaf by leaf with one open node per level."""

    def __init__(self, profile: Profile, emit: Callable[[CID, bytes], None]) -> None:
        self.profile = profile
        self.emit = emit
        self.levels: list[list[Entry]] = [[]]
        self.leaves = 0

    def _node(self, children: list[Entry]) -> Entry:
        data = unixfs.UnixFSData(unixfs.FILE, filesize=sum(c.filesize for c in children),
                                 blocksizes=tuple(c.filesize for c in children)).encode()
        block = dagpb.PBNode(tuple(dagpb.Link(c.cid, "", c.tsize) for c in children), data).encode()
        cid = self.profile.node_cid(block)
        self.emit(cid, block)
        return Entry(cid, sum(c.filesize for c in children), len(block) + sum(c.tsize for c in children))

    def add_leaf(self, leaf: Entry) -> None:
        self.leaves += 1
        self.levels[0].append(leaf)
        k = 0
        while len(self.levels[k]) == self.profile.max_links:
            node = self._node(self.levels[k])
            self.levels[k] = []
            if k + 1 == len(self.levels):
                self.levels.append([])
            self.levels[k + 1].append(node)
            k += 1

    def finish(self) -> Entry:
        for k, level in enumerate(self.levels):
            higher = any(self.levels[k + 1:])
            if not level:
                continue
            if len(level) == 1 and not higher:
                return level[0]
            node = self._node(level)
            self.levels[k] = []
            if k + 1 == len(self.levels):
                self.levels.append([])
            self.levels[k + 1].append(node)
        raise AssertionError("unreachable: the top level always ends with one entry")


def _leaf_entry(profile: Profile, chunk: bytes) -> tuple[Entry, bytes]:
    block = chunk if profile.raw_leaves else unixfs.file_leaf_block(chunk)
    cid = CID.for_block(block, RAW, 1) if profile.raw_leaves else profile.node_cid(block)
    return Entry(cid, len(chunk), len(block)), block


def _chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    first = True
    while True:
        chunk = stream.read(size)
        if not chunk:
            if first:
                yield b""
            return
        first = False
        while len(chunk) < size:  # a short read before the end (pipes) is topped up, as Kubo's chunker does
            more = stream.read(size - len(chunk))
            if not more:
                break
            chunk += more
        yield chunk


def add_stream(stream: BinaryIO, profile: Profile = KUBO_DEFAULT, sink: BlockSink | None = None, *,
               nocopy_path: Path | None = None, progress: Callable[[int], None] | None = None) -> Added:
    """Add one file from a binary stream. ``sink=None`` only hashes (``--only-hash``).

    With ``nocopy_path`` (raw-leaves profiles only) leaves are recorded as references into that file instead of
    being copied, like Kubo's filestore. ``progress`` is called with the size of each chunk added.

    Returns:
        The file's root CID, its size and the cumulative size of its DAG (``path`` None).

    Raises:
        ValueError: ``nocopy_path`` with a profile that has DAG-PB leaves.
        OSError: reading the stream failed.
    """
    if nocopy_path is not None and not profile.raw_leaves:
        raise ValueError("no-copy adds need raw leaves (use the CIDv1 profile), as in Kubo's filestore")
    emit = sink.put if sink is not None else (lambda cid, block: None)
    builder = _BalancedBuilder(profile, emit)
    offset = 0
    pool: ThreadPoolExecutor | None = None  # made for a file of two chunks or more: a small file costs no threads
    try:
        batch: list[bytes] = []

        def leaves() -> Iterable[tuple[Entry, bytes]]:
            nonlocal pool
            if len(batch) < 2:
                return [_leaf_entry(profile, c) for c in batch]
            pool = pool or ThreadPoolExecutor(2)
            return pool.map(lambda c: _leaf_entry(profile, c), batch)

        def flush() -> None:
            nonlocal offset
            for chunk, (entry, block) in zip(batch, leaves()):
                if sink is not None:
                    if nocopy_path is not None and chunk:
                        sink.put_ref(entry.cid, nocopy_path, offset, len(chunk))
                    else:
                        sink.put(entry.cid, block)
                builder.add_leaf(entry)
                offset += len(chunk)
                if progress:
                    progress(len(chunk))
            batch.clear()

        for chunk in _chunks(stream, profile.chunk_size):
            batch.append(chunk)
            if len(batch) == BATCH_CHUNKS:
                flush()
        flush()
    finally:
        if pool is not None:
            pool.shutdown()
    root = builder.finish()
    return Added(root.cid, root.filesize, root.tsize)


def add_file(path: str | Path, profile: Profile = KUBO_DEFAULT, sink: BlockSink | None = None, *,
             nocopy: bool = False, progress: Callable[[int], None] | None = None) -> Added:
    """Add one file like ``ipfs add`` (``nocopy``: leaves stay in the file, like ``--nocopy``; see :func:`add_stream`).

    Returns:
        The file's root CID, size, cumulative DAG size, and ``path``.

    Raises:
        ValueError: ``nocopy`` with a profile that has DAG-PB leaves.
        OSError: the file cannot be read.
    """
    path = Path(path)
    with open(path, "rb", buffering=0) as fh:
        added = add_stream(fh, profile, sink, nocopy_path=path.resolve() if nocopy else None, progress=progress)
    return Added(added.cid, added.size, added.tsize, path)


def needs_sharding(links: dict[str, CID]) -> bool:
    """Whether Kubo shards a directory with these links.

    Returns:
        True when the sum of ``len(name) + len(cid bytes)`` over the links reaches 256 KiB.
    """
    return sum(len(name.encode("utf-8")) + len(cid.bytes) for name, cid in links.items()) >= SHARDING_THRESHOLD


def bitfield_bytes(slots: set[int]) -> bytes:
    """A HAMT shard's bitfield of occupied slots.

    Returns:
        The big-endian integer with bit ``s`` set for each slot, leading zero bytes trimmed (``b""`` for none).
    """
    value = sum(1 << s for s in slots)
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def build_shard(entries: dict[str, Entry], profile: Profile, emit: Callable[[CID, bytes], None],
                depth: int = 0) -> Entry:
    """Build a HAMT shard (and its child shards) holding ``entries``, passing each block to ``emit``.

    Returns:
        The Entry of the shard at ``depth`` (the sharded directory's root for depth 0).
    """
    buckets: dict[int, dict[str, Entry]] = {}
    for name, entry in entries.items():
        buckets.setdefault(hamt.slot(name, depth), {})[name] = entry
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
                             fanout=hamt.FANOUT).encode()
    block = dagpb.PBNode(tuple(link for link, _ in links), data).encode()
    cid = profile.node_cid(block)
    emit(cid, block)
    return Entry(cid, sum(e.filesize for _, e in links), len(block) + sum(e.tsize for _, e in links))


def directory_node(entries: dict[str, Entry], profile: Profile, emit: Callable[[CID, bytes], None]) -> Entry:
    """Build a UnixFS directory of ``entries`` (name → Entry), passing each block to ``emit``.

    Returns:
        The directory's Entry: a plain node, or the root of a HAMT above Kubo's sharding threshold.
    """
    if needs_sharding({name: e.cid for name, e in entries.items()}):
        return build_shard(entries, profile, emit)
    links = tuple(dagpb.Link(e.cid, name, e.tsize) for name, e in sorted(entries.items(), key=lambda i: i[0].encode()))
    block = dagpb.PBNode(links, unixfs.UnixFSData(unixfs.DIRECTORY).encode()).encode()
    cid = profile.node_cid(block)
    emit(cid, block)
    return Entry(cid, sum(e.filesize for e in entries.values()), len(block) + sum(e.tsize for e in entries.values()))


def add_directory(path: str | Path, profile: Profile = KUBO_DEFAULT, sink: BlockSink | None = None, *,
                  nocopy: bool = False, progress: Callable[[int], None] | None = None) -> Added:
    """Add a folder recursively like ``ipfs add -r`` (symbolic links are stored as UnixFS symlinks).

    Returns:
        The folder's root CID, the sum of its files' sizes, its cumulative DAG size, and ``path``.

    Raises:
        ValueError: ``nocopy`` with a profile that has DAG-PB leaves.
        OSError: a file or folder cannot be read.
    """
    path = Path(path)
    emit = sink.put if sink is not None else (lambda cid, block: None)

    def walk(folder: Path) -> Entry:
        entries: dict[str, Entry] = {}
        for child in sorted(os.scandir(folder), key=lambda e: e.name):
            if child.is_symlink():
                block = dagpb.PBNode((), unixfs.UnixFSData(unixfs.SYMLINK, os.readlink(child.path).encode()).encode()
                                     ).encode()
                cid = profile.node_cid(block)
                emit(cid, block)
                entries[child.name] = Entry(cid, 0, len(block))
            elif child.is_dir():
                entries[child.name] = walk(Path(child.path))
            else:
                added = add_file(child.path, profile, sink, nocopy=nocopy, progress=progress)
                entries[child.name] = Entry(added.cid, added.size, added.tsize)
        return directory_node(entries, profile, emit)

    root = walk(path)
    return Added(root.cid, root.filesize, root.tsize, path)


def add_bytes(data: bytes, profile: Profile = KUBO_DEFAULT, sink: BlockSink | None = None) -> Added:
    """Add ``data`` as one file (see :func:`add_stream`).

    Returns:
        The file's root CID, size and cumulative DAG size.
    """
    return add_stream(io.BytesIO(data), profile, sink)


GO_ETDB = Profile(cid_version=0, raw_leaves=True)
"""How go-etdb added the lab folders: ``ipfs add -r --nocopy`` (no-copy implies raw leaves; nodes stay CIDv0)."""


class StreamHasher:
    """The CID ``ipfs add --only-hash`` gives bytes fed in pieces of any size (for bytes that arrive over HTTP).

    ``feed(data)`` as they come, then ``finish()``; memory stays at one chunk plus one open node per tree level.
    """

    def __init__(self, profile: Profile = KUBO_DEFAULT) -> None:
        self.profile = profile
        self._builder = _BalancedBuilder(profile, lambda cid, block: None)
        self._pending = bytearray()
        self.size = 0

    def feed(self, data: bytes) -> None:
        """Add the next bytes of the file."""
        self._pending += data
        self.size += len(data)
        size = self.profile.chunk_size
        while len(self._pending) >= size:
            self._builder.add_leaf(_leaf_entry(self.profile, bytes(self._pending[:size]))[0])
            del self._pending[:size]

    def finish(self) -> CID:
        """The file's root CID (call once, after the last ``feed``).

        Returns:
            The CID.
        """
        if self._pending or not self.size:
            self._builder.add_leaf(_leaf_entry(self.profile, bytes(self._pending))[0])
            self._pending.clear()
        return self._builder.finish().cid

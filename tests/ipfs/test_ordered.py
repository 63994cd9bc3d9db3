"""Ranges passed on straight from a CAR stream in walk order (dag/ordered.InOrder, the reader's fast path): the
same bytes as the general walk, repeated leaves and subtrees from what the stream sent before, and a stream that
breaks the order or ends early stopped at the first byte not passed on (the reader then goes on by its general
path, and still returns the right bytes). The streams are the real server's DAG walks, cut or reordered."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.build.importer import KUBO_DEFAULT, Profile, add_bytes
from etdb_explore.ipfs.dag.nodes import NodeCache
from etdb_explore.ipfs.dag.ordered import InOrder
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.dag.walker import ByteRange, DagWalker
from etdb_explore.ipfs.formats import dagpb, unixfs
from etdb_explore.ipfs.formats.cid import CID, DAG_PB
from etdb_explore.ipfs.sources.store import LocalStore

SMALL = 1024
PROFILES = [Profile(chunk_size=SMALL, max_links=8), Profile(raw_leaves=True, chunk_size=SMALL, max_links=8)]


def repetitive(size: int) -> bytes:
    """Random bytes with long runs of zeros: repeated leaves, and whole repeated subtrees."""
    rng = random.Random(7)
    parts, n = [], 0
    while n < size:
        part = bytes(rng.choice([SMALL * 3, SMALL * 70])) if rng.random() < 0.5 else rng.randbytes(SMALL * 5 + 3)
        parts.append(part)
        n += len(part)
    return b"".join(parts)[:size]


async def walk(store: LocalStore, root: CID, start: int, end: int | None) -> AsyncIterator[tuple[CID, bytes]]:
    """What ``serve`` streams for ``entity-bytes=start:end-1`` (``start:*`` for None) of ``root`` (dups=n)."""
    async for item in DagWalker(store).walk(root, "", "entity", ByteRange(start, None if end is None else end - 1)):
        yield item


async def read(store: LocalStore, root: CID, start: int, end: int, stream: AsyncIterator) -> tuple[bytes, InOrder]:
    ordered = InOrder(NodeCache(), root, start, end, UnixFSReader._check_root, "test stream")
    data = b"".join([bytes(chunk) async for chunk in ordered.chunks(stream)])
    return data, ordered


class Source:
    """A CarStreamSource over a local store whose streams are the server's walks, passed through ``edit``."""

    def __init__(self, store: LocalStore, edit) -> None:
        self.store = store
        self.edit = edit
        self.name = "edited walks"
        self.streams = 0

    async def get(self, cid: CID) -> bytes:
        return await self.store.get(cid)

    def car_range(self, cid: CID, start: int, end: int | None, path: str = "") -> AsyncIterator:
        self.streams += 1
        return self.edit(walk(self.store, cid, start, end), self.streams)


@pytest.mark.parametrize("profile", PROFILES, ids=["dag-pb leaves", "raw leaves"])
async def test_an_honest_stream_gives_every_range_straight_through(tmp_path, profile):
    data = repetitive(300 * SMALL + 17)
    store = LocalStore(tmp_path)
    root = add_bytes(data, profile, store).cid
    rng = random.Random(3)
    ranges = [(0, len(data)), (5, len(data) - 5)] + [
        (a, min(len(data), a + rng.randrange(1, 40 * SMALL))) for a in (rng.randrange(len(data)) for _ in range(20))]
    for start, end in ranges:
        got, ordered = await read(store, root, start, end, walk(store, root, start, end))
        assert got == data[start:end] and ordered.complete and ordered.position == end == ordered.end


async def test_a_stream_out_of_order_or_cut_short_stops_at_the_first_byte_not_passed_on(tmp_path):
    data = random.Random(5).randbytes(100 * SMALL)
    store = LocalStore(tmp_path)
    root = add_bytes(data, PROFILES[0], store).cid

    async def swapped(stream: AsyncIterator, _: int = 0) -> AsyncIterator:
        items = [item async for item in stream]
        i = len(items) // 2
        while items[i][0].codec == DAG_PB and items[i][1][:1] == b"\x12":  # a leaf: no links
            i += 1
        items[i], items[i + 1] = items[i + 1], items[i]
        for item in items:
            yield item

    async def cut(stream: AsyncIterator, _: int = 0) -> AsyncIterator:
        n = 0
        async for item in stream:
            n += 1
            if n > 40:
                return
            yield item

    for edit in (swapped, cut):
        got, ordered = await read(store, root, 10, len(data), edit(walk(store, root, 10, len(data))))
        assert not ordered.complete and 10 < ordered.position < len(data) and got == data[10:ordered.position]
        source = Source(store, edit)  # the reader goes on from there with a new stream and the general walk
        assert await UnixFSReader(source, striping=None).read(root, 10) == data[10:]
        assert source.streams == 2


async def test_a_lying_blocksize_or_a_too_deep_file_is_an_etdb_error_naming_the_node(tmp_path):
    store = LocalStore(tmp_path)
    leaf = b"0123456789"
    leaf_cid = CID.for_block(leaf)
    store.put(leaf_cid, leaf)

    def node(child: CID, size: int) -> CID:
        block = dagpb.PBNode((dagpb.Link(child, "", size),), unixfs.UnixFSData(unixfs.FILE, None, size,
                                                                              (size,)).encode()).encode()
        cid = CID.for_block(block, DAG_PB, 1)
        store.put(cid, block)
        return cid

    liar = node(leaf_cid, 12)  # says its leaf holds 12 bytes
    with pytest.raises(EtdbError, match=str(leaf_cid)):
        await read(store, liar, 0, 12, walk(store, liar, 0, 12))
    deep = leaf_cid
    for _ in range(70):
        deep = node(deep, 10)
    with pytest.raises(EtdbError, match="deeper than"):
        await read(store, deep, 0, 10, walk(store, deep, 0, 10))


async def test_kubo_default_file_through_serve_and_a_gateway_source_is_one_request(tmp_path):
    from etdb_explore.ipfs.gateway_server import start_server
    from etdb_explore.ipfs.sources.gateway import GatewaySource

    data = repetitive(3 << 20)
    store = LocalStore(tmp_path)
    root = add_bytes(data, KUBO_DEFAULT, store).cid
    runner, url = await start_server(store)
    source = GatewaySource([url])
    try:
        reader = UnixFSReader(source)
        assert await reader.read(root) == data
        assert await reader.read(root, 1000, 2_500_000) == data[1000:2_500_000]
    finally:
        await source.close()
        await runner.cleanup()

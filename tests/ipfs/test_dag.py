"""The DAG layer's shared parts: one node cache (bounded by bytes, verified nodes only), one path resolver used
alike by the reader, the walker and ``serve``, and block-source capabilities stated as protocols."""

from __future__ import annotations

import aiohttp
import pytest

from etdb_explore.errors import EtdbError, VerificationError
from etdb_explore.ipfs.build.importer import KUBO_CIDV1, KUBO_DEFAULT, Entry, add_bytes, add_directory, directory_node
from etdb_explore.ipfs.dag.nodes import Node, NodeCache
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.dag.resolve import PathError
from etdb_explore.ipfs.dag.walker import ByteRange, DagWalker
from etdb_explore.ipfs.formats import dagpb, unixfs
from etdb_explore.ipfs.formats.car import read_car
from etdb_explore.ipfs.formats.cid import CID, DAG_PB
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.ipfs.sources.base import BlockSource, BlockStore, CarStreamSource, MultiSource
from etdb_explore.ipfs.sources.gateway import GatewaySource
from etdb_explore.ipfs.sources.kubo import KuboSource
from etdb_explore.ipfs.sources.store import LocalStore

from .conftest import CountingStore, kubo_content

FILE = kubo_content("dag", 3 * 262144 + 5)


def _directory(i: int, links: int) -> tuple[CID, bytes]:
    """A directory block with ``links`` entries, different for each ``i``."""
    leaf = CID.for_block(f"{i}".encode())
    block = dagpb.PBNode(tuple(dagpb.Link(leaf, f"entry-{i}-{n:04d}", 1) for n in range(links)),
                         unixfs.UnixFSData(unixfs.DIRECTORY).encode()).encode()
    return CID.for_block(block, DAG_PB, 1), block


def test_node_cache_holds_nodes_with_links_within_its_byte_budget_least_recently_used_out():
    blocks = [_directory(i, 40) for i in range(6)]
    size = Node.decode(*blocks[0]).memory
    cache = NodeCache(max_bytes=int(3.5 * size))
    for cid, block in blocks[:4]:
        cache.decode(cid, block)
    assert len(cache) == 3 and cache.nbytes <= cache.max_bytes
    assert cache.lookup(blocks[0][0]) is None and cache.lookup(blocks[1][0]) is not None  # 1 is now the most recent
    cache.decode(*blocks[4])
    assert blocks[1][0] in cache and blocks[2][0] not in cache and cache.nbytes <= cache.max_bytes
    leaf = b"a leaf has no links"
    cache.decode(CID.for_block(leaf), leaf)
    assert CID.for_block(leaf) not in cache  # leaves are read once and dropped
    huge = _directory(9, 400)
    cache.decode(*huge)
    assert huge[0] not in cache and blocks[1][0] in cache  # a node above the whole budget displaces nothing


def test_node_cache_admits_only_blocks_that_hash_to_their_cid():
    (cid, block), (_, other) = _directory(1, 3), _directory(2, 3)
    cache = NodeCache()
    with pytest.raises(VerificationError, match=str(cid)):
        cache.decode(cid, other, "a careless source")
    assert cid not in cache and cache.nbytes == 0
    assert cache.decode(cid, block).links and cid in cache


@pytest.fixture
def tree(tmp_path) -> tuple[CountingStore, CID]:
    """``tree/a/b/tomo.rec`` (a 4-leaf file) and ``shard/`` (a HAMT-sharded directory of 6000 names) under one root."""
    store = CountingStore(tmp_path / "store")
    (tmp_path / "tree" / "a" / "b").mkdir(parents=True)
    (tmp_path / "tree" / "a" / "b" / "tomo.rec").write_bytes(FILE)
    plain = add_directory(tmp_path / "tree", KUBO_DEFAULT, store)
    leaf = add_bytes(b"x", KUBO_CIDV1, store).cid
    shard = directory_node({f"name_{i:05d}": Entry(leaf, 1, 1) for i in range(6000)}, KUBO_CIDV1, store.put)
    root = directory_node({"tree": Entry(plain.cid, plain.size, plain.tsize), "shard": shard}, KUBO_CIDV1, store.put)
    return store, root.cid


@pytest.mark.parametrize(("path", "error"), [
    ("tree/a/b/tomo.rec", None), ("shard/name_00042", None), ("shard", None), ("", None),
    ("tree/nope", "no 'nope'"), ("tree/a/b/tomo.rec/x", "not a directory"), ("tree/../tree", "not allowed"),
    ("shard/name_99999", "no 'name_99999'")])
async def test_reader_and_walker_resolve_paths_alike(tree, path, error):
    store, root = tree
    reader, walker = UnixFSReader(store), DagWalker(store)
    if error:
        for resolving in (reader.resolve(root, path), _collect(walker.walk(root, path, "block"))):
            with pytest.raises(PathError, match=error):
                await resolving
        return
    target = await reader.resolve(root, path)
    blocks = await _collect(walker.walk(root, path, "block"))
    assert blocks[-1][0] == target and blocks[0][0] == (root if path else target)
    assert all(cid.matches(block) for cid, block in blocks)
    if path.startswith("shard/"):
        assert (await reader.stat(root, "shard")).type == "hamt-shard"
        assert len(blocks) >= 3  # the root, the shard, (child shards,) the entry


async def _collect(items) -> list[tuple[CID, bytes]]:
    return [item async for item in items]


async def test_serve_resolves_and_decodes_a_path_once_for_reads_and_cars(tree):
    """A path read and then a CAR of the same path: the second request fetches no block again (one node cache)."""
    store, root = tree
    runner, url = await start_server(store)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/ipfs/{root}/tree/a/b/tomo.rec", headers={"Range": "bytes=0-9"}) as r:
                assert r.status == 206 and await r.read() == FILE[:10]
            store.gets.clear()
            async with http.get(f"{url}/ipfs/{root}/tree/a/b/tomo.rec?format=car&dag-scope=block") as r:
                _, blocks = read_car(await r.read())
        assert len(blocks) == 5  # root, tree, tree/a, tree/a/b, and the file's root node
        assert store.gets == []
    finally:
        await runner.cleanup()


class StreamingSource:
    """A third-party source (no base class): blocks from a store, and CAR streams of file ranges."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.name = "streaming test source"
        self.streams = 0

    async def get(self, cid: CID) -> bytes:
        return await self.store.get(cid)

    def car_range(self, cid: CID, start: int, end: int | None, path: str = ""):
        self.streams += 1
        byte_range = ByteRange(start, None if end is None else end - 1)
        return DagWalker(self.store).walk(cid, path, "entity", byte_range)


async def test_block_source_capabilities_are_runtime_checkable_protocols(tmp_path):
    """LocalStore is a BlockStore, gateways stream CARs, Kubo only gets; a third-party class with ``car_range`` is a
    CarStreamSource too, and a MultiSource forwards its streams unless a store before it holds the file."""
    holder = LocalStore(tmp_path / "holder")
    gateway, kubo = GatewaySource(["http://127.0.0.1:9"]), KuboSource("http://127.0.0.1:9")
    streaming = StreamingSource(holder)
    assert isinstance(holder, BlockStore) and not isinstance(holder, CarStreamSource)
    assert isinstance(gateway, CarStreamSource) and not isinstance(gateway, BlockStore)
    assert isinstance(kubo, BlockSource) and not isinstance(kubo, (BlockStore, CarStreamSource))
    assert isinstance(MultiSource([holder, gateway]), CarStreamSource) and isinstance(streaming, CarStreamSource)
    assert not isinstance(object(), BlockSource)

    big = add_bytes(FILE, KUBO_DEFAULT, holder).cid
    a, b = 100, len(FILE) - 100
    empty_first = MultiSource([LocalStore(tmp_path / "empty"), streaming])
    assert await UnixFSReader(empty_first, car_min_bytes=0).read(big, a, b) == FILE[a:b]
    assert streaming.streams == 1
    holder_first = MultiSource([holder, streaming])
    assert await UnixFSReader(holder_first, car_min_bytes=0).read(big, a, b) == FILE[a:b]
    assert streaming.streams == 1


async def test_one_decoder_serves_the_strict_reader_and_the_lenient_walker(tmp_path):
    """A DAG-PB block whose Data is not UnixFS: the reader refuses it naming it, the walker still carries it."""
    store = LocalStore(tmp_path / "store")
    block = dagpb.PBNode((), b"\x01\x02").encode()
    cid = CID.for_block(block, DAG_PB, 1)
    store.put(cid, block)
    node = Node.decode(cid, block)
    assert node.fs is None and node.links == () and node.block == block
    with pytest.raises(unixfs.UnixFSError, match=str(cid)):
        node.require_unixfs()
    with pytest.raises(EtdbError, match=str(cid)):
        await UnixFSReader(store).stat(cid)
    assert await _collect(DagWalker(store).walk(cid)) == [(cid, block)]

"""Fuzzing the IPFS and MRC parsers with Hypothesis: hostile bytes raise EtdbErrors only, in bounded time and memory.

Each parser is given random bytes and mutations of valid inputs (real CARs of the gateway-conformance vectors,
blocks made by the Kubo-compatible importer, real MRC headers). ``EXAMPLES`` inputs per parser.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import tracemalloc
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.build.importer import KUBO_DEFAULT, add_bytes
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.formats import dagpb, unixfs
from etdb_explore.ipfs.formats.car import CarReader, decode_header, read_car
from etdb_explore.ipfs.formats.cid import CID, DAG_PB
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.volumes.byteranges import LocalFile
from etdb_explore.volumes.header import read_header

EXAMPLES = 400
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                                                                              HealthCheck.function_scoped_fixture])
MEMORY_LIMIT = 64 << 20


def _bounded(call):
    """Run ``call``; only EtdbErrors may escape, and it may not allocate more than MEMORY_LIMIT."""
    tracemalloc.start()
    try:
        call()
    except EtdbError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{peak} bytes allocated"


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with random bytes changed, cut, or inserted (keeps most of the structure valid)."""
    def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
        out = bytearray(data)
        for kind, pos, value in edits:
            pos = pos % (len(out) + 1)
            if kind == 0 and pos < len(out):
                out[pos] = value
            elif kind == 1:
                del out[pos:]
            else:
                out[pos:pos] = bytes([value]) * (value % 7 + 1)
        return bytes(out)
    edit = st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255))
    return st.lists(edit, min_size=1, max_size=4).map(lambda edits: mutate(seed, edits))


def _seed_block() -> bytes:
    store_blocks: dict[CID, bytes] = {}

    class Sink:
        def put(self, cid: CID, block: bytes) -> None:
            store_blocks[cid] = block

    add_bytes(bytes(range(256)) * 4000, dataclasses.replace(KUBO_DEFAULT, chunk_size=4096, max_links=8), Sink())
    return max((b for c, b in store_blocks.items() if c.codec == DAG_PB), key=len)


SEED_NODE = _seed_block()


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated(SEED_NODE)))
def test_dagpb_and_unixfs(data):
    def parse():
        node = dagpb.decode(data)
        fs = unixfs.decode(node.data, "fuzz")
        _ = (fs.type_name, fs.filesize, sum(fs.blocksizes), fs.data)
    _bounded(parse)


SEED_LEAF = unixfs.file_leaf_block(bytes(range(256)) * 3)


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated(SEED_LEAF), mutated(SEED_NODE)))
def test_the_file_leaf_fast_path_agrees_with_the_general_decoders(data):
    """``unixfs.decode_file_leaf`` takes only blocks the general decoders read the same way, and gives what they do."""
    leaf = unixfs.decode_file_leaf(data)
    if leaf is None:
        return
    node = dagpb.decode(data, data_view=True)
    assert node.links == () and leaf == unixfs.decode(node.data, "fuzz", data_view=True)
    assert isinstance(leaf.data, memoryview) and leaf.data.obj is data


def test_kubo_file_leaves_take_the_fast_path():
    assert unixfs.decode_file_leaf(SEED_LEAF) == unixfs.UnixFSData(unixfs.FILE, bytes(range(256)) * 3, 768)
    parent = dagpb.PBNode((dagpb.Link(CID.for_block(SEED_LEAF, DAG_PB, 0), "", len(SEED_LEAF)),),
                          unixfs.UnixFSData(unixfs.FILE, None, 768, (768,)).encode()).encode()
    assert unixfs.decode_file_leaf(parent) is None  # a node with links is read by the general decoders


@FUZZ
@given(st.one_of(st.text(max_size=120), st.binary(max_size=80),
                 mutated(CID.decode("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e").bytes)))
def test_cid(value):
    _bounded(lambda: str(CID.decode(value)))


@pytest.fixture(scope="module")
def car_blobs(vectors) -> st.SearchStrategy[bytes]:
    """Random bytes and mutations of a real CAR and of its start (one strategy for every example of test_car)."""
    seed = (vectors / "gateway-conformance" / "subdir-with-mixed-block-files.car").read_bytes()
    return st.one_of(st.binary(max_size=400), mutated(seed[:4000]), mutated(seed))


@FUZZ
@given(data=st.data())
def test_car(car_blobs, data):
    blob = data.draw(car_blobs)

    def parse():
        read_car(blob, "fuzz")
        reader = CarReader("fuzz")
        for i in range(0, len(blob), 997):
            list(reader.feed(blob[i:i + 997]))
        reader.close()
    _bounded(parse)


@FUZZ
@given(st.one_of(st.binary(max_size=200), mutated(bytes.fromhex("a265726f6f747381d82a58230012200000000000000000000000"
                                                                 "0000000000000000000000000000000000000000006776657273"
                                                                 "696f6e01"))))
def test_car_header(data):
    _bounded(lambda: decode_header(data))


def _mrc_seed() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seed.mrc"
        with mrcfile.new(path) as mrc:
            mrc.set_data(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6))
            mrc.voxel_size = 12.0
        return path.read_bytes()


MRC_SEED = _mrc_seed()
MRC_BLOBS = st.one_of(mutated(MRC_SEED[:1024]).map(lambda h: h + MRC_SEED[1024:]), st.binary(max_size=1100))


@FUZZ
@given(data=st.data())
def test_mrc_header(tmp_path_factory, data):
    blob = data.draw(MRC_BLOBS)
    path = tmp_path_factory.mktemp("mrc") / "f.mrc"
    path.write_bytes(blob)
    _bounded(lambda: asyncio.run(read_header(LocalFile(path))))


# The parts of a hostile node (built once: a strategy made anew for every draw costs Hypothesis more than the draw)
LINK_NAMES = st.sampled_from(["", "a", "FF", "00a", "x" * 3])
LINK_SIZES = st.integers(0, 1 << 40)
OPTIONAL_DATA = st.one_of(st.none(), st.binary(max_size=8))
OPTIONAL_FILESIZE = st.one_of(st.none(), st.integers(0, 1 << 62))
BLOCKSIZES = st.lists(st.integers(0, 1 << 40), max_size=5)
OPTIONAL_FANOUT = st.one_of(st.none(), st.integers(0, 0x30))
OPTIONAL_MODE = st.one_of(st.none(), st.integers(0, 1 << 20))


@FUZZ
@given(data=st.data())
def test_reader_over_hostile_blocks(tmp_path_factory, data):
    """Hostile but hash-valid DAGs: random DAG-PB/UnixFS nodes, linked, stored under their true CIDs."""
    store = LocalStore(tmp_path_factory.mktemp("store"))
    leaf = b"leaf" * 10
    leaf_cid = CID.for_block(leaf)
    store.put(leaf_cid, leaf)
    cids = [leaf_cid]
    for _ in range(data.draw(st.integers(1, 6))):
        links = tuple(dagpb.Link(data.draw(st.sampled_from(cids)), data.draw(LINK_NAMES), data.draw(LINK_SIZES))
                      for _ in range(data.draw(st.integers(0, 4))))
        fs = unixfs.UnixFSData(data.draw(st.integers(0, 6)), data.draw(OPTIONAL_DATA), data.draw(OPTIONAL_FILESIZE),
                               tuple(data.draw(BLOCKSIZES)), data.draw(OPTIONAL_FANOUT), data.draw(OPTIONAL_MODE))
        block = dagpb.PBNode(links, fs.encode()).encode()
        cid = CID.for_block(block, DAG_PB, data.draw(st.sampled_from([0, 1])))
        store.put(cid, block)
        cids.append(cid)
    root = cids[-1]
    reader = UnixFSReader(store)

    async def use():
        for call in (lambda: reader.stat(root), lambda: reader.listdir(root), lambda: reader.read(root, 0, 4096),
                     lambda: reader.resolve(root, "a"), lambda: reader.stat(root, "x/a")):
            try:
                await asyncio.wait_for(call(), 5)
            except EtdbError:
                pass
    _bounded(lambda: asyncio.run(use()))

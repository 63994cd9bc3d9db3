"""CIDs, DAG-PB, UnixFS, CAR, the importer and the reader, against Kubo's CIDs and the conformance CARs."""

from __future__ import annotations

import asyncio
import threading

import pytest

from etdb_explore.errors import BlockNotFoundError, VerificationError
from etdb_explore.ipfs.build.importer import (
    KUBO_CIDV1,
    KUBO_DEFAULT,
    Profile,
    add_bytes,
    add_directory,
    add_file,
    needs_sharding,
)
from etdb_explore.ipfs.dag.reader import PathError, UnixFSReader
from etdb_explore.ipfs.formats.car import (
    CarError,
    CarReader,
    car_header,
    car_section,
    read_car,
    section_head,
)
from etdb_explore.ipfs.formats.cid import CID, CIDError
from etdb_explore.ipfs.sources.base import MultiSource
from etdb_explore.ipfs.sources.store import LocalStore

from .conftest import CountingStore, check_conformance_reads, kubo_content


def test_importer_reproduces_every_kubo_cid(kubo_vectors):
    for v in kubo_vectors:
        data = v["text"].encode() if v.get("text") else kubo_content(v["seed"], v["size"])
        assert str(add_bytes(data).cid) == v["cid"], v


def test_directory_import_reproduces_a_kubo_directory(tmp_path, conformance):
    """dir-with-files.car was made by Kubo with --cid-version=1 --chunker=size-256; we rebuild its root CID."""
    (tmp_path / "ascii.txt").write_text("hello application/vnd.ipld.car\n")
    (tmp_path / "ascii-copy.txt").write_text("hello application/vnd.ipld.car\n")
    (tmp_path / "hello.txt").write_text("hello world\n")
    (tmp_path / "multiblock.txt").write_bytes((conformance / "multiblock.txt.expected").read_bytes())
    roots, _ = read_car((conformance / "dir-with-files.car").read_bytes())
    added = add_directory(tmp_path, Profile(cid_version=1, raw_leaves=True, chunk_size=256))
    assert added.cid == roots[0]


def test_cid_round_trips_and_errors():
    for text in ["QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
                 "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy",
                 "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"]:
        cid = CID.decode(text)
        assert str(cid) == text and CID.decode(cid.bytes) == cid and hash(cid) == hash(CID.decode(text))
    assert CID.decode("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA").version == 1
    for bad in ["", "Qm123", "bafy!!!", "xyz", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5O"]:
        with pytest.raises(CIDError):
            CID.decode(bad)


def test_identity_cids_inline_their_block():
    cid = CID(1, 0x55, 0x00, b"tiny")
    assert cid.is_inline and cid.matches(b"tiny") and not cid.matches(b"tinz")


def test_every_conformance_file_reads_fully_and_by_ranges(conformance_store, conformance):
    store, roots = conformance_store
    asyncio.run(check_conformance_reads(UnixFSReader(store, window=2), roots, conformance))


def test_directories_symlinks_and_paths(conformance_store):
    store, roots = conformance_store
    reader = UnixFSReader(store)

    async def check():
        names = [e.name for e in await reader.listdir(roots["dir-with-files"])]
        assert names == ["ascii-copy.txt", "ascii.txt", "hello.txt", "multiblock.txt"]
        link = await reader.stat(roots["symlink"], "bar")
        assert link.type == "symlink" and link.target == "foo"
        assert (await reader.stat(roots["subdir-with-mixed-block-files"], "subdir")).type == "directory"
        with pytest.raises(PathError, match="no 'nope'"):
            await reader.resolve(roots["dir-with-files"], "nope")
        with pytest.raises(PathError, match="not allowed"):
            await reader.resolve(roots["dir-with-files"], "../x")
        with pytest.raises(PathError, match="not a directory"):
            await reader.resolve(roots["dir-with-files"], "hello.txt/x")
        with pytest.raises(PathError, match="not a file"):
            await reader.read(roots["dir-with-files"])

    asyncio.run(check())


def test_large_file_range_reads_fetch_only_covering_leaves(tmp_path):
    data = kubo_content("range", 174 * 262144 + 3 * 262144 + 1000)  # two levels
    store = CountingStore(tmp_path / "s")
    root = add_bytes(data, KUBO_DEFAULT, store).cid
    reader = UnixFSReader(store)
    a, b = 100 * 262144 + 5, 102 * 262144 + 7  # touches 3 leaves
    store.gets.clear()
    assert asyncio.run(reader.read(root, a, b)) == data[a:b]
    leaves = [c for c in store.gets if store.size(c) > 262144]
    assert len(leaves) == 3 and len(store.gets) <= 3 + 2  # 3 leaves + root + 1 interior node
    assert asyncio.run(reader.read(root, len(data) - 10)) == data[-10:]


def test_raw_leaves_profile_and_hamt_directory(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(5000):  # 5000 × (18 + 36) bytes of links: beyond the 256 KiB sharding threshold
        (folder / f"tomogram_{i:05d}.rec").write_bytes(f"{i}".encode())
    store = LocalStore(tmp_path / "s")
    added = add_directory(folder, KUBO_CIDV1, store)
    reader = UnixFSReader(store)

    async def check():
        assert (await reader.stat(added.cid)).type == "hamt-shard"
        for i in (0, 17, 4999):
            assert await reader.read(added.cid, path=f"tomogram_{i:05d}.rec") == f"{i}".encode()
        assert len(await reader.listdir(added.cid)) == 5000
        with pytest.raises(PathError):
            await reader.resolve(added.cid, "tomogram_99999.rec")

    asyncio.run(check())
    small = tmp_path / "small"
    small.mkdir()
    (small / "a").write_bytes(b"x")
    assert not needs_sharding({"a": added.cid})


def test_car_write_read_round_trip_and_corruption(conformance):
    data = (conformance / "subdir-with-mixed-block-files.car").read_bytes()
    roots, blocks = read_car(data)
    assert car_header(roots) + b"".join(car_section(c, b) for c, b in blocks) == data
    cid, block = blocks[-1]
    forged = car_header(roots) + b"".join(car_section(c, b) for c, b in blocks[:-1]) + car_section(
        cid, block[:-1] + bytes([block[-1] ^ 1]))
    with pytest.raises(VerificationError, match=str(cid)):
        read_car(forged, "test stream")
    with pytest.raises(CarError, match="inside a section"):
        read_car(data[:-3])
    with pytest.raises(CarError, match="exceeds"):
        read_car(car_header(roots) + b"\xff\xff\xff\x7f")
    reader = CarReader()
    for i in range(0, len(data), 7):
        list(reader.feed(data[i:i + 7]))
    reader.close()
    assert reader.roots == roots


def test_an_empty_block_in_a_car_stream_comes_back_empty():
    """An empty file's leaf is an empty raw block: its section holds the CID and nothing more, whole or fed in
    pieces."""
    cid = CID.for_block(b"")
    stream = car_header([cid]) + car_section(cid, b"") + car_section(cid, b"")
    assert read_car(stream) == ([cid], [(cid, b""), (cid, b"")])
    reader = CarReader()
    assert [item for i in range(len(stream)) for item in reader.feed(stream[i:i + 1])] == [(cid, b""), (cid, b"")]
    reader.close()


def test_carv2_is_read(conformance):
    v1 = (conformance / "dir-with-files.car").read_bytes()
    pragma = bytes.fromhex("0aa16776657273696f6e02")
    header = bytes(16) + (51 + 5).to_bytes(8, "little") + len(v1).to_bytes(8, "little") + bytes(8)
    v2 = pragma + header + b"\0" * 5 + v1 + b"index bytes"
    assert read_car(v2)[1] == read_car(v1)[1]


def test_store_verifies_and_names_missing_blocks(tmp_path):
    store = LocalStore(tmp_path / "s")
    cid = add_bytes(b"hello world\n", KUBO_DEFAULT, store).cid
    path = store._file("blocks", cid)
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(VerificationError, match=str(cid)):
        asyncio.run(store.get(cid))
    other = CID.for_block(b"never stored")
    with pytest.raises(BlockNotFoundError, match=str(other)):
        asyncio.run(store.get(other))


def test_nocopy_entries_are_reverified(tmp_path):
    original = tmp_path / "lab" / "tilt.mrc"
    original.parent.mkdir()
    data = kubo_content("nocopy", 3 * 262144 + 17)
    original.write_bytes(data)
    store = LocalStore(tmp_path / "s")
    added = add_file(original, KUBO_CIDV1, store, nocopy=True)
    assert added.cid == add_bytes(data, KUBO_CIDV1).cid
    assert not any((store.path / "blocks").rglob("bafk*"))  # leaves were not copied
    reader = UnixFSReader(store)
    assert asyncio.run(reader.read(added.cid)) == data
    with open(original, "r+b") as fh:
        fh.seek(262144 + 5)
        fh.write(b"X")
    with pytest.raises(VerificationError, match="tilt.mrc"):
        asyncio.run(UnixFSReader(store).read(added.cid, 262144, 262144 + 10))
    with pytest.raises(ValueError, match="raw leaves"):
        add_file(original, KUBO_DEFAULT, store, nocopy=True)


def test_concurrent_readers_and_a_writer(tmp_path):
    store = LocalStore(tmp_path / "s")
    payloads = [kubo_content(f"c{i}", 70_000) for i in range(40)]
    errors = []

    def writer():
        for p in payloads:
            add_bytes(p, KUBO_CIDV1, store)

    def reader():
        other = LocalStore(tmp_path / "s")
        for _ in range(200):
            for cid in list(other.iter_cids()):
                try:
                    other.get_sync(cid)
                except Exception as exc:  # noqa: BLE001 - any failure is the test's finding
                    errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(asyncio.run(UnixFSReader(store).read(add_bytes(p, KUBO_CIDV1).cid)) == p for p in payloads)


def test_multisource_fails_over_and_marks_liars(tmp_path):
    good = LocalStore(tmp_path / "good")
    cid = add_bytes(b"hello world\n", KUBO_DEFAULT, good).cid

    class Liar:
        name = "liar"

        async def get(self, c):
            return b"not the block"

    multi = MultiSource([Liar(), good])
    assert asyncio.run(multi.get(cid)) == good.get_sync(cid)
    assert "liar" in multi.unhealthy_until and "does not match" in multi.errors[-1]
    assert multi._ordered()[0] is good
    with pytest.raises(BlockNotFoundError, match="tried"):
        asyncio.run(MultiSource([good]).get(CID.for_block(b"absent")))


def test_multisource_reads_a_local_store_only_for_blocks_it_holds(tmp_path):
    from .conftest import CountingStore

    remote = LocalStore(tmp_path / "remote")
    cid = add_bytes(b"hello world\n", KUBO_DEFAULT, remote).cid
    local = CountingStore(tmp_path / "local")
    multi = MultiSource([local, remote])
    assert asyncio.run(multi.get(cid)) == remote.get_sync(cid)
    assert local.gets == []  # a miss is told by the store's index, not by a read in a worker thread
    local.put(cid, remote.get_sync(cid))
    assert asyncio.run(multi.get(cid)) == remote.get_sync(cid) and local.gets == [cid]
    with pytest.raises(BlockNotFoundError, match=r"local \(missing\).*remote \(missing\)"):
        asyncio.run(MultiSource([local, remote]).get(CID.for_block(b"absent")))


def test_large_blocks_are_copied_once_on_their_way_out_of_a_car_stream():
    """A 2 MiB block arriving in 64 KiB chunks (as sockets give it), then decoded as a UnixFS leaf: what is held
    beyond the chunks is the block, copied once; the leaf's file bytes are a view into it, equal to what was sent."""
    import os
    import tracemalloc

    from etdb_explore.ipfs.dag.nodes import Node
    from etdb_explore.ipfs.formats import unixfs
    from etdb_explore.ipfs.formats.cid import DAG_PB

    data = os.urandom((2 << 20) - 64)
    block = unixfs.file_leaf_block(data)
    cid = CID.for_block(block, DAG_PB, 0)
    stream = car_header([cid]) + car_section(cid, block)
    chunks = [stream[i:i + 65536] for i in range(0, len(stream), 65536)]
    reader = CarReader()
    tracemalloc.start()
    try:
        got = [item for chunk in chunks for item in reader.feed(chunk)]
        _, peak_read = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        node = Node.decode(cid, got[0][1])
        _, peak_decode = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    reader.close()
    assert got == [(cid, block)] and node.file_data == data
    assert peak_read < len(block) + (256 << 10)  # the block, not a buffer of the stream besides
    assert peak_decode < len(block) + (256 << 10)  # the block held: decoding copies nothing of its Data field
    assert isinstance(node.file_data, memoryview) and node.file_data.obj is got[0][1]


def test_a_block_that_arrives_as_a_piece_of_its_own_is_not_copied():
    """``serve`` writes each section's head and block as HTTP chunks of their own, and the client hands those on
    as they are: a block that is one whole piece fed comes out as that very object (verified); a block within a
    larger piece, or spread over several, is cut out of them."""
    blocks = [bytes([i]) * 1000 for i in range(3)]
    cids = [CID.for_block(b) for b in blocks]
    reader = CarReader()
    pieces = [car_header([cids[0]]), section_head(cids[0], blocks[0]), blocks[0],  # a piece of its own
              section_head(cids[1], blocks[1]) + blocks[1][:10], blocks[1][10:],  # spread over two pieces
              section_head(cids[2], blocks[2]) + blocks[2] + b"\x05"]  # within a larger piece
    got = [item for piece in pieces for item in reader.feed(piece)]
    assert got == list(zip(cids, blocks))
    assert got[0][1] is pieces[2]
    assert got[1][1] is not pieces[4] and got[2][1] is not pieces[5]
    with pytest.raises(CarError, match="inside a section"):
        reader.close()

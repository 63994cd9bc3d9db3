"""Hash-valid but hostile DAGs, and hostile requests to ``serve``: EtdbErrors naming the node, bounded work."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.build.importer import KUBO_DEFAULT, add_bytes
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.formats import dagpb, hamt, unixfs
from etdb_explore.ipfs.formats.cid import CID, DAG_PB
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.ipfs.sources.store import LocalStore

from ..subprocesses import read_line


def _put_node(store: LocalStore, links: tuple[dagpb.Link, ...], fs: unixfs.UnixFSData) -> CID:
    block = dagpb.PBNode(links, fs.encode()).encode()
    cid = CID.for_block(block, DAG_PB, 1)
    store.put(cid, block)
    return cid


def deep_file(store: LocalStore, depth: int) -> CID:
    """A 10-byte file as a chain of ``depth`` single-child file nodes above one raw leaf."""
    leaf = b"0123456789"
    cid = CID.for_block(leaf)
    store.put(cid, leaf)
    for _ in range(depth):
        cid = _put_node(store, (dagpb.Link(cid, "", 10),), unixfs.UnixFSData(unixfs.FILE, None, 10, (10,)))
    return cid


def _shard(store: LocalStore, links: tuple[dagpb.Link, ...]) -> CID:
    return _put_node(store, links, unixfs.UnixFSData(unixfs.HAMT_SHARD, b"\x01", None, (), unixfs.MURMUR3_X64_64,
                                                     hamt.FANOUT))


def deep_hamt(store: LocalStore, name: str, levels: int) -> CID:
    """A HAMT whose lookup of ``name`` descends ``levels`` child shards (more than 8 is impossible honestly)."""
    leaf = b"x"
    cid = CID.for_block(leaf)
    store.put(cid, leaf)
    cid = _shard(store, (dagpb.Link(cid, f"{hamt.slot(name, min(levels, 7)):02X}{name}", 1),))
    for depth in reversed(range(levels)):
        cid = _shard(store, (dagpb.Link(cid, f"{hamt.slot(name, min(depth, 7)):02X}", 1),))
    return cid


def raw_child_hamt(store: LocalStore, name: str) -> CID:
    leaf = b"not a shard"
    child = CID.for_block(leaf)
    store.put(child, leaf)
    return _shard(store, (dagpb.Link(child, f"{hamt.slot(name, 0):02X}", len(leaf)),))


@pytest.fixture
def store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "store")


async def test_a_1500_deep_file_chain_is_an_etdb_error_naming_a_node(store):
    root = deep_file(store, 1500)
    with pytest.raises(EtdbError, match="deeper than 64 levels at"):
        await UnixFSReader(store).read(root)
    assert await UnixFSReader(store).read(deep_file(store, 60)) == b"0123456789"  # deep but sane: fine


async def test_hostile_hamts_are_etdb_errors_naming_the_shard(store):
    reader = UnixFSReader(store)
    too_deep = deep_hamt(store, "tomo.rec", 9)
    with pytest.raises(EtdbError, match="deeper than a 64-bit hash allows"):
        await reader.resolve(too_deep, "tomo.rec")
    with pytest.raises(EtdbError, match="deeper than a 64-bit hash allows"):
        await reader.listdir(too_deep)
    raw_child = raw_child_hamt(store, "tomo.rec")
    with pytest.raises(EtdbError, match=f"HAMT child {CID.for_block(b'not a shard')} is not a HAMT shard"):
        await reader.resolve(raw_child, "tomo.rec")
    with pytest.raises(EtdbError, match="is not a HAMT shard"):
        await reader.listdir(raw_child)


def test_malformed_unixfs_is_an_etdb_error():
    with pytest.raises(unixfs.UnixFSError, match="wrong wire type"):
        unixfs.decode(bytes([0x0A, 1, 0x41]), "node-x")  # Type sent as bytes
    with pytest.raises(unixfs.UnixFSError, match="wrong wire type"):
        unixfs.decode(bytes([0x08, 2, 0x10, 0x41]) + bytes([0x1A, 1, 0x41]), "node-x")  # filesize as bytes


async def test_serve_answers_hostile_requests_with_client_errors(store):
    good = add_bytes(os.urandom(300_000), KUBO_DEFAULT, store).cid
    too_deep = deep_hamt(store, "a", 9)
    raw_child = raw_child_hamt(store, "a")
    missing = CID.for_block(b"never stored", DAG_PB, 1)
    runner, url = await start_server(store)
    try:
        async with aiohttp.ClientSession() as session:
            async def status(path: str, **headers: str) -> int | str:
                """The response status, or "truncated" when the body was cut short (a stream found broken)."""
                async with session.get(url + path, headers=headers) as response:
                    try:
                        await response.read()
                    except aiohttp.ClientPayloadError:
                        return "truncated"
                    return response.status
            assert await status(f"/ipfs/{good}", Range="bytes=" + "9" * 5000 + "-") == 416
            assert await status(f"/ipfs/{good}", Range="bytes=0-" + "9" * 5000) == 416
            assert await status(f"/ipfs/{good}", Range="bytes=10-19") == 206
            assert await status(f"/ipfs/{good}?format=car&entity-bytes=0:" + "9" * 5000) == 400
            assert await status(f"/ipfs/{missing}?format=car") == 404  # before any 200 is sent
            assert await status(f"/ipfs/{too_deep}/a") == 422
            assert await status(f"/ipfs/{raw_child}/a") == 422
            assert await status(f"/ipfs/{too_deep}?format=car&dag-scope=entity") == "truncated"
            assert await status(f"/ipfs/{deep_file(store, 1500)}") == "truncated"
            # an identity CID inlining a 129-byte node (the limit is 128): a URL may not smuggle a DAG in
            over = "b" + base64.b32encode(b"\x01\x70\x00\x81\x01" + b"\0" * 129).decode().lower().rstrip("=")
            assert await status(f"/ipfs/{over}") == 400
    finally:
        await runner.cleanup()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def test_serve_memory_stays_bounded_under_many_slow_readers(tmp_path):
    """200 clients ask for a 64 MiB file and never read: ``serve``'s memory must not grow with them."""
    store = LocalStore(tmp_path / "store")
    big = add_bytes(os.urandom(64 << 20), KUBO_DEFAULT, store).cid
    # port 0: serve binds a free port itself and names it (a port probed free here could be taken before serve binds)
    server = subprocess.Popen([sys.executable, "-m", "etdb_explore", "serve", "--store", str(store.path), "--port",
                               "0"], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        serving = read_line(server, 60)
        assert "serving" in serving, serving
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", serving).group(1))
        before = _rss_mb(server.pid)
        sockets = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET /ipfs/{big} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            sockets.append(s)
        time.sleep(4)
        peak = _rss_mb(server.pid)
        for s in sockets:
            s.close()
        assert peak - before < 250, f"serve grew from {before:.0f} to {peak:.0f} MB under 200 slow readers"
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()



@pytest.mark.parametrize("car", [b"\x0b\xa1\x67version\x81\x01",  # {"version": [1]}
                                 b"\x89\x27" + b"\x81" * 5000 + b"\x01",  # 5,000 nested arrays
                                 bytes(range(200))])
def test_car_import_of_a_hostile_car_is_a_clear_error(car, tmp_path):
    path = tmp_path / "hostile.car"
    path.write_bytes(car)
    result = subprocess.run([sys.executable, "-m", "etdb_explore", "car", "import", str(path), "--store",
                             str(tmp_path / "store")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3 and "Traceback" not in result.stderr and result.stderr.startswith("etdb-explore:")

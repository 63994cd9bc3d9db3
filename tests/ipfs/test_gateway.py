"""``serve`` and the gateway client over real HTTP on 127.0.0.1, including gateways that lie."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import quote

import aiohttp
import pytest
import yarl

from etdb_explore.errors import BlockNotFoundError, SourceError
from etdb_explore.ipfs.build.importer import (
    KUBO_CIDV1,
    KUBO_DEFAULT,
    Profile,
    add_bytes,
)
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.formats.car import read_car, section_head
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.ipfs.sources.base import MultiSource
from etdb_explore.ipfs.sources.gateway import GatewaySource, discover_gateways
from etdb_explore.ipfs.sources.store import LocalStore

from .conftest import check_conformance_reads, expected_files, kubo_content
from .lying_gateway import LyingGateway

BIG = kubo_content("gateway", 9 * 262144 + 321)


@pytest.fixture
async def served(conformance_store):
    store, roots = conformance_store
    big = add_bytes(BIG, KUBO_DEFAULT, store).cid
    runner, url = await start_server(store)
    yield store, roots, url, big
    await runner.cleanup()


@pytest.mark.parametrize("car_min_bytes", [1 << 20, 0], ids=["raw-blocks", "car-ranges"])
async def test_every_conformance_file_and_many_ranges_through_the_gateway_client(served, conformance, car_min_bytes):
    """Served by ``serve``, read back over HTTP: small ranges as raw blocks, or every range as a CAR stream with
    ``entity-bytes`` (car_min_bytes=0)."""
    _, roots, url, _ = served
    gateway = GatewaySource([url])
    await check_conformance_reads(UnixFSReader(gateway, car_min_bytes=car_min_bytes), roots, conformance)
    await gateway.close()


async def test_every_conformance_file_over_the_path_gateway(served, conformance):
    _, roots, url, _ = served
    async with aiohttp.ClientSession() as http:
        for (car, path), content in expected_files(conformance).items():
            address = yarl.URL(f"{url}/ipfs/{roots[car]}/{quote(path)}", encoded=True)
            async with http.get(address) as resp:  # the path gateway too
                assert resp.status == 200 and await resp.read() == content
                assert resp.headers["Cache-Control"].endswith("immutable")
            for a, b in ((0, 1), (3, min(11, len(content))), (len(content) - 5, len(content))):
                async with http.get(address, headers={"Range": f"bytes={a}-{b - 1}"}) as r:
                    assert r.status == 206 and await r.read() == content[a:b]
                    assert r.headers["Content-Range"] == f"bytes {a}-{b - 1}/{len(content)}"


async def test_trustless_responses(served, conformance):
    store, roots, url, _ = served
    root = roots["dir-with-files"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/ipfs/{root}?format=raw") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/vnd.ipld.raw"
            assert CID.decode(root).matches(await r.read())
        async with http.get(f"{url}/ipfs/{root}", headers={"Accept": "application/vnd.ipld.car"}) as r:
            car_roots, blocks = read_car(await r.read())
            assert car_roots == [CID.decode(root)] and len(blocks) == 9  # the whole DAG, every block once
            assert r.headers["Content-Type"].startswith("application/vnd.ipld.car; version=1; order=dfs")
        async with http.get(f"{url}/ipfs/{root}/multiblock.txt?format=car&dag-scope=block") as r:
            _, blocks = read_car(await r.read())
            assert [str(c) for c, _ in blocks] == [root, r.headers["X-Ipfs-Roots"]]
        async with http.get(f"{url}/ipfs/{root}/multiblock.txt?format=car&dag-scope=entity&entity-bytes=300:600") as r:
            _, blocks = read_car(await r.read())
            assert len(blocks) == 1 + 1 + 2  # the directory, the file node, the two 256-byte leaves covering 300..600
        for bad, status in (("notacid", 400), (f"{root}/nope", 404), (str(CID.for_block(b"absent")), 404),
                            (f"{root}?format=car&dag-scope=sideways", 400),
                            (f"{root}/hello.txt?format=car&entity-bytes=x", 400)):
            async with http.get(f"{url}/ipfs/{bad}") as r:
                assert r.status == status, bad
                assert status != 400 or "notacid" not in bad or "'notacid' is not a CID" in await r.text()
        async with http.head(f"{url}/ipfs/{root}/hello.txt") as r:
            assert r.status == 200 and r.headers["Content-Length"] == "12" and await r.read() == b""
        async with http.get(f"{url}/ipfs/{root}/hello.txt", headers={"Range": "bytes=50-60"}) as r:
            assert r.status == 416


async def test_large_range_uses_one_car_request(served):
    store, _, url, big = served
    async with LyingGateway(url, "honest") as proxy:
        gateway = GatewaySource([proxy.url])
        a, b = 262144 * 2 + 7, 262144 * 7 - 3
        assert await UnixFSReader(gateway).read(big, a, b) == BIG[a:b]
        assert proxy.requests <= 2  # the root node, then one CAR
        assert gateway.bytes_received < (b - a) + 2 * 262144 + 4096
        await gateway.close()


class _CountingExecutor(ThreadPoolExecutor):
    """A default executor that counts the work handed to its threads."""

    submitted = 0

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[no-untyped-def]
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@contextlib.contextmanager
def _served_apart(store: LocalStore) -> Iterator[str]:
    """``serve`` over ``store`` on an event loop of its own thread (its store reads use that loop's threads)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner, url = asyncio.run_coroutine_threadsafe(start_server(store), loop).result()
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def test_a_car_stream_is_verified_as_it_arrives_without_thread_hand_offs(tmp_path):
    """Each block of a large range's CAR stream is checked against its CID on the event loop as it is cut out: a
    hand-off to a worker thread per piece received costs more CPU than hashing it (benchmarks/bench_ipfs.py)."""
    store = LocalStore(tmp_path / "store")
    big = add_bytes(BIG, KUBO_DEFAULT, store).cid

    async def read(url: str, executor: _CountingExecutor) -> bytes:
        asyncio.get_running_loop().set_default_executor(executor)
        gateway = GatewaySource([url])
        try:
            return await UnixFSReader(gateway).read(big, 7, len(BIG) - 5)
        finally:
            await gateway.close()

    with _served_apart(store) as url:
        executor = _CountingExecutor(2)
        assert asyncio.run(read(url, executor)) == BIG[7:-5]
    assert executor.submitted == 0


def test_a_car_stream_arms_no_timer_per_piece_received(tmp_path):
    """A CAR stream's deadline is one StallGuard (the answer, then each block): aiohttp's own read timeout, which
    re-arms a timer for every piece the socket delivers, is not used (benchmarks/bench_ipfs.py: client CPU)."""
    store = LocalStore(tmp_path / "store")
    big = add_bytes(BIG, KUBO_DEFAULT, store).cid
    armed: list[object] = []

    async def read(url: str) -> bytes:
        loop = asyncio.get_running_loop()
        call_at = loop.call_at

        def counting_call_at(when, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
            armed.append(callback)
            return call_at(when, callback, *args, **kwargs)

        gateway = GatewaySource([url])
        try:
            await gateway._client()  # the session, outside the count
            loop.call_at = counting_call_at  # type: ignore[method-assign]
            return await UnixFSReader(gateway).read(big, 7, len(BIG) - 5)
        finally:
            del loop.call_at
            await gateway.close()

    with _served_apart(store) as url:
        assert asyncio.run(read(url)) == BIG[7:-5]
    assert len(armed) < 10, armed  # the connection's and the guard's; not one per piece of 2.3 MB


class _SplitChunkGateway:
    """A gateway on 127.0.0.1 that answers every request with one CAR, in HTTP chunks whose bytes arrive before the
    CRLF that ends them (as when a TCP segment ends between the two): the client's HTTP parser then reports the end
    of a chunk after its bytes were read, an empty read that is not the end of the body. Raw sockets, so the framing
    is exactly this."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.requests: list[bytes] = []

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.requests.append((await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")[0])
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.ipld.car; version=1; order=dfs; dups=n\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            for piece in self.pieces:
                writer.write(b"%x\r\n" % len(piece) + piece)
                await writer.drain()
                await asyncio.sleep(0.01)  # the client reads the bytes; the chunk's end comes later
                writer.write(b"\r\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


async def test_the_end_of_an_http_chunk_read_after_its_bytes_does_not_end_a_car_stream(served):
    _, _, url, big = served
    async with aiohttp.ClientSession() as session, session.get(
            f"{url}/ipfs/{big}?format=car&dag-scope=entity&entity-bytes=0:*",
            headers={"Accept": "application/vnd.ipld.car"}) as response:
        car = await response.read()
    _, blocks = read_car(car)
    pieces = [car[:len(car) - sum(len(section_head(c, b)) + len(b) for c, b in blocks)]]
    pieces += [part for c, b in blocks for part in (section_head(c, b), b)]  # as serve writes them
    assert b"".join(pieces) == car
    split = _SplitChunkGateway(pieces)
    async with split as split_url:
        gateway = GatewaySource([split_url])
        try:
            assert await UnixFSReader(gateway).read(big) == BIG
        finally:
            await gateway.close()
    assert len(split.requests) == 1, split.requests  # one CAR, read to its end: no fall-back requests
    assert gateway.gateways[0].errors == []


@pytest.mark.parametrize("profile", [KUBO_DEFAULT, KUBO_CIDV1], ids=["dag-pb-leaves", "raw-leaves"])
async def test_deep_file_with_repeated_leaves_streams_from_one_car(served, profile):
    """Three DAG levels, runs of identical leaves and a leaf repeated far apart: one CAR (sent with dups=n) serves
    the whole read, in walk order, with no block fetched a second time."""
    store, _, url, _ = served
    chunk = 1024
    zeros, ones = bytes(chunk), b"\x01" * chunk
    data = bytearray(kubo_content("deep", 2600 * chunk))
    data[10 * chunk:20 * chunk] = zeros * 10  # a run of one leaf
    data[5 * chunk:6 * chunk] = ones
    data[2500 * chunk:2501 * chunk] = ones  # the same leaf again, beyond the reader's cache of recent blocks
    tiny = Profile(profile.cid_version, profile.raw_leaves, chunk_size=chunk, max_links=16)
    root = add_bytes(bytes(data), tiny, store).cid
    async with LyingGateway(url, "honest") as proxy:
        gateway = GatewaySource([proxy.url])
        assert await UnixFSReader(gateway).read(root) == data
        assert proxy.requests == 2, proxy.paths  # one CAR for the file, one raw block for the leaf sent only once
        assert gateway.bytes_received < 1.15 * len(data)  # CAR framing and interior nodes of 1 KiB leaves, once
        await gateway.close()


@pytest.mark.parametrize("mode", ["flip", "truncate", "other", "drop", "500", "stall"])
async def test_lying_gateway_is_caught_and_the_read_completes(served, mode):
    store, roots, url, big = served
    async with LyingGateway(url, mode) as liar:
        gateway = GatewaySource([liar.url, url], timeout=0.5)
        reader = UnixFSReader(gateway)
        for a, b in ((0, len(BIG)), (5, 300_000), (262144 * 3, 262144 * 3 + 10)):
            assert await reader.read(big, a, b) == BIG[a:b]
        assert await reader.read(roots["dir-with-files"], path="hello.txt") == b"hello world\n"
        assert liar.requests >= 1
        liar_state = next(g for g in gateway.gateways if g.url == liar.url)
        assert liar_state.failures >= 1 and liar_state.errors
        await gateway.close()


@pytest.mark.parametrize("mode", ["flip", "truncate", "other", "500"])
async def test_a_lone_liar_never_gets_corrupt_bytes_through(served, mode):
    _, _, url, big = served
    async with LyingGateway(url, mode) as liar:
        gateway = GatewaySource([liar.url], timeout=0.5, attempts=2)
        with pytest.raises(SourceError, match=str(big)):
            await UnixFSReader(gateway).read(big, 0, 100)
        await gateway.close()


async def test_429_retry_after_is_honoured(served):
    _, roots, url, _ = served
    async with LyingGateway(url, "429", retry_after="30") as busy:
        gateway = GatewaySource([busy.url, url])
        reader = UnixFSReader(gateway)
        assert await reader.read(roots["dir-with-files"], path="hello.txt") == b"hello world\n"
        assert busy.requests == 1  # after the 429 it is left alone for 30 s
        assert await reader.read(roots["dir-with-files"], path="ascii.txt") == b"hello application/vnd.ipld.car\n"
        assert busy.requests == 1
        await gateway.close()


async def test_dead_gateway_and_missing_block_are_clear_errors(served, unused_tcp_port):
    _, _, url, _ = served
    dead = GatewaySource([f"http://127.0.0.1:{unused_tcp_port}"], attempts=2, timeout=1)
    with pytest.raises(SourceError, match="127.0.0.1"):
        await dead.get(CID.for_block(b"x"))
    await dead.close()
    live = GatewaySource([url])
    with pytest.raises(BlockNotFoundError, match="not found"):
        await live.get(CID.for_block(b"absent"))
    await live.close()


async def test_local_first_then_gateway(served, tmp_path):
    store, roots, url, big = served
    local = LocalStore(tmp_path / "empty")
    gateway = GatewaySource([url])
    multi = MultiSource([local, gateway])
    assert await UnixFSReader(multi).read(big, 10, 2_000_000) == BIG[10:2_000_000]
    assert gateway.bytes_received > 0
    await gateway.close()


def test_gateway_discovery(monkeypatch, tmp_path):
    monkeypatch.setenv("IPFS_GATEWAY", "http://127.0.0.1:1/, http://127.0.0.1:2")
    assert discover_gateways() == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert discover_gateways("http://127.0.0.1:3/") == ["http://127.0.0.1:3"]
    monkeypatch.delenv("IPFS_GATEWAY")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ipfs").mkdir()
    (tmp_path / ".ipfs" / "gateway").write_text("http://127.0.0.1:4\n")
    assert discover_gateways() == ["http://127.0.0.1:4"]


def test_gateway_source_pickles_as_configuration():
    import pickle

    source = pickle.loads(pickle.dumps(GatewaySource(["http://127.0.0.1:9"], concurrency=3, timeout=2)))
    assert [g.url for g in source.gateways] == ["http://127.0.0.1:9"] and source.concurrency == 3




async def test_serve_on_ipv6_loopback_reports_a_usable_url(conformance_store):
    store, roots = conformance_store
    runner, url = await start_server(store, host="::1")
    try:
        assert url.startswith("http://[::1]:")
        async with aiohttp.ClientSession() as http, http.get(f"{url}/ipfs/{roots['dir-with-files']}/hello.txt") as r:
            assert r.status == 200 and await r.read() == b"hello world\n"
    finally:
        await runner.cleanup()


class _HeldStore:
    """A block source that holds back one block until the test lets it go."""

    def __init__(self, store: LocalStore, held: CID) -> None:
        self.store, self.held, self.name = store, held, store.name
        self.asked, self.release = asyncio.Event(), asyncio.Event()

    async def get(self, cid: CID) -> bytes:
        if cid == self.held:
            self.asked.set()
            await self.release.wait()
        return await self.store.get(cid)


@pytest.mark.parametrize("query", ["?format=car", ""], ids=["car", "path"])
async def test_a_client_gone_before_the_answer_begins_is_no_server_error(served, query, caplog):
    store, _, _, big = served
    held = _HeldStore(store, big)
    runner, url = await start_server(held)
    try:
        async with aiohttp.ClientSession() as http:
            request = asyncio.ensure_future(http.get(f"{url}/ipfs/{big}{query}"))
            await asyncio.wait_for(held.asked.wait(), 10)
            request.cancel()  # the client leaves while the server still looks for the root
            with contextlib.suppress(asyncio.CancelledError):
                await request
        await asyncio.sleep(0.1)
        with caplog.at_level(logging.DEBUG, logger="aiohttp"):
            held.release.set()
            await asyncio.sleep(0.3)
    finally:
        await runner.cleanup()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

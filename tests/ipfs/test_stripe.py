"""One large file read from several gateways at once (``serve`` behind real HTTP proxies on 127.0.0.1): the range is
striped across every gateway, a gateway that lies, stalls or dies mid-stripe is dropped with its reason, and the
bytes are the file's, verified."""

from __future__ import annotations

import asyncio

import pytest

from etdb_explore.content.client import Client
from etdb_explore.ipfs.build.importer import KUBO_DEFAULT, add_bytes
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.dag.stripe import Striping
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.ipfs.sources.gateway import GatewaySource
from etdb_explore.ipfs.sources.store import LocalStore

from .conftest import kubo_content
from .lying_gateway import LyingGateway

DATA = kubo_content("stripe", 40 * 262144 + 1234)  # 10 MiB and a bit: 41 leaves under one root
TIME_LIMIT = 30.0


@pytest.fixture
async def served(tmp_path):
    store = LocalStore(tmp_path / "store")
    cid = add_bytes(DATA, KUBO_DEFAULT, store).cid
    runner, url = await start_server(store)
    yield url, cid
    await runner.cleanup()


def _car_requests(gateway: LyingGateway) -> list[str]:
    return [p for p in gateway.paths if "entity-bytes" in p]


async def test_a_large_range_is_striped_across_every_gateway(served):
    url, cid = served
    async with LyingGateway(url, "honest") as a, LyingGateway(url, "honest") as b, \
            LyingGateway(url, "honest") as c:
        source = GatewaySource([a.url, b.url, c.url])
        try:
            reader = UnixFSReader(source)
            assert await asyncio.wait_for(reader.read(cid), TIME_LIMIT) == DATA
            assert await asyncio.wait_for(reader.read(cid, 1_000_001, 9_000_000), TIME_LIMIT) == \
                DATA[1_000_001:9_000_000]
        finally:
            await source.close()
        assert all(len(_car_requests(g)) >= 2 for g in (a, b, c)), [g.paths for g in (a, b, c)]
        assert reader.dropped == {}
        # stripes start on leaf boundaries; what a stripe's far part (taken by another gateway) costs is bounded
        assert source.bytes_received < 1.3 * (len(DATA) + 8_000_000), source.bytes_received


@pytest.mark.parametrize("bad", [("flip",), ("stall",), ("die",), ("flip", "stall", "die")],
                         ids=["lying", "stalling", "dying", "all-three"])
async def test_a_gateway_that_lies_stalls_or_dies_is_dropped_and_the_read_completes(served, bad):
    url, cid = served
    async with LyingGateway(url, "honest") as good1, LyingGateway(url, "honest") as good2:
        liars = [LyingGateway(url, mode) for mode in bad]
        for liar in liars:
            await liar.__aenter__()
        try:
            source = GatewaySource([liar.url for liar in liars] + [good1.url, good2.url], timeout=20)
            # the stall deadline must catch the stalling gateway long before its 20 s timeout, and never the others:
            # client, gateways and serve share one event loop here, and on a busy machine one lane's bytes can wait
            # half a second behind the others' while none of them stalls
            reader = UnixFSReader(source, striping=Striping(stall_after=2.0))
            try:
                started = asyncio.get_running_loop().time()
                assert await asyncio.wait_for(reader.read(cid), TIME_LIMIT) == DATA
                elapsed = asyncio.get_running_loop().time() - started
            finally:
                await source.close()
        finally:
            for liar in liars:
                await liar.__aexit__(None, None, None)
        assert set(reader.dropped) == {liar.url for liar in liars}, reader.dropped
        for liar in liars:
            assert _car_requests(liar), liar.paths  # it was given a stripe
            reason = reader.dropped[liar.url]
            expected = {"flip": "does not match", "stall": "stalled", "die": liar.url}[liar.mode]
            assert expected in reason or "ServerDisconnected" in reason or "Connection" in reason, reason
        assert elapsed < 10, elapsed  # the stalled gateway's 20 s timeout never held the read
        assert _car_requests(good1) and _car_requests(good2)


async def test_lazy_reads_and_downloads_stripe_through_the_client(served, tmp_path):
    """A large range read of an IpfsFile (what lazy volumes do) through a Client over several gateways."""
    url, cid = served
    async with LyingGateway(url, "honest") as a, LyingGateway(url, "honest") as b:
        with Client(tmp_path / "empty", gateways=[a.url, b.url]) as client:
            handle = await client.afile(f"/ipfs/{cid}")
            assert await handle.read(3_000_000, 6_000_000) == DATA[3_000_000:6_000_000]
        assert _car_requests(a) and _car_requests(b)


async def test_a_local_store_holding_the_file_is_read_without_striping(served, tmp_path):
    url, cid = served
    store = LocalStore(tmp_path / "local")
    add_bytes(DATA, KUBO_DEFAULT, store)
    async with LyingGateway(url, "honest") as a, LyingGateway(url, "honest") as b:
        with Client(store, gateways=[a.url, b.url]) as client:
            assert await client.aread(f"/ipfs/{cid}") == DATA
        assert a.requests == b.requests == 0


async def test_a_section_past_a_leaf_boundary_is_read_in_one_round_trip_after_the_head(served, tmp_path):
    """What opening a remote MRC and reading one section costs: the head (one CAR), then every stripe of the
    section's 2 MiB at once. A section starts 1024 bytes (the MRC header) past a leaf boundary, so its range cuts
    into one piece more than the requests sent at once; that piece must not wait for a third round trip."""
    url, cid = served
    start = 5 * 262144 + 1024
    async with LyingGateway(url, "honest") as a, LyingGateway(url, "honest") as b, \
            LyingGateway(url, "honest") as c, LyingGateway(url, "honest") as d:
        gateways = (a, b, c, d)
        with Client(tmp_path / "empty", gateways=[g.url for g in gateways]) as client:
            handle = await client.afile(f"/ipfs/{cid}")  # the head
            head = sum(g.requests for g in gateways)
            assert await handle.read(start, start + (2 << 20)) == DATA[start:start + (2 << 20)]
        section = sum(g.requests for g in gateways) - head
        wave = len(gateways) * Striping().per_lane  # requests in flight at once: all sent before any answer
        assert head == 1, [g.paths for g in gateways]
        assert section <= wave, [g.paths for g in gateways]  # one more waits for an answer: a third round trip
        assert all(_car_requests(g) for g in gateways)

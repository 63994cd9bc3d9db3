"""Slow, endless, oversized, redirecting and malformed gateways next to an honest one: every read completes from
the honest gateway in bounded time and memory, and the hostile gateway is marked unhealthy or slow."""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest

from etdb_explore.content.client import Client
from etdb_explore.errors import SourceError
from etdb_explore.ipfs.build.importer import KUBO_DEFAULT, add_bytes
from etdb_explore.ipfs.dag.reader import ByteRangeError
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.ipfs.sources.gateway import CAR_OVERHEAD, GatewaySource
from etdb_explore.ipfs.sources.store import LocalStore

from .hostile_gateway import MODES, HostileGateway
from .lying_gateway import LyingGateway

SIZE = 6 << 20
TIME_LIMIT = 20.0  # seconds for every read of one test against one hostile gateway
MEMORY_LIMIT = 96 << 20
T = TypeVar("T")
NOTED = {  # what the hostile gateway is marked for, by mode (a dripping one loses the race to the honest one)
    "drip": "slower than another gateway", "mute": "slower than another gateway", "endless-car": "larger than",
    "endless-raw": "larger than", "redirect": "another origin", "bad-header": "does not match",
}


@pytest.fixture
async def honest(tmp_path):
    store = LocalStore(tmp_path / "store")
    data = os.urandom(SIZE)
    cid = add_bytes(data, KUBO_DEFAULT, store).cid
    runner, url = await start_server(store)
    yield url, cid, data
    await runner.cleanup()


@pytest.mark.parametrize("mode", MODES)
async def test_reads_complete_from_the_honest_gateway(mode, honest, tmp_path):
    url, cid, data = honest
    async with LyingGateway(url, "honest") as elsewhere, HostileGateway(mode, other=elsewhere.url) as hostile:
        source = GatewaySource([hostile.url, url])
        tracemalloc.start()
        started = time.monotonic()
        try:
            reader = Client(tmp_path / "empty", sources=[source]).reader
            middle = await asyncio.wait_for(reader.read(cid, SIZE // 2, SIZE // 2 + 100_000), TIME_LIMIT)
            whole = await asyncio.wait_for(reader.read(cid), TIME_LIMIT)
            stat, head = await asyncio.wait_for(reader.head(cid), TIME_LIMIT)
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await source.close()
        assert middle == data[SIZE // 2:SIZE // 2 + 100_000] and whole == data and head == data[:len(head)]
        assert stat.size == SIZE
        assert elapsed < TIME_LIMIT and peak < MEMORY_LIMIT, (elapsed, peak)
        assert elsewhere.requests == 0  # a redirect to another origin is not followed
        noted = " | ".join(source.gateways[0].errors)
        assert NOTED[mode] in noted, f"{mode}: {noted}"


async def test_a_single_endless_gateway_fails_in_bounded_time(honest):
    _, cid, _ = honest
    async with HostileGateway("endless-raw") as hostile:
        source = GatewaySource([hostile.url], attempts=2)
        tracemalloc.start()
        try:
            with pytest.raises(SourceError, match="larger than"):
                await asyncio.wait_for(source.get(cid), TIME_LIMIT)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await source.close()
        assert peak < 16 << 20, peak


async def _all(stream: AsyncIterator[T]) -> list[T]:
    return [item async for item in stream]


@pytest.mark.parametrize("mode, noted", [("drip", "no complete block for 2 s"), ("mute", "no answer"),
                                         ("endless-car", f"sent over {2 * (1 << 20) + CAR_OVERHEAD} bytes"),
                                         ("bad-header", "CAR header without an integer version")])
async def test_a_car_stream_that_drips_never_ends_or_is_malformed_is_abandoned(mode, noted, honest):
    _, cid, _ = honest
    async with HostileGateway(mode) as hostile:
        source = GatewaySource([hostile.url], timeout=2)
        tracemalloc.start()
        started = time.monotonic()
        try:
            blocks = await asyncio.wait_for(_all(source.car_range(cid, 0, 1 << 20)), TIME_LIMIT)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await source.close()
        assert blocks == [] or all(c != cid for c, _ in blocks)
        assert time.monotonic() - started < 6 and peak < 32 << 20, peak
        assert noted in source.gateways[0].errors[-1]


async def test_an_endless_stream_of_unrelated_blocks_is_abandoned_for_a_whole_file_read(honest, tmp_path):
    """Reading to the end of a file asks for a CAR with no upper bound, so no byte cap applies: the reader stops
    listening once the stream has sent 16 MiB of blocks it never asked for, and reads on from the honest gateway."""
    url, cid, data = honest
    async with HostileGateway("endless-car") as hostile:
        source = GatewaySource([hostile.url, url])
        tracemalloc.start()
        try:
            reader = Client(tmp_path / "empty", sources=[source]).reader
            assert await asyncio.wait_for(reader.read(cid), TIME_LIMIT) == data
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await source.close()
        assert peak < MEMORY_LIMIT and hostile.bytes_sent < 64 << 20, (peak, hostile.bytes_sent)


async def test_reading_past_the_end_is_an_etdb_error_naming_the_file(honest, tmp_path):
    url, cid, _ = honest
    source = GatewaySource([url])
    try:
        with pytest.raises(ByteRangeError, match=f"of {cid}, a file of {SIZE} bytes"):
            await Client(tmp_path / "empty", sources=[source]).reader.read(cid, SIZE + 10, SIZE + 20)
    finally:
        await source.close()


async def test_a_race_of_several_slow_gateways_waits_without_spinning(honest):
    """Two dripping gateways before the honest one: each joins the race after the hedge delay, and the waiting in
    between costs no CPU (a wake-up time computed from the earliest attempt instead of the latest spun the loop)."""
    url, cid, _ = honest
    async with HostileGateway("drip") as first, HostileGateway("drip") as second:
        source = GatewaySource([first.url, second.url, url])
        try:
            cpu, started = time.process_time(), time.monotonic()
            block = await asyncio.wait_for(source.get(cid), TIME_LIMIT)
            cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
        finally:
            await source.close()
        assert cid.matches(block) and first.requests == second.requests == 1
        assert elapsed >= 0.9 and cpu < 0.25, (cpu, elapsed)  # spinning cost about 0.5 s of CPU here

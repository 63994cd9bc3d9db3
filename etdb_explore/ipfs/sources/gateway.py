"""Trustless HTTP gateways as a block source: raw blocks for small reads, CAR streams for large ranges.

Several gateways are used together: the fastest healthy one first (latency as a moving average), a per-gateway
limit on concurrent requests, fail-over on any error, and ``429``/``Retry-After`` honoured. Nothing a gateway sends
is trusted: every block is checked against its CID, and a gateway that lies is marked unhealthy.

Gateways come from the arguments, else ``IPFS_GATEWAY`` (comma or space separated), else ``~/.ipfs/gateway``
(IPIP-280), else the public trustless gateways.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp

from etdb_explore.errors import BlockNotFoundError, SourceError, VerificationError
from etdb_explore.ipfs.formats.car import CarError, CarReader
from etdb_explore.ipfs.formats.cid import CID

PUBLIC_GATEWAYS = ("https://trustless-gateway.link", "https://ipfs.io")
RAW_ACCEPT = "application/vnd.ipld.raw"
CAR_ACCEPT = "application/vnd.ipld.car; version=1; order=dfs; dups=n"
UNHEALTHY_SECONDS = 30.0
MAX_RETRY_AFTER = 120.0
READ_BUFFER = 1 << 20  # lets the socket keep filling while blocks are verified


def discover_gateways(explicit: list[str] | tuple[str, ...] | str | None = None) -> list[str]:
    """Gateway base URLs: explicit ones, else IPFS_GATEWAY, else ~/.ipfs/gateway, else the public defaults."""
    if isinstance(explicit, str):
        explicit = [explicit]
    if explicit:
        return [g.rstrip("/") for g in explicit]
    env = os.environ.get("IPFS_GATEWAY", "").replace(",", " ").split()
    if env:
        return [g.rstrip("/") for g in env]
    conf = Path.home() / ".ipfs" / "gateway"
    if conf.is_file():
        lines = [line.strip() for line in conf.read_text().splitlines() if line.strip()]
        if lines:
            return [lines[0].rstrip("/")]
    return list(PUBLIC_GATEWAYS)


@dataclass
class _Gateway:
    url: str
    limit: asyncio.Semaphore | None = None
    latency: float = 0.0  # moving average of seconds per raw block
    unhealthy_until: float = 0.0
    busy_until: float = 0.0  # from Retry-After
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        self.errors = [*self.errors[-19:], message]

    def fail(self, message: str, seconds: float = UNHEALTHY_SECONDS) -> None:
        self.failures += 1
        self.unhealthy_until = time.monotonic() + seconds * min(self.failures, 4)
        self.note(message)


def _verify_all(blocks: list[tuple[CID, bytes]], source: str) -> None:
    for cid, block in blocks:
        cid.verify(block, source)


class GatewaySource:
    """A BlockSource over one or more trustless gateways."""

    def __init__(self, gateways: list[str] | tuple[str, ...] | str | None = None, *, concurrency: int = 16,
                 timeout: float = 30.0, attempts: int | None = None) -> None:
        urls = discover_gateways(gateways)
        self.concurrency = concurrency
        self.timeout = timeout
        self.attempts = attempts or max(3, 2 * len(urls))
        self.gateways = [_Gateway(u) for u in urls]
        self.name = "gateways " + ", ".join(urls)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.bytes_received = 0

    def __reduce__(self) -> tuple:
        """Pickles as its configuration (for dask workers); sessions are made anew where it lands."""
        return (functools.partial(GatewaySource, concurrency=self.concurrency, timeout=self.timeout),
                ([g.url for g in self.gateways],))

    async def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(self.timeout, 10), sock_read=self.timeout),
                connector=aiohttp.TCPConnector(limit=0), auto_decompress=False, read_bufsize=READ_BUFFER)
            self._loop = loop
            for g in self.gateways:
                g.limit = asyncio.Semaphore(self.concurrency)
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None

    def _ranked(self) -> list[_Gateway]:
        now = time.monotonic()
        healthy = sorted((g for g in self.gateways if g.unhealthy_until <= now and g.busy_until <= now),
                         key=lambda g: g.latency)
        waiting = sorted((g for g in self.gateways if g not in healthy),
                         key=lambda g: max(g.unhealthy_until, g.busy_until))
        return healthy + waiting

    async def _wait_if_busy(self, gateway: _Gateway) -> None:
        delay = gateway.busy_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(min(delay, MAX_RETRY_AFTER))

    def _retry_after(self, gateway: _Gateway, response: aiohttp.ClientResponse) -> None:
        value = response.headers.get("Retry-After", "1")
        try:
            seconds = float(value)
        except ValueError:
            seconds = 1.0
        gateway.busy_until = time.monotonic() + min(max(seconds, 0.0), MAX_RETRY_AFTER)
        gateway.note(f"429 Too Many Requests, Retry-After {value}")

    # ---- raw blocks ---------------------------------------------------------------------------------------------

    async def get(self, cid: CID) -> bytes:
        """One verified block (``?format=raw``), from the best gateway that answers truthfully."""
        if cid.is_inline:
            return cid.digest
        session = await self._client()
        missing: list[str] = []
        for attempt in range(self.attempts):
            ranked = [g for g in self._ranked() if g.url not in missing] or self._ranked()
            gateway = ranked[0]
            await self._wait_if_busy(gateway)
            url = f"{gateway.url}/ipfs/{cid}?format=raw"
            started = time.monotonic()
            try:
                assert gateway.limit is not None
                async with gateway.limit, session.get(url, headers={"Accept": RAW_ACCEPT}) as response:
                    if response.status == 429:
                        self._retry_after(gateway, response)
                        continue
                    if response.status in (404, 410):
                        missing.append(gateway.url)
                        if len(missing) == len(self.gateways):
                            break
                        continue
                    if response.status != 200:
                        gateway.fail(f"HTTP {response.status} for {cid}")
                        continue
                    block = await response.read()
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                gateway.fail(f"{type(exc).__name__} for {cid}: {exc}")
                continue
            self.bytes_received += len(block)
            if not cid.matches(block):
                gateway.fail(f"sent a block that does not match {cid}", UNHEALTHY_SECONDS * 4)
                continue
            elapsed = time.monotonic() - started
            gateway.latency = elapsed if not gateway.latency else 0.8 * gateway.latency + 0.2 * elapsed
            gateway.failures = 0
            return block
        if missing and len(missing) == len(self.gateways):
            raise BlockNotFoundError(f"block {cid}: not found on {', '.join(missing)}")
        details = "; ".join(f"{g.url}: {g.errors[-1]}" for g in self.gateways if g.errors)
        raise SourceError(f"block {cid}: no gateway delivered it after {self.attempts} attempts ({details})")

    # ---- CAR ranges ---------------------------------------------------------------------------------------------

    async def car_range(self, cid: CID, start: int, end: int | None,
                        path: str = "") -> AsyncIterator[tuple[CID, bytes]]:
        """Verified blocks of file ``cid/path`` covering bytes [start, end), in DFS order, from one CAR request:
        the blocks that resolve ``path`` first, then the file's root and the subtree of the range.

        A lying or failing gateway ends the stream early (and is marked unhealthy); callers fetch what is still
        missing block by block.
        """
        session = await self._client()
        gateway = self._ranked()[0]
        await self._wait_if_busy(gateway)
        reader = CarReader(f"{gateway.url} (CAR of {cid})", verify=False)
        end_param = "*" if end is None else end - 1
        try:
            target = f"{cid}/{quote(path.strip('/'))}".rstrip("/")
            url = f"{gateway.url}/ipfs/{target}?format=car&dag-scope=entity&entity-bytes={start}:{end_param}"
            async with session.get(url, headers={"Accept": CAR_ACCEPT}) as response:
                if response.status == 429:
                    self._retry_after(gateway, response)
                    return
                if response.status != 200:
                    gateway.fail(f"HTTP {response.status} for CAR of {cid}")
                    return
                async for chunk in response.content.iter_any():
                    self.bytes_received += len(chunk)
                    blocks = list(reader.feed(chunk))
                    if blocks:  # hashing releases the GIL: verify off the event loop while the socket fills
                        await asyncio.to_thread(_verify_all, blocks, reader.source)
                    for item in blocks:
                        yield item
                reader.close()
        except (VerificationError, CarError) as exc:
            gateway.fail(str(exc), UNHEALTHY_SECONDS * 4)
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
            gateway.fail(f"{type(exc).__name__} during CAR of {cid}: {exc}")

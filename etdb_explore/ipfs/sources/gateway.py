"""Trustless HTTP gateways as a block source: raw blocks for small reads, CAR streams for large ranges.

Several gateways are used together: the fastest healthy one first (latency as a moving average), a per-gateway
limit on concurrent requests, fail-over on any error, and ``429``/``Retry-After`` honoured. Nothing a gateway sends
is trusted: every block is checked against its CID, and a gateway that lies is marked unhealthy.

Gateways come from the arguments, else ``IPFS_GATEWAY`` (comma or space separated), else ``~/.ipfs/gateway``
(IPIP-280), else the public trustless gateways.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp
from yarl import URL

from etdb_explore.errors import BlockNotFoundError, SourceError, VerificationError
from etdb_explore.ipfs.formats.car import CarError, CarReader
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.base import CarStream
from etdb_explore.util.bodies import StallGuard
from etdb_explore.util.loopbound import LoopBound

PUBLIC_GATEWAYS = ("https://trustless-gateway.link", "https://ipfs.io")
RAW_ACCEPT = "application/vnd.ipld.raw"
CAR_ACCEPT = "application/vnd.ipld.car; version=1; order=dfs; dups=n"
UNHEALTHY_SECONDS = 30.0
MAX_RETRY_AFTER = 120.0
READ_BUFFER = 1 << 20  # lets the socket keep filling while blocks are verified
MAX_BLOCK = 2 << 20  # the IPFS spec's largest block: a raw response may never be longer
HEDGE_AFTER = 0.5  # a raw request not answered after max(this, 3 × the gateway's usual latency) is raced
MAX_REDIRECTS = 3
CAR_OVERHEAD = 4 << 20  # a range's CAR: its bytes, plus path blocks, interior nodes and section headers


def discover_gateways(explicit: list[str] | tuple[str, ...] | str | None = None) -> list[str]:
    """The gateways to use.

    Returns:
        Base URLs without a trailing slash: ``explicit``, else ``IPFS_GATEWAY`` (comma or space separated), else
        the first line of ``~/.ipfs/gateway``, else the public trustless gateways.
    """
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

    def succeed(self, elapsed: float) -> None:
        self.latency = elapsed if not self.latency else 0.8 * self.latency + 0.2 * elapsed
        self.failures = 0

    def lost_race(self, elapsed: float) -> None:
        """Another gateway answered first: rank this one by how long it kept us waiting."""
        self.latency = max(self.latency, elapsed)
        self.note(f"slower than another gateway (no answer after {elapsed:.1f} s)")


class _Refused(Exception):
    """A gateway's response is refused; ``args[0]`` says why (the gateway is marked unhealthy)."""


def _hedge_due(racing: dict[asyncio.Task[bytes | str], tuple[_Gateway, float]]) -> float:
    """When another gateway may join a race for a block: once every attempt in it has waited
    max(``HEDGE_AFTER``, 3× its gateway's usual latency) without an answer."""
    return max(started + max(HEDGE_AFTER, 3 * gateway.latency) for gateway, started in racing.values())


class GatewaySource:
    """A BlockSource over one or more trustless gateways.

    Args:
        gateways: base URLs; None discovers them (``IPFS_GATEWAY``, ``~/.ipfs/gateway``, the public ones).
        concurrency: requests in flight per gateway.
        timeout: the longest a gateway may keep a read waiting: a raw block must arrive whole, and a CAR stream
            must complete its next block, within it; the read then goes on elsewhere.
        attempts: requests per block before giving up (default: twice the number of gateways, at least 3).
    """

    def __init__(self, gateways: list[str] | tuple[str, ...] | str | None = None, *, concurrency: int = 16,
                 timeout: float = 15.0, attempts: int | None = None) -> None:
        urls = discover_gateways(gateways)
        self.concurrency = concurrency
        self.timeout = timeout
        self.attempts = attempts or max(3, 2 * len(urls))
        self.gateways = [_Gateway(u) for u in urls]
        self.name = "gateways " + ", ".join(urls)
        self._session = LoopBound(f"the HTTP session of {self.name}", self._new_session, aiohttp.ClientSession.close)
        self.bytes_received = 0

    def __reduce__(self) -> tuple:
        """Pickles as its configuration (for dask workers); sessions are made anew where it lands."""
        return (functools.partial(GatewaySource, concurrency=self.concurrency, timeout=self.timeout),
                ([g.url for g in self.gateways],))

    def _new_session(self) -> aiohttp.ClientSession:
        """A session (and per-gateway limits) for the running loop."""
        for g in self.gateways:
            g.limit = asyncio.Semaphore(self.concurrency)
        # no sock_read timeout: aiohttp would re-arm it on every piece received; a raw block is bounded as a whole
        # (``_raw``) and a CAR stream by one StallGuard from request to last block (``_car_from``)
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(self.timeout, 10)),
            connector=aiohttp.TCPConnector(limit=0), auto_decompress=False, read_bufsize=READ_BUFFER)

    async def _client(self) -> aiohttp.ClientSession:
        return self._session.get()

    async def close(self) -> None:
        """Close the HTTP session, on the loop it was made on (a later request opens a new one).

        Raises:
            SourceError: the session is open on another event loop that is not running.
        """
        await self._session.aclose()

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

    @contextlib.asynccontextmanager
    async def _request(self, gateway: _Gateway, target: str, accept: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET ``<gateway>/ipfs/<target>``, following redirects only within the gateway's own origin."""
        session = await self._client()
        url = f"{gateway.url}/ipfs/{target}"
        for _ in range(MAX_REDIRECTS + 1):
            async with session.get(url, headers={"Accept": accept}, allow_redirects=False) as response:
                if response.status not in (301, 302, 303, 307, 308):
                    yield response
                    return
                location = response.url.join(URL(response.headers.get("Location", "")))
                if location.origin() != URL(gateway.url).origin():
                    raise _Refused(f"redirect to another origin ({location.origin()}) not followed")
                url = str(location)
        raise _Refused(f"more than {MAX_REDIRECTS} redirects")

    async def _raw(self, gateway: _Gateway, cid: CID) -> bytes | str:
        """One raw-block attempt: the verified block, or ``"missing"`` / ``"busy"`` / ``"failed"``."""
        await self._wait_if_busy(gateway)
        started = time.monotonic()
        try:
            assert gateway.limit is not None
            async with gateway.limit:
                result = await asyncio.wait_for(self._raw_body(gateway, cid), self.timeout)
        except _Refused as refused:
            gateway.fail(f"{refused.args[0]} for {cid}")
            return "failed"
        except asyncio.TimeoutError:
            gateway.fail(f"no complete block {cid} within {self.timeout:g} s")
            return "failed"
        except (aiohttp.ClientError, ConnectionError) as exc:
            gateway.fail(f"{type(exc).__name__} for {cid}: {exc}")
            return "failed"
        if isinstance(result, str):
            return result
        if not cid.matches(result):
            gateway.fail(f"sent a block that does not match {cid}", UNHEALTHY_SECONDS * 4)
            return "failed"
        gateway.succeed(time.monotonic() - started)
        return result

    async def _raw_body(self, gateway: _Gateway, cid: CID) -> bytes | str:
        async with self._request(gateway, f"{cid}?format=raw", RAW_ACCEPT) as response:
            if response.status == 429:
                self._retry_after(gateway, response)
                return "busy"
            if response.status in (404, 410):
                return "missing"
            if response.status != 200:
                raise _Refused(f"HTTP {response.status}")
            if (response.content_length or 0) > MAX_BLOCK:
                raise _Refused(f"announced a block of {response.content_length} bytes, larger than {MAX_BLOCK}")
            block = bytearray()
            async for chunk in response.content.iter_any():
                block += chunk
                self.bytes_received += len(chunk)
                if len(block) > MAX_BLOCK:
                    raise _Refused(f"sent a body larger than {MAX_BLOCK} bytes")
            return bytes(block)

    async def get(self, cid: CID) -> bytes:
        """One verified block (``?format=raw``), from the best gateway that answers truthfully.

        A gateway that has not answered after a short while (``HEDGE_AFTER``, or three times its usual latency) is
        raced by the next one, and the first verified block wins; every attempt is bounded in time
        (``timeout``) and size (2 MiB), so a gateway that drips, stalls or never ends costs a little time,
        never the read.

        Returns:
            The block, verified against ``cid``.

        Raises:
            BlockNotFoundError: every gateway answered 404/410.
            SourceError: no gateway delivered it within ``attempts`` attempts (the reasons are named).
        """
        if cid.is_inline:
            return cid.digest
        await self._client()
        missing: set[str] = set()
        racing: dict[asyncio.Task[bytes | str], tuple[_Gateway, float]] = {}
        attempts = 0
        try:
            while True:
                busy = {g.url for g, _ in racing.values()}
                candidates = [g for g in self._ranked() if g.url not in missing and g.url not in busy]
                can_start = bool(candidates) and attempts < self.attempts
                if can_start and (not racing or time.monotonic() >= _hedge_due(racing)):
                    racing[asyncio.ensure_future(self._raw(candidates[0], cid))] = (candidates[0], time.monotonic())
                    attempts += 1
                    continue
                if not racing:
                    break
                wait = max(0.0, _hedge_due(racing) - time.monotonic()) if can_start else None
                done, _ = await asyncio.wait(racing, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    gateway, _ = racing.pop(task)
                    result = task.result()
                    if isinstance(result, bytes):
                        return result
                    if result == "missing":
                        missing.add(gateway.url)
        finally:
            for task, (gateway, started) in racing.items():
                task.cancel()
                gateway.lost_race(time.monotonic() - started)
        if missing and len(missing) == len(self.gateways):
            raise BlockNotFoundError(f"block {cid}: not found on {', '.join(sorted(missing))}")
        details = "; ".join(f"{g.url}: {g.errors[-1]}" for g in self.gateways if g.errors)
        raise SourceError(f"block {cid}: no gateway delivered it after {attempts} attempts ({details})")

    # ---- CAR ranges ---------------------------------------------------------------------------------------------

    def car_range(self, cid: CID, start: int, end: int | None, path: str = "") -> CarStream:
        """Verified blocks of file ``cid/path`` covering bytes [start, end), in DFS order, from one CAR request to
        the best gateway: the blocks that resolve ``path`` first, then the file's root and the subtree of the range
        (see :meth:`CarStreamSource.car_range`).

        A lying or failing gateway ends the stream early (and is marked unhealthy); callers fetch what is still
        missing block by block.

        Returns:
            An async generator of verified (CID, block) pairs; it raises nothing from the gateway, it ends.
        """
        return self._car_from(self._ranked()[0], cid, start, end, path)

    def lanes(self, cid: CID) -> list[GatewayLane]:
        """Each gateway that is healthy now, as a block source of its own (for striped reads of large ranges).

        Returns:
            One :class:`GatewayLane` per healthy gateway (none busy after a 429), fastest first.
        """
        now = time.monotonic()
        return [GatewayLane(self, g) for g in self._ranked() if g.unhealthy_until <= now and g.busy_until <= now]

    async def _car_from(self, gateway: _Gateway, cid: CID, start: int, end: int | None, path: str) -> CarStream:
        """The CAR stream of :meth:`car_range` from ``gateway``."""
        await self._wait_if_busy(gateway)
        reader = CarReader(f"{gateway.url} (CAR of {cid})")
        end_param = "*" if end is None else end - 1
        limit = None if end is None else 2 * (end - start) + CAR_OVERHEAD
        received = 0
        target = f"{cid}/{quote(path.strip('/'))}".rstrip("/")
        guard = StallGuard(self.timeout)  # the answer, then each block, must be complete within the timeout
        try:
            async with contextlib.AsyncExitStack() as stack:
                response = await guard.wait(stack.enter_async_context(self._request(
                    gateway, f"{target}?format=car&dag-scope=entity&entity-bytes={start}:{end_param}", CAR_ACCEPT)))
                if response.status == 429:
                    self._retry_after(gateway, response)
                    return
                if response.status != 200:
                    gateway.fail(f"HTTP {response.status} for CAR of {cid}")
                    return
                guard.progress()
                while True:
                    # the pieces as they were received (readany joins all that is buffered: a copy of every byte)
                    chunk, http_chunk_end = await guard.wait(response.content.readchunk())
                    if not chunk:
                        if http_chunk_end:
                            continue  # the end of an HTTP chunk whose bytes were read before it: not of the body
                        break
                    self.bytes_received += len(chunk)
                    received += len(chunk)
                    if limit is not None and received > limit:
                        raise _Refused(  # type: ignore[operator]
                            f"sent over {limit} bytes for a {end - start}-byte range")
                    # each block is verified as it is cut out, on the loop: a hand-off to a thread per piece
                    # costs more CPU than the hash (the kernel's socket buffer keeps filling meanwhile)
                    for item in reader.feed(chunk):
                        guard.progress()
                        yield item
                reader.close()
        except _Refused as refused:
            gateway.fail(f"{refused.args[0]} (CAR of {cid})")
        except (VerificationError, CarError) as exc:
            gateway.fail(str(exc), UNHEALTHY_SECONDS * 4)
        except asyncio.TimeoutError:
            gateway.fail(f"CAR of {cid}: no answer, or no complete block for {self.timeout:g} s")
        except (aiohttp.ClientError, ConnectionError) as exc:
            gateway.fail(f"{type(exc).__name__} during CAR of {cid}: {exc}")
        finally:
            guard.close()


class GatewayLane:
    """One gateway of a :class:`GatewaySource` as a block source of its own: raw blocks and CAR ranges from that
    gateway only, through the source's session, limits and health bookkeeping (a lie marks the gateway unhealthy
    for every read). Striped reads use one lane per gateway; made by :meth:`GatewaySource.lanes`."""

    def __init__(self, source: GatewaySource, gateway: _Gateway) -> None:
        self.source = source
        self.gateway = gateway
        self.name = gateway.url

    async def get(self, cid: CID) -> bytes:
        """The block of ``cid`` from this gateway alone, verified (one attempt, bounded in time and size).

        Returns:
            The block.

        Raises:
            BlockNotFoundError: the gateway answered 404/410.
            SourceError: the gateway failed, lied or was busy (naming it and why).
        """
        if cid.is_inline:
            return cid.digest
        await self.source._client()
        result = await self.source._raw(self.gateway, cid)
        if isinstance(result, bytes):
            return result
        if result == "missing":
            raise BlockNotFoundError(f"block {cid}: not found on {self.name}")
        why = self.gateway.errors[-1] if self.gateway.errors else result
        raise SourceError(f"block {cid}: {self.name} {result} ({why})")

    def car_range(self, cid: CID, start: int, end: int | None, path: str = "") -> CarStream:
        """Verified blocks of file ``cid/path`` covering bytes [start, end) from this gateway (see
        :meth:`GatewaySource.car_range`).

        Returns:
            An async generator of verified (CID, block) pairs; it ends early when the gateway fails or lies.
        """
        return self.source._car_from(self.gateway, cid, start, end, path)

    def fail(self, reason: str) -> None:
        """Mark the gateway unhealthy for ``reason`` (a striped read dropped it): other reads avoid it for a while."""
        self.gateway.fail(reason)

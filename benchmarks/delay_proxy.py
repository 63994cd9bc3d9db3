"""A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time in each direction, and limits bandwidth.

This kernel has no netem qdisc, so the 50 ms round-trip benchmarks put this between client and server:
25 ms each way, per chunk, in both directions, order preserved (a chunk is forwarded ``delay`` after it arrived).

``rate`` (bytes per second) limits each direction of the whole proxy, shared by all its connections: one token
bucket per direction. Real gateways limit per client, not per connection, so a client opening more connections to
one gateway gains nothing here either; several gateways are modelled by several proxies. A bounded queue per
connection (the bandwidth-delay product plus 4 MiB) pushes back on the server instead of buffering a whole file.

    async with DelayProxy("127.0.0.1", server_port, delay=0.025, rate=25e6) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/..."

    python delay_proxy.py TARGET_PORT [DELAY_SECONDS] [--rate 25MB/s]
"""

from __future__ import annotations

import asyncio
import time


PIECE = 64 * 1024  # bytes forwarded at once under a rate limit (smooth pacing)


def parse_rate(text: str) -> float:
    """``25MB/s``, ``200Mbit/s``, ``1.5e7`` → bytes per second."""
    units = {"gb/s": 1e9, "mb/s": 1e6, "kb/s": 1e3, "gib/s": 2**30, "mib/s": 2**20, "kib/s": 2**10,
             "gbit/s": 1e9 / 8, "mbit/s": 1e6 / 8, "b/s": 1.0}
    low = text.strip().lower()
    for unit, factor in units.items():
        if low.endswith(unit):
            return float(low[: -len(unit)]) * factor
    return float(low)


class TokenBucket:
    """``rate`` bytes per second, bursts up to one piece; shared by every connection of a proxy direction."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_free = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n: int) -> None:
        async with self.lock:  # first come, first served between connections
            now = time.monotonic()
            start = max(self.next_free, now - PIECE / self.rate)
            self.next_free = start + n / self.rate
            wait = self.next_free - now
            if wait > 0:
                await asyncio.sleep(wait)


class DelayProxy:
    def __init__(self, target_host: str, target_port: int, delay: float = 0.025, rate: float | None = None) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.rate = rate
        self._buckets = (TokenBucket(rate), TokenBucket(rate)) if rate else (None, None)
        self._queued = int((rate or 0) * delay) + (4 << 20)
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> DelayProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await self._server.wait_closed()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        pumps = [asyncio.create_task(self._pump(client_r, server_w, self._buckets[0])),
                 asyncio.create_task(self._pump(server_r, client_w, self._buckets[1]))]
        self._tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        self._tasks.difference_update(pumps)
        for w in (client_w, server_w):
            w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    bucket: TokenBucket | None) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(max(1, self._queued // PIECE))

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    writer.write_eof() if writer.can_write_eof() else None
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if bucket is not None:
                    await bucket.take(len(chunk))
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(PIECE)
                await queue.put((time.monotonic() + self.delay, chunk))
                if not chunk:
                    break
            await sender
        except (ConnectionError, asyncio.CancelledError):
            sender.cancel()


async def _serve(target_port: int, delay: float, rate: float | None) -> None:
    async with DelayProxy("127.0.0.1", target_port, delay, rate) as proxy:
        limit = f", {rate / 1e6:g} MB/s each way for the whole proxy" if rate else ""
        print(f"proxy on 127.0.0.1:{proxy.port} -> 127.0.0.1:{target_port}, {delay * 1e3:.0f} ms each way{limit}",
              flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":  # python delay_proxy.py TARGET_PORT [DELAY_SECONDS] [--rate 25MB/s]: in its own process
    import argparse

    parser = argparse.ArgumentParser(description="A TCP proxy on 127.0.0.1 adding delay and a bandwidth limit.")
    parser.add_argument("target_port", type=int)
    parser.add_argument("delay", type=float, nargs="?", default=0.025, help="seconds each way (default 0.025)")
    parser.add_argument("--rate", type=parse_rate, default=None,
                        help="bandwidth per direction for the whole proxy, e.g. 25MB/s (default: unlimited)")
    args = parser.parse_args()
    asyncio.run(_serve(args.target_port, args.delay, args.rate))

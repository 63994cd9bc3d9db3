"""A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time in each direction.

This kernel has no netem qdisc, so the 50 ms round-trip benchmarks put this between client and server:
25 ms each way, per chunk, in both directions, order preserved (a chunk is forwarded ``delay`` after it arrived).

    async with DelayProxy("127.0.0.1", server_port, delay=0.025) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/..."
"""

from __future__ import annotations

import asyncio
import time


class DelayProxy:
    def __init__(self, target_host: str, target_port: int, delay: float = 0.025) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
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
        pumps = [asyncio.create_task(self._pump(client_r, server_w)), asyncio.create_task(self._pump(server_r, client_w))]
        self._tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        self._tasks.difference_update(pumps)
        for w in (client_w, server_w):
            w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    writer.write_eof() if writer.can_write_eof() else None
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(1 << 20)
                await queue.put((time.monotonic() + self.delay, chunk))
                if not chunk:
                    break
            await sender
        except (ConnectionError, asyncio.CancelledError):
            sender.cancel()


async def _serve(target_port: int, delay: float) -> None:
    async with DelayProxy("127.0.0.1", target_port, delay) as proxy:
        print(f"proxy on 127.0.0.1:{proxy.port} -> 127.0.0.1:{target_port}, {delay * 1e3:.0f} ms each way",
              flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":  # python delay_proxy.py TARGET_PORT [DELAY_SECONDS]: a proxy in its own process
    import sys

    asyncio.run(_serve(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.025))

"""Hostile-input benchmarks (issue: hostile input). Plain script printing numbers.

1. Reads against each hostile gateway (``tests/ipfs/hostile_gateway.py``: drip, endless CAR, endless raw body,
   cross-origin redirect, malformed CAR header) configured first, next to an honest ``serve``: the wall time and
   peak traced memory of a 100 kB range, a whole 32 MiB file and an open (head), each in a fresh client.
   Baseline: before the fix, drip and endless-CAR reads never finished (0 of 3 in 75 s) and an endless raw body
   grew the reader to several GiB.
2. ``etdb-explore serve`` under 200 clients that request a 64 MiB file and never read: its RSS before and after.
   Baseline: 1,384 MB on the code before the fix (measured by tests/ipfs/test_hostile_dags.py on that code).

    python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etdb_explore.content.client import Client  # noqa: E402
from etdb_explore.ipfs.build.importer import KUBO_DEFAULT, add_bytes  # noqa: E402
from etdb_explore.ipfs.gateway_server import start_server  # noqa: E402
from etdb_explore.ipfs.sources.gateway import GatewaySource  # noqa: E402
from etdb_explore.ipfs.sources.store import LocalStore  # noqa: E402
from tests.ipfs.hostile_gateway import MODES, HostileGateway  # noqa: E402

MiB = 1 << 20


async def hostile_reads(folder: Path) -> None:
    store = LocalStore(folder / "store")
    data = os.urandom(32 * MiB)
    cid = add_bytes(data, KUBO_DEFAULT, store).cid
    runner, honest = await start_server(store)
    print("1. reads with a hostile gateway first, an honest one second (32 MiB file)")
    print(f"   {'gateway':<12} {'100 kB range':>13} {'whole file':>11} {'open':>8} {'peak traced':>12}")
    try:
        for mode in MODES:
            async with HostileGateway(mode, other=honest) as hostile:
                times = []
                tracemalloc.start()
                for read in ("range", "whole", "head"):
                    source = GatewaySource([hostile.url, honest])
                    reader = Client(folder / f"empty-{mode}-{read}", sources=[source]).reader
                    started = time.perf_counter()
                    if read == "range":
                        got = await reader.read(cid, 16 * MiB, 16 * MiB + 100_000)
                        assert got == data[16 * MiB:16 * MiB + 100_000]
                    elif read == "whole":
                        assert await reader.read(cid) == data
                    else:
                        await reader.head(cid)
                    times.append(time.perf_counter() - started)
                    await source.close()
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            print(f"   {mode:<12} {times[0]:>11.2f} s {times[1]:>9.2f} s {times[2]:>6.2f} s {peak / MiB:>9.1f} MiB")
    finally:
        await runner.cleanup()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def slow_readers(folder: Path, clients: int = 200) -> str:
    store = LocalStore(folder / "store64")
    big = add_bytes(os.urandom(64 * MiB), KUBO_DEFAULT, store).cid
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "etdb_explore", "serve", "--store", str(store.path), "--port",
                               str(port)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        server.stdout.readline()
        before = _rss_mb(server.pid)
        sockets = []
        for _ in range(clients):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET /ipfs/{big} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            sockets.append(s)
        peak = before
        for _ in range(20):
            time.sleep(0.5)
            peak = max(peak, _rss_mb(server.pid))
        for s in sockets:
            s.close()
        print(f"2. serve under {clients} slow readers of a 64 MiB file: RSS {before:.0f} MB idle, peak {peak:.0f} MB "
              f"(+{peak - before:.0f} MB; baseline before the fix: 1,384 MB, {1384 / peak:.1f}x more)")
        return f"slow-readers-peak-RSS/old={peak / 1384:.2f}x"
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(hostile_reads(Path(tmp)))
        print("\nsummary: " + slow_readers(Path(tmp)))


if __name__ == "__main__":
    main()

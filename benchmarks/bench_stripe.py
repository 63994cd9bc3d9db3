"""Striped reads across several rate-limited gateways (issue 14, "Beyond one gateway"). Plain script.

One ``etdb-explore serve`` on 127.0.0.1 behind 4 delay proxies in their own processes, each 25 ms each way (50 ms
round trip) and ``--rate`` (default 25 MB/s per proxy, shared by its connections: a gateway's per-client limit):
  1. a verified read of a whole 600 MiB file through 1, 2 and 4 of the gateways (targets: >= 1.8x with 2,
     >= 3.2x with 4), sha256 checked against the original;
  2. the middle section of a 1024x1024x300 int16 tomogram, lazily opened through the 4 gateways, vs downloading it
     whole from one gateway with plain aiohttp and opening it with mrcfile (target >= 100x); the HTTP requests on
     the critical path are counted (target <= 2 round trips + transfer).
Each client runs in its own process.

    python benchmarks/bench_stripe.py [--rate 25MB/s] [--size-mib 600]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MiB = 1 << 20


def client_whole(urls: str, cid: str) -> dict:
    from etdb_explore.ipfs import GatewaySource, UnixFSReader

    async def run() -> dict:
        source = GatewaySource(urls.split(","))
        reader = UnixFSReader(source)
        digest, n = hashlib.sha256(), 0
        t = time.perf_counter()
        async for chunk in reader.iter_range(cid):
            digest.update(chunk)
            n += len(chunk)
        seconds = time.perf_counter() - t
        await source.close()
        return {"seconds": seconds, "size": n, "sha256": digest.hexdigest(), "bytes": source.bytes_received,
                "dropped": reader.dropped}

    return asyncio.run(run())


def client_section(urls: str, path: str) -> dict:
    import aiohttp

    from etdb_explore.content.client import Client
    from etdb_explore.volumes.open import open_tomogram

    requests: list[tuple[float, float]] = []  # (sent, headers received) of every HTTP request

    async def on_start(session, ctx, params) -> None:
        ctx.sent = time.perf_counter()

    async def on_end(session, ctx, params) -> None:
        requests.append((ctx.sent, time.perf_counter()))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    original = aiohttp.ClientSession.__init__

    def traced(self, *args, **kwargs):  # count the client's requests (measurement only)
        kwargs["trace_configs"] = [*kwargs.get("trace_configs", []), trace]
        original(self, *args, **kwargs)

    aiohttp.ClientSession.__init__ = traced
    with tempfile.TemporaryDirectory() as tmp:
        client = Client(Path(tmp) / "store", urls.split(","))
        t = time.perf_counter()
        vol = open_tomogram("/ipfs/" + path, client=client)
        section = vol[vol.shape[0] // 2]
        seconds = time.perf_counter() - t
        client.close()
    rounds, ready = 0, float("-inf")  # sequential waves: a request sent after an earlier one's answer came
    for sent, answered in sorted(requests):
        if sent >= ready:
            rounds += 1
            ready = answered
        else:
            ready = min(ready, answered)
    return {"seconds": seconds, "requests": len(requests), "round_trips": rounds,
            "checksum": int(np.asarray(section).astype(np.int64).sum())}


def client_baseline(url: str, path: str) -> dict:
    """Download the whole file from one gateway, then read its middle section with mrcfile (bench_volumes' baseline)."""
    sys.path.insert(0, str(HERE))
    from bench_volumes import client_whole_then_mrcfile

    return client_whole_then_mrcfile(url, path)


CLIENTS = {"whole": client_whole, "section": client_section, "baseline": client_baseline}


def run(kind: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--client", kind, *args], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(rate: str, size: int) -> list[str]:
    import mrcfile

    from etdb_explore.ipfs import KUBO_DEFAULT, LocalStore, add_directory

    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        data.mkdir()
        rng = np.random.default_rng(14)
        with open(data / "big.bin", "wb") as fh:
            for at in range(0, size, 64 * MiB):
                fh.write(rng.integers(0, 256, min(64 * MiB, size - at), dtype=np.uint8).tobytes())
        expected = hashlib.sha256((data / "big.bin").read_bytes()).hexdigest()
        with mrcfile.new(data / "tomo.rec") as mrc:
            mrc.set_data(rng.integers(-500, 500, size=(300, 1024, 1024), dtype=np.int16))
        store = LocalStore(tmp / "store")
        root = str(add_directory(data, KUBO_DEFAULT, store).cid)
        from etdb_explore.ipfs import UnixFSReader

        big = str(asyncio.run(UnixFSReader(store).resolve(root, "big.bin")))
        server = subprocess.Popen([sys.executable, "-m", "etdb_explore", "serve", "--store", str(store.path),
                                   "--port", "0"], stdout=subprocess.PIPE, text=True)
        port = server.stdout.readline().split(" at ")[1].split("/ipfs/")[0].rsplit(":", 1)[1]
        proxies = [subprocess.Popen([sys.executable, str(HERE / "delay_proxy.py"), port, "0.025", "--rate", rate],
                                    stdout=subprocess.PIPE, text=True) for _ in range(4)]
        try:
            urls = ["http://" + p.stdout.readline().split()[2] for p in proxies]
            print(f"{size / MiB:.0f} MiB file, 4 gateways each 50 ms RTT and {rate} (per gateway)")
            base = None
            for n in (1, 2, 4):
                r = run("whole", ",".join(urls[:n]), big)
                assert r["sha256"] == expected and r["size"] == size, r
                base = base or r["seconds"]
                print(f"  {n} gateway(s): {r['seconds']:6.1f} s, {size / r['seconds'] / 1e6:6.1f} MB/s verified, "
                      f"{r['bytes'] / size:.3f}x bytes received, {base / r['seconds']:.2f}x of one gateway"
                      f"{'  dropped: ' + str(r['dropped']) if r['dropped'] else ''}")
                summary.append(f"{n}gw={base / r['seconds']:.2f}x")
            lazy = run("section", ",".join(urls), f"{root}/tomo.rec")
            whole = run("baseline", urls[0], f"{root}/tomo.rec")
            assert lazy["checksum"] == whole["checksum"]
            ratio = whole["seconds"] / lazy["seconds"]
            print(f"  middle section, lazy over 4 gateways: {lazy['seconds'] * 1e3:7.1f} ms, {lazy['requests']} "
                  f"requests in {lazy['round_trips']} round trips")
            print(f"  download whole (1 gateway) + mrcfile: {whole['seconds'] * 1e3:7.1f} ms -> {ratio:.0f}x sooner "
                  f"(target >= 100x)")
            summary += [f"section={ratio:.0f}x", f"section-round-trips={lazy['round_trips']}"]
        finally:
            for p in (*proxies, server):
                p.terminate()
                p.wait()
    return summary


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        print(json.dumps(CLIENTS[sys.argv[2]](*sys.argv[3:])))
    else:
        parser = argparse.ArgumentParser()
        parser.add_argument("--rate", default="25MB/s")
        parser.add_argument("--size-mib", type=int, default=600)
        args = parser.parse_args()
        print("\nsummary: " + "  ".join(bench(args.rate, args.size_mib * MiB)))

"""IPFS benchmarks (issue: verified IPFS content). Plain script printing numbers and ratios.

On 127.0.0.1, a 512 MiB file (Kubo's default DAG) behind ``etdb-explore serve``:
  1. verified read of a 2 MiB range from the middle: time and bytes transferred, vs ipfsspec reading the same range
     from the same server (ipfsspec fetches the whole file; ``pip install ipfsspec`` to include it);
  2. verified full download vs a plain unverified aiohttp download of the same bytes, with peak RSS of each;
  3. all again through a delaying proxy in its own process (25 ms each way per chunk, 50 ms round trip);
  4. importer throughput (only-hash and into the store) vs hashlib.sha256, CID checked against a second profile run.
Each client measurement runs in its own subprocess so its peak RSS is its own.

Next to each download ratio it prints the floor, measured on this machine at run time: the CPU per GiB of the one
extra sha256 pass a verified download cannot avoid (every byte checked against its block's CID), and the best ratio
that allows given the plain download's measured client + server CPU per GiB (client and server share the cores
here; see ``cpu.floor_ratios``). ``--pin`` adds, as an extra, the loopback download with the server and the client
pinned to separate cores (a model of a server on another machine), with that setting's floor.

    python benchmarks/bench_ipfs.py [size_MiB] [--pin]
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
from cpu import core_split, cpu_seconds, floor_ratios, load, pinned, process_cpu_seconds, sha256_seconds_per_gib

HERE = Path(__file__).resolve().parent
MiB = 1 << 20


def make_file(path: Path, size: int) -> None:
    rng = np.random.default_rng(512)
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, 64 * MiB)
            fh.write(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
            left -= n


# ---- client measurements (run in subprocesses) -------------------------------------------------------------------

async def _verified_range(url: str, cid: str, start: int, end: int) -> dict:
    from etdb_explore.ipfs import GatewaySource, UnixFSReader

    source = GatewaySource([url])
    t = time.perf_counter()
    data = await UnixFSReader(source).read(cid, start, end)
    elapsed = time.perf_counter() - t
    await source.close()
    return {"seconds": elapsed, "bytes": source.bytes_received, "sha256": hashlib.sha256(data).hexdigest()}


async def _verified_full(url: str, cid: str) -> dict:
    from etdb_explore.ipfs import GatewaySource, UnixFSReader

    source = GatewaySource([url])
    digest = hashlib.sha256()
    n = 0
    cpu, t = cpu_seconds(), time.perf_counter()
    async for chunk in UnixFSReader(source).iter_range(cid):
        digest.update(chunk)
        n += len(chunk)
    elapsed, cpu = time.perf_counter() - t, cpu_seconds() - cpu
    await source.close()
    return {"seconds": elapsed, "cpu": cpu, "bytes": source.bytes_received, "size": n, "sha256": digest.hexdigest()}


async def _plain_full(url: str, cid: str) -> dict:
    import aiohttp

    digest = hashlib.sha256()
    n = 0
    cpu, t = cpu_seconds(), time.perf_counter()
    async with aiohttp.ClientSession() as session, session.get(f"{url}/ipfs/{cid}") as response:
        async for chunk in response.content.iter_chunked(1 << 20):
            digest.update(chunk)
            n += len(chunk)
    return {"seconds": time.perf_counter() - t, "cpu": cpu_seconds() - cpu, "bytes": n, "size": n,
            "sha256": digest.hexdigest()}


def _ipfsspec_range(url: str, cid: str, start: int, end: int) -> dict:
    from ipfsspec import AsyncIPFSFileSystem  # its class itself: the "ipfs" protocol may not be registered here

    fs = AsyncIPFSFileSystem(gateway_addr=url)  # the local gateway, never a public one
    t = time.perf_counter()
    data = fs.cat_file(f"ipfs://{cid}", start=start, end=end)
    return {"seconds": time.perf_counter() - t, "bytes": None, "sha256": hashlib.sha256(data).hexdigest()}


CLIENTS = {"verified_range": _verified_range, "verified_full": _verified_full, "plain_full": _plain_full}


def _peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak, which survives exec on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client_main(kind: str, url: str, *args: str) -> None:
    parsed = [int(a) if a.isdigit() else a for a in args]
    if kind == "ipfsspec_range":
        result = _ipfsspec_range(url, *parsed)
    else:
        result = asyncio.run(CLIENTS[kind](url, *parsed))
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def run_client(kind: str, url: str, *args: object, repeat: int = 3, server: int | None = None,
               cores: set[int] | None = None) -> dict | None:
    """The client's measurement, each run in a fresh process (on ``cores`` only, if given): the run of median time
    of ``repeat``; with ``server`` (its pid), the server's CPU seconds during that run (``server_cpu``)."""
    results = []
    for _ in range(repeat):
        before = process_cpu_seconds(server) if server else 0.0
        proc = subprocess.run([*pinned(cores), sys.executable, __file__, "--client", kind, url, *map(str, args)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"    ({kind} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode})")
            return None
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if server:
            results[-1]["server_cpu"] = process_cpu_seconds(server) - before
    return sorted(results, key=lambda r: r["seconds"])[len(results) // 2]


def paired(kinds: tuple[str, str], url: str, *args: object, rounds: int = 3, server: int | None = None,
           cores: set[int] | None = None) -> list[dict]:
    """Both clients' measurements in alternating rounds (both see the same machine load): each one's run of median
    time."""
    runs: list[list[dict]] = [[], []]
    for _ in range(rounds):
        for i, kind in enumerate(kinds):
            result = run_client(kind, url, *args, repeat=1, server=server, cores=cores)
            if result is None:
                raise RuntimeError(f"the {kind} client failed")
            runs[i].append(result)
    return [sorted(r, key=lambda x: x["seconds"])[rounds // 2] for r in runs]


# ---- the benchmark -----------------------------------------------------------------------------------------------

def serve(store: Path, cores: set[int] | None = None) -> tuple[subprocess.Popen, str]:
    """``etdb-explore serve`` over ``store`` in its own process (on ``cores`` only, if given).

    Returns:
        The process and its base URL.
    """
    server = subprocess.Popen([*pinned(cores), sys.executable, "-m", "etdb_explore", "serve", "--store", str(store),
                               "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()  # "serving … at http://127.0.0.1:PORT/ipfs/<cid> …"
    return server, line.split(" at ")[1].split("/ipfs/")[0]


def stop(process: subprocess.Popen | None) -> None:
    """End a server or proxy this script started."""
    if process is not None:
        process.terminate()
        process.wait()
        process.stdout.close()


def full_download(via: str, cid: str, size: int, server: int, target: float, sha: float,
                  cores: set[int] | None = None) -> tuple[float, float]:
    """Verified vs plain full download of file ``cid`` (``size`` bytes) from ``via`` in paired rounds, printed with
    the CPU per GiB of client and server (``server``: its pid) and the floor (``sha``: CPU seconds per GiB of one
    sha256 pass here; ``cores``: the client's, when pinned apart from the server).

    Returns:
        The measured ratio and its floor (the best a CPU-bound transfer can reach).
    """
    before = load()
    full, plain = paired(("verified_full", "plain_full"), via, cid, server=server, cores=cores)
    assert full["sha256"] == plain["sha256"]
    vf, pf = size / full["seconds"] / 1e6, size / plain["seconds"] / 1e6
    gib = size / (1 << 30)
    for name, r, rate in (("verified", full, vf), ("plain   ", plain, pf)):
        print(f"  full download {name}: {rate:7.0f} MB/s, peak RSS {r['peak_rss_mb']:.0f} MB, CPU "
              f"{r['cpu'] / gib:.2f} s/GiB client + {r['server_cpu'] / gib:.2f} s/GiB server")
    print(f"  (3 paired rounds, medians; load averages {before} before, {load()} after)")
    shared, apart = floor_ratios(plain["cpu"] / gib, plain["server_cpu"] / gib, sha)
    floor = apart if cores else shared
    client_over = full["cpu"] / gib - plain["cpu"] / gib - sha
    print(f"  floor (CPU-bound)     : +{sha:.2f} s/GiB client CPU (one sha256 pass, the CID checks) -> best ratio "
          f"{floor:.2f}x {'on separate cores' if cores else 'with client and server sharing the cores'}; the "
          f"verified client spends {client_over:+.2f} s/GiB beyond that")
    print(f"  verified / plain      : {vf / pf:.2f}x (target >= {target}; floor {floor:.2f}x)")
    return vf / pf, floor


def bench(size: int, pin: bool = False) -> list[str]:
    """Run every measurement on a ``size``-byte file; with ``pin``, also the loopback download with server and
    client on separate cores.

    Returns:
        The ratios, for the one-line summary.
    """
    from etdb_explore.ipfs import KUBO_DEFAULT, LocalStore, add_file

    summary = []
    sha_gib = sha256_seconds_per_gib()
    print(f"sha256 on this machine: {sha_gib:.2f} CPU s/GiB (hashlib, one core)")

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        original = tmp_path / "tiltseries.mrc"
        make_file(original, size)
        print(f"file: {size / MiB:.0f} MiB of random bytes")

        t = time.perf_counter()
        with open(original, "rb") as fh:
            while chunk := fh.read(8 * MiB):
                hashlib.sha256(chunk)
        sha = size / (time.perf_counter() - t) / 1e6
        t = time.perf_counter()
        only_hash = add_file(original, KUBO_DEFAULT)
        hash_rate = size / (time.perf_counter() - t) / 1e6
        store = LocalStore(tmp_path / "store")
        t = time.perf_counter()
        added = add_file(original, KUBO_DEFAULT, store)
        store_rate = size / (time.perf_counter() - t) / 1e6
        assert added.cid == only_hash.cid
        print(f"importer --only-hash : {hash_rate:7.0f} MB/s  ({hash_rate / 500:.2f}x Kubo's ~500 MB/s here, "
              f"{hash_rate / sha:.2f}x single-thread hashlib.sha256 at {sha:.0f} MB/s)")
        print(f"importer into store  : {store_rate:7.0f} MB/s   root {added.cid}")
        summary.append(f"import/kubo={hash_rate / 500:.2f}x")

        cid = str(added.cid)
        server = proxy = None
        try:
            server, url = serve(store.path)
            proxy = subprocess.Popen([sys.executable, str(HERE / "delay_proxy.py"), url.rsplit(":", 1)[1], "0.025"],
                                     stdout=subprocess.PIPE, text=True)
            proxy_url = "http://" + proxy.stdout.readline().split()[2]  # "proxy on 127.0.0.1:PORT -> …"
            mid = size // 2
            start, end = mid, mid + 2 * MiB
            expected = hashlib.sha256(original.read_bytes()[start:end]).hexdigest()
            for label, via, target in (("plain loopback", url, 0.9),
                                       ("50 ms RTT through the delaying proxy", proxy_url, 0.85)):
                print(f"\n[{label}]")
                rng = run_client("verified_range", via, cid, start, end)
                base = run_client("ipfsspec_range", via, cid, start, end, repeat=1)
                assert rng and rng["sha256"] == expected
                limit = 2 * MiB + 2 * 262144 + 64 * 1024
                print(f"  2 MiB range, verified : {rng['seconds'] * 1e3:8.1f} ms, {rng['bytes'] / MiB:6.2f} MiB "
                      f"transferred (limit {limit / MiB:.2f} MiB)")
                if base:
                    assert base["sha256"] == expected
                    print(f"  2 MiB range, ipfsspec : {base['seconds'] * 1e3:8.1f} ms, {size / MiB:6.0f} MiB "
                          f"transferred -> verified read is {base['seconds'] / rng['seconds']:.0f}x faster, "
                          f"{size / rng['bytes']:.0f}x fewer bytes")
                ratio, floor = full_download(via, cid, size, server.pid, target, sha_gib)
                summary.append(f"verified/plain[{label.split()[0]}]={ratio:.2f}x(floor {floor:.2f}x)")
        finally:
            stop(proxy)
            stop(server)
        split = core_split() if pin else None
        if pin and split is None:
            print("\n(--pin: this process may use one core only; nothing to pin apart)")
        if split:
            server_cores, client_cores = split
            print(f"\n[extra, not the issue's measurement: loopback with the server on cores {sorted(server_cores)} "
                  f"and the client on {sorted(client_cores)}, a model of a server on another machine]")
            server, url = serve(store.path, server_cores)
            try:
                ratio, floor = full_download(url, cid, size, server.pid, 0.9, sha_gib, client_cores)
                summary.append(f"verified/plain[pinned]={ratio:.2f}x(floor {floor:.2f}x)")
            finally:
                stop(server)
    return summary


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2], *sys.argv[3:])
    else:
        parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("size_mib", nargs="?", type=int, default=512, help="the file's size in MiB")
        parser.add_argument("--pin", action="store_true",
                            help="also measure with server and client pinned to separate cores (an extra)")
        args = parser.parse_args()
        print("\nsummary: " + "  ".join(bench(args.size_mib * MiB, args.pin)))

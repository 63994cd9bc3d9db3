"""Tomogram benchmarks (issue: tomograms, downloads, demo). Plain script printing numbers and ratios.

Through ``etdb-explore serve`` on 127.0.0.1, and through the 50 ms round-trip delaying proxy:
  1. time to first slice and bytes transferred for a 1024×1024×300 int16 tomogram, lazily opened, vs downloading
     it whole and opening it with mrcfile (target: first slice >= 50x sooner);
  2. bulk download throughput (``download``) vs a plain aiohttp download of the same files;
  3. peak RSS of downloading a 2 GiB file with ``download`` (target < 200 MB);
  4. demo build time and size on disk.

    python benchmarks/bench_volumes.py [--quick]     # --quick: 256 MiB instead of 2 GiB for (3)
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent
MiB = 1 << 20


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- clients (each in its own process) ----------------------------------------------------------------------------

def client_first_slice(url: str, path: str) -> dict:
    from etdb_explore.content.client import Client
    from etdb_explore.volumes.open import open_tomogram

    with tempfile.TemporaryDirectory() as tmp:
        client = Client(Path(tmp) / "store", [url])
        t = time.perf_counter()
        vol = open_tomogram("/ipfs/" + path, client=client)
        first = vol[vol.shape[0] // 2]
        seconds = time.perf_counter() - t
        gateway = client.source.sources[1]
        return {"seconds": seconds, "bytes": gateway.bytes_received, "checksum": int(first.astype(np.int64).sum())}


async def fetch_whole(url: str, path: str, target: Path) -> int:
    """Download ``/ipfs/<path>`` from gateway ``url`` into ``target`` with plain aiohttp (no verification).

    Returns:
        The bytes received.
    """
    import aiohttp

    n = 0
    async with aiohttp.ClientSession() as session, session.get(f"{url}/ipfs/{path}") as response:
        with open(target, "wb") as fh:
            async for chunk in response.content.iter_chunked(4 * MiB):
                fh.write(chunk)
                n += len(chunk)
    return n


def client_whole_then_mrcfile(url: str, path: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "tomo.rec"
        t = time.perf_counter()
        n = asyncio.run(fetch_whole(url, path, target))
        with mrcfile.mmap(target, permissive=True) as mrc:
            first = np.array(mrc.data[mrc.data.shape[0] // 2])
        return {"seconds": time.perf_counter() - t, "bytes": n, "checksum": int(first.astype(np.int64).sum())}


def client_download(url: str, snapshot: str) -> dict:
    from etdb_explore.content.client import Client
    from etdb_explore.datasets.download import download
    from etdb_explore.index.index import Index

    with tempfile.TemporaryDirectory() as tmp:
        index = Index.from_snapshot(snapshot)
        t = time.perf_counter()
        report = download(index, dest=Path(tmp) / "dl", client=Client(Path(tmp) / "s", [url]), progress=False)
        assert report.ok, report.failed
        return {"seconds": time.perf_counter() - t, "bytes": report.bytes, "peak_rss_mb": _peak_rss_mb()}


def client_plain(url: str, snapshot: str) -> dict:
    import aiohttp

    from etdb_explore.index.index import Index

    paths = list(Index.from_snapshot(snapshot).files["ipfs_path"])

    async def fetch_all(folder: Path) -> int:
        total = 0
        limit = asyncio.Semaphore(4)
        async with aiohttp.ClientSession() as session:
            async def one(i: int, p: str) -> int:
                n = 0
                async with limit, session.get(f"{url}/ipfs/{p}") as response:
                    with open(folder / str(i), "wb") as fh:
                        async for chunk in response.content.iter_chunked(4 * MiB):
                            fh.write(chunk)
                            n += len(chunk)
                return n
            total = sum(await asyncio.gather(*(one(i, p) for i, p in enumerate(paths))))
        return total

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        n = asyncio.run(fetch_all(Path(tmp)))
        return {"seconds": time.perf_counter() - t, "bytes": n, "peak_rss_mb": _peak_rss_mb()}


CLIENTS = {"first_slice": client_first_slice, "whole": client_whole_then_mrcfile, "download": client_download,
           "plain": client_plain}


def run(kind: str, *args: str, repeat: int = 1) -> dict:
    """The client's measurement, each run in a fresh process; with ``repeat``, the run of median time."""
    results = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--client", kind, *args], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(out.stderr)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return sorted(results, key=lambda r: r["seconds"])[len(results) // 2]


# ---- the benchmark -----------------------------------------------------------------------------------------------

def _signed_index(location: str, files: list[tuple[str, int, str]], folder: Path) -> str:
    from etdb_explore.index.index import Index
    from etdb_explore.records import Record, normalize_artifact
    from etdb_explore.records.flo import PrivateKey

    key = PrivateKey.from_seed("bench", "testnet")
    art = normalize_artifact({
        "timestamp": 1, "type": "research", "subtype": "tomogram", "info": {"title": "bench"},
        "details": {"date": 1, "speciesName": "Vibrio cholerae"},
        "storage": {"network": "ipfs", "location": location, "files": [
            {"fname": n, "fsize": s, "type": "tomogram", "subtype": st} for n, s, st in files]}})
    record = Record(art).signed(key)
    Index.from_records([{"artifact": record.artifact, "meta": {"txid": "ab" * 32}}]).to_snapshot(folder)
    return str(folder)


def bench(quick: bool) -> list[str]:
    """Run every measurement (``quick``: a 256 MiB bulk file instead of 2 GiB).

    Returns:
        The ratios, for the one-line summary.
    """
    from etdb_explore.ipfs import KUBO_DEFAULT, LocalStore, add_directory

    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_dir = tmp / "dataset"
        (data_dir / "3dimage_1").mkdir(parents=True)
        rng = np.random.default_rng(0)
        tomo = data_dir / "3dimage_1" / "tomo.rec"
        with mrcfile.new(tomo) as mrc:
            mrc.set_data(rng.integers(-500, 500, size=(300, 1024, 1024), dtype=np.int16))
        big_size = (256 if quick else 2048) * MiB
        with open(data_dir / "tiltseries.mrc", "wb") as fh:
            for _ in range(big_size // (64 * MiB)):
                fh.write(rng.integers(0, 256, 64 * MiB, dtype=np.uint8).tobytes())
        store = LocalStore(tmp / "store")
        location = str(add_directory(data_dir, KUBO_DEFAULT, store).cid)
        tomo_size = tomo.stat().st_size
        snapshot = _signed_index(location, [("3dimage_1/tomo.rec", tomo_size, "reconstruction"),
                                            ("tiltseries.mrc", big_size, "tiltSeries")], tmp / "index")
        shutil.rmtree(data_dir)
        server = subprocess.Popen([sys.executable, "-m", "etdb_explore", "serve", "--store", str(store.path),
                                   "--port", "0"], stdout=subprocess.PIPE, text=True)
        url = server.stdout.readline().split(" at ")[1].split("/ipfs/")[0]
        proxy = subprocess.Popen([sys.executable, str(HERE / "delay_proxy.py"), url.rsplit(":", 1)[1], "0.025"],
                                 stdout=subprocess.PIPE, text=True)
        proxy_url = "http://" + proxy.stdout.readline().split()[2]
        try:
            path = f"{location}/3dimage_1/tomo.rec"
            print(f"tomogram 1024x1024x300 int16 ({tomo_size / MiB:.0f} MiB); bulk file {big_size / MiB:.0f} MiB")
            for label, via in (("plain loopback", url), ("50 ms RTT (delaying proxy)", proxy_url)):
                lazy = run("first_slice", via, path, repeat=7)
                whole = run("whole", via, path, repeat=3)
                assert lazy["checksum"] == whole["checksum"]
                print(f"\n[{label}]")
                print("  (medians: first slice of 7 runs, the rest of 3; each run a fresh process)")
                print(f"  first slice, lazy + verified : {lazy['seconds'] * 1e3:8.1f} ms, "
                      f"{lazy['bytes'] / MiB:7.2f} MiB transferred")
                print(f"  download whole + mrcfile    : {whole['seconds'] * 1e3:8.1f} ms, "
                      f"{whole['bytes'] / MiB:7.2f} MiB transferred")
                print(f"  first slice sooner by       : {whole['seconds'] / lazy['seconds']:.0f}x (target >= 50x)")
                summary.append(f"first-slice-sooner[{label.split()[0]}]={whole['seconds'] / lazy['seconds']:.0f}x")
                ours = run("download", via, snapshot, repeat=3)
                plain = run("plain", via, snapshot, repeat=3)
                size = ours["bytes"]
                print(f"  bulk download (verified)    : {size / ours['seconds'] / 1e6:7.0f} MB/s, "
                      f"peak RSS {ours['peak_rss_mb']:.0f} MB (incl. a {big_size / MiB:.0f} MiB file; target < 200)")
                print(f"  plain aiohttp, same files   : {plain['bytes'] / plain['seconds'] / 1e6:7.0f} MB/s, "
                      f"peak RSS {plain['peak_rss_mb']:.0f} MB")
                print(f"  verified / plain            : {plain['seconds'] / ours['seconds']:.2f}x")
                summary.append(f"verified/plain[{label.split()[0]}]={plain['seconds'] / ours['seconds']:.2f}x")
        finally:
            for p in (proxy, server):
                p.terminate()
                p.wait()
    return [*summary, demo_stats()]


def demo_stats() -> str:
    """Build the demo on a fresh data dir with this interpreter and print its time and size.

    Returns:
        The summary's entry.
    """
    out = subprocess.run([sys.executable, "-c", (
        "import json, os, tempfile, time, subprocess\n"
        "d = tempfile.mkdtemp()\n"
        "env = dict(os.environ, XDG_DATA_HOME=d, XDG_CACHE_HOME=d, IPFS_GATEWAY='http://127.0.0.1:9')\n"
        "t = time.perf_counter()\n"
        f"subprocess.run([{sys.executable!r}, '-m', 'etdb_explore', 'demo', '--json'], env=env, check=True,"
        " capture_output=True)\n"
        "s = time.perf_counter() - t\n"
        "size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)\n"
        "print(json.dumps({'seconds': s, 'bytes': size}))\n")], capture_output=True, text=True, check=True)
    stats = json.loads(out.stdout)
    print(f"\ndemo build + main job on a fresh data dir: {stats['seconds']:.1f} s (target <= 90 s), "
          f"{stats['bytes'] / 1e6:.0f} MB on disk (target <= 300 MB)")
    return f"demo={stats['seconds']:.0f}s/{stats['bytes'] / 1e6:.0f}MB"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        print(json.dumps(CLIENTS[sys.argv[2]](*sys.argv[3:])))
    else:
        print("\nsummary: " + "  ".join(bench(quick="--quick" in sys.argv)))

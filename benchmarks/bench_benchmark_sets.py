"""Benchmark-set benchmarks (issue 13). Plain script printing numbers and ratios.

A larger demo ETDB: the demo generator's plan, file layout, MRC writer and signed records, with volumes of seeded
noise instead of simulated tomography (which would take many minutes at this size): ``--files`` files (a tilt-series
and a reconstruction per dataset) totalling ``--gib`` GiB, in a local store served by ``etdb-explore serve`` on
127.0.0.1. Then, each client in a fresh process:

  1. freeze + materialise + verify the whole set with 4 workers, vs plain parallel aiohttp downloads (4 at once) of
     the same files from the same server (target: throughput >= 0.85x);
  2. peak RSS of (1) (target < 250 MB);
  3. a no-op re-run of ``materialize`` on a complete copy of a set of ``--noop-files`` small files (target <= 1 s
     for 1,000 files).

Next to the ratio of (1) it prints the floor, measured on this machine at run time: the CPU per GiB of the work the
set's guarantees require beyond a plain download – three sha256 passes (every block checked against its CID, each
file's sha256 for the manifest and the Croissant export, ``verify``'s promised full re-read hashing it again) plus
that re-read itself – and the best ratio that allows given the plain downloads' measured client + server CPU per GiB
(client and server share the cores here; see ``cpu.floor_ratios``). ``--pin`` adds, as an extra, (1) with the server
and the clients pinned to separate cores (a model of a server on another machine), with that setting's floor.

    python benchmarks/bench_benchmark_sets.py [--files 200] [--gib 2] [--noop-files 1000] [--repeat 3] [--pin]
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_volumes import _peak_rss_mb, client_plain
from cpu import (
    core_split,
    cpu_seconds,
    floor_ratios,
    load,
    pinned,
    process_cpu_seconds,
    reread_seconds_per_gib,
    sha256_seconds_per_gib,
)

MiB = 1 << 20


# ---- the corpus ---------------------------------------------------------------------------------------------------

def build_corpus(folder: Path, files: int, total_bytes: int, small: bool) -> Path:
    """A signed index of ``files`` files totalling about ``total_bytes`` (kept between runs), its blocks in
    ``folder/store``; ``small``: ten snapshot images per dataset instead of two volumes.

    Returns:
        The index snapshot folder.
    """
    from etdb_explore.demo.build import DEMO_KEY_SEED, _write_mrc, demo_record, plan
    from etdb_explore.index.index import Index
    from etdb_explore.ipfs import KUBO_DEFAULT, LocalStore, add_directory
    from etdb_explore.records.flo import PrivateKey

    snapshot = folder / "index"
    marker = folder / "corpus.json"
    wanted = {"files": files, "bytes": total_bytes, "small": small}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return snapshot
    shutil.rmtree(folder, ignore_errors=True)
    store = LocalStore(folder / "store")
    key = PrivateKey.from_seed(DEMO_KEY_SEED, "testnet")
    per_dataset = 10 if small else 2
    each = total_bytes // files
    records = []
    for ds in plan(seed=13, count=files // per_dataset):
        rng = np.random.default_rng(ds.seed)
        work = folder / "work" / ds.sid
        entries = []
        if small:
            (work / "AutoCaps").mkdir(parents=True)
            for k in range(per_dataset):
                rel = f"AutoCaps/{ds.sid}_slicer{k}.jpg"
                (work / rel).write_bytes(rng.bytes(each))
                entries.append({"fname": rel, "fsize": each, "type": "tomogram", "subtype": "snapshot"})
        else:
            side = 512
            sections = max(1, (each - 1024) // (side * side * 2))
            for rel, subtype in ((f"rawdata/{ds.sid}.mrc", "tiltSeries"),
                                 (f"3dimage_{30000 + ds.index}/{ds.sid}_full.rec", "reconstruction")):
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                noise = rng.integers(-2000, 2000, (sections, side, side), dtype=np.int16)
                _write_mrc(work / rel, noise, 12.0, f"etdb-explore benchmark {subtype} {ds.sid}", ds.date)
                entries.append({"fname": rel, "fsize": (work / rel).stat().st_size, "type": "tomogram",
                                "subtype": subtype})
        added = add_directory(work, KUBO_DEFAULT, store)
        records.append(demo_record(ds, str(added.cid), entries, key))
        shutil.rmtree(work)
    Index.from_records(records, source="benchmark corpus").to_snapshot(snapshot)
    marker.write_text(json.dumps(wanted))
    return snapshot


# ---- clients (each in its own process) ----------------------------------------------------------------------------

CLIENT_MODULES = ("aiohttp", "etdb_explore.content.client", "etdb_explore.datasets.benchmark_set",
                  "etdb_explore.index.index")  # what the clients import when called


def with_cpu(client: Callable[[str, str], dict]) -> Callable[[str, str], dict]:
    """``client`` with the CPU seconds it took (``cpu``), imports and start-up excluded (the clients import inside,
    so the modules are imported first: about 0.9 CPU seconds that are no part of a download)."""
    def timed(*args: str) -> dict:
        for module in CLIENT_MODULES:
            importlib.import_module(module)
        before = cpu_seconds()
        result = client(*args)
        return result | {"cpu": cpu_seconds() - before}
    return timed


def client_set(url: str, snapshot: str) -> dict:
    """Freeze the whole index, materialise it and verify the copy, 4 workers, through the gateway at ``url``."""
    from etdb_explore.content.client import Client
    from etdb_explore.datasets.benchmark_set import BenchmarkSet
    from etdb_explore.index.index import Index

    index = Index.from_snapshot(snapshot)
    with tempfile.TemporaryDirectory() as tmp, Client(Path(tmp) / "store", [url]) as client:
        t0 = time.perf_counter()
        bset = BenchmarkSet.freeze(index, client=client, workers=4)
        t1 = time.perf_counter()
        report = bset.materialize(Path(tmp) / "data", workers=4, client=client, progress=False)
        t2 = time.perf_counter()
        problems = bset.verify(Path(tmp) / "data")
        t3 = time.perf_counter()
        assert report.ok and not problems, (report.failed, problems)
        return {"seconds": t3 - t0, "freeze": t1 - t0, "materialize": t2 - t1, "verify": t3 - t2,
                "bytes": report.bytes, "files": len(bset.files), "peak_rss_mb": _peak_rss_mb()}


def client_noop(url: str, snapshot: str) -> dict:
    """Freeze and materialise a set, then time a second ``materialize`` of the complete copy (in this process, and
    in a fresh one excluding its imports)."""
    from etdb_explore.content.client import Client
    from etdb_explore.datasets.benchmark_set import BenchmarkSet
    from etdb_explore.index.index import Index

    with tempfile.TemporaryDirectory() as tmp, Client(Path(tmp) / "store", [url]) as client:
        bset = BenchmarkSet.freeze(Index.from_snapshot(snapshot), client=client, workers=4)
        assert bset.materialize(Path(tmp) / "data", client=client, progress=False).ok
        t = time.perf_counter()
        again = bset.materialize(Path(tmp) / "data", client=client, progress=False)
        warm = time.perf_counter() - t
        assert again.ok and len(again.skipped) == len(bset.files) and again.bytes == 0
        bset.save(Path(tmp) / "set.json")
        code = ("import sys, time\nfrom pathlib import Path\nfrom etdb_explore.content.client import Client\n"
                "from etdb_explore.datasets.benchmark_set import BenchmarkSet\n"
                "bset = BenchmarkSet.load(sys.argv[1])\nt = time.perf_counter()\n"
                "with Client(Path(sys.argv[3]), False) as client:\n"
                "    report = bset.materialize(sys.argv[2], client=client, progress=False)\n"
                "print(time.perf_counter() - t, report.ok and not report.bytes)\n")
        out = subprocess.run([sys.executable, "-c", code, str(Path(tmp) / "set.json"), str(Path(tmp) / "data"),
                              str(Path(tmp) / "offline-store")], capture_output=True, text=True, check=True)
        cold, ok = out.stdout.split()
        assert ok == "True", out.stdout
        return {"seconds": warm, "fresh_process": float(cold), "files": len(bset.files)}


CLIENTS = {"set": with_cpu(client_set), "plain": with_cpu(client_plain), "noop": client_noop}


def run(kind: str, *args: str, server: Served | None = None, cores: set[int] | None = None) -> dict:
    """The client's measurement in a fresh process (on ``cores`` only, if given); with ``server``, the server's CPU
    seconds meanwhile (``server_cpu``)."""
    before = server.cpu() if server else 0.0
    out = subprocess.run([*pinned(cores), sys.executable, __file__, "--client", kind, *args], capture_output=True,
                         text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result | ({"server_cpu": server.cpu() - before} if server else {})



class Served:
    """``etdb-explore serve`` over a store, in its own process (on ``cores`` only, if given)."""

    def __init__(self, store: Path, cores: set[int] | None = None) -> None:
        self.process = subprocess.Popen([*pinned(cores), sys.executable, "-m", "etdb_explore", "serve", "--store",
                                         str(store), "--port", "0"], stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().split(" at ")[1].split("/ipfs/")[0]

    def cpu(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        return process_cpu_seconds(self.process.pid)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait()
        self.process.stdout.close()


def unavoidable_extra() -> tuple[float, float, float]:
    """CPU seconds per GiB, on this machine now, of what a benchmark set must do beyond a plain download.

    Returns:
        ``(extra, sha256 pass, re-read)``: three sha256 passes plus one re-read of the files, and its two parts.
    """
    sha = sha256_seconds_per_gib()
    reread = reread_seconds_per_gib()
    return 3 * sha + reread, sha, reread


def paired_set(big: Path, store: Path, repeat: int, extra: float, loads: list[str],
               cores: tuple[set[int], set[int]] | None = None) -> tuple[dict, dict, list[dict], list[dict]]:
    """(1): ``repeat`` paired rounds of the set and the plain downloads through a server of ``store`` (server and
    clients on separate cores when ``cores`` is given), printed with CPU per GiB and the floor.

    Returns:
        The median runs of the set and of the plain downloads, and all runs of each.
    """
    server_cores, client_cores = cores or (None, None)
    with Served(store, server_cores) as server:
        ours, plain = [], []
        for _ in range(repeat):  # paired rounds, so both see the same machine load
            ours.append(run("set", server.url, str(big), server=server, cores=client_cores))
            plain.append(run("plain", server.url, str(big), server=server, cores=client_cores))
            loads.append(load())
    mid = len(ours) // 2
    o = sorted(ours, key=lambda r: r["seconds"])[mid]
    p = sorted(plain, key=lambda r: r["seconds"])[mid]
    gib = o["bytes"] / (1 << 30)
    shared, apart = floor_ratios(p["cpu"] / gib, p["server_cpu"] / gib, extra)
    floor = apart if cores else shared
    ratio = p["seconds"] / o["seconds"]
    print(f"   CPU s/GiB: ours client {o['cpu'] / gib:.2f} + server {o['server_cpu'] / gib:.2f}, plain client "
          f"{p['cpu'] / gib:.2f} + server {p['server_cpu'] / gib:.2f}; load averages {' | '.join(loads)}")
    over = o["cpu"] / gib - p["cpu"] / gib - extra
    print(f"   floor (CPU-bound): +{extra:.2f} s/GiB client CPU -> best ratio {floor:.2f}x "
          f"{'on separate cores' if cores else 'with client and server sharing the cores'}; ours spends "
          f"{over:+.2f} s/GiB beyond that")
    print(f"   throughput ratio {ratio:.2f}x (target >= 0.85; floor {floor:.2f}x); materialize alone "
          f"{p['seconds'] / o['materialize']:.2f}x; all runs ours {[round(r['seconds'], 2) for r in ours]}, "
          f"plain {[round(r['seconds'], 2) for r in plain]}")
    return o, p, ours, plain


def bench(args: argparse.Namespace) -> None:
    work = Path(args.workdir)
    total = int(args.gib * (1 << 30))
    t = time.perf_counter()
    big = build_corpus(work / "large", args.files, total, small=False)
    small = build_corpus(work / "small", args.noop_files, args.noop_files * 16 * 1024, small=True)
    print(f"corpus ready in {time.perf_counter() - t:.1f} s ({work})")
    extra, sha, reread = unavoidable_extra()
    print(f"this machine: sha256 {sha:.2f} CPU s/GiB, re-reading a cached file {reread:.2f} CPU s/GiB -> a set's "
          f"unavoidable extra over a plain download: 3 x sha256 + 1 re-read = {extra:.2f} CPU s/GiB")
    loads = [load()]
    print(f"\n1. {args.files} files, 4 workers, through serve on 127.0.0.1 (median of {args.repeat}):")
    o, p, _, _ = paired_set(big, work / "large" / "store", args.repeat, extra, loads)
    size = o["bytes"] / MiB
    ratio = p["seconds"] / o["seconds"]
    print(f"   {o['files']} files, {size:.0f} MiB: freeze {o['freeze']:.2f} s + materialize {o['materialize']:.2f} s "
          f"+ verify {o['verify']:.2f} s = {o['seconds']:.2f} s ({size / o['seconds']:.0f} MiB/s); plain aiohttp, "
          f"4 at once: {p['seconds']:.2f} s ({size / p['seconds']:.0f} MiB/s)")
    pinned_summary = ""
    split = core_split() if args.pin else None
    if args.pin and split is None:
        print("   (--pin: this process may use one core only; nothing to pin apart)")
    if split:
        print(f"\n   [extra, not the issue's measurement: server on cores {sorted(split[0])}, clients on "
              f"{sorted(split[1])}, a model of a server on another machine]")
        po, pp, _, _ = paired_set(big, work / "large" / "store", args.repeat, extra, [load()], split)
        pinned_summary = f", pinned apart {pp['seconds'] / po['seconds']:.2f}x"
    with Served(work / "small" / "store") as server:
        noop = run("noop", server.url, str(small))
    print(f"2. peak RSS {o['peak_rss_mb']:.0f} MB (target < 250); plain aiohttp {p['peak_rss_mb']:.0f} MB")
    print(f"3. no-op re-run of {noop['files']} files: {noop['seconds']:.2f} s in process, "
          f"{noop['fresh_process']:.2f} s in a fresh process (imports excluded; target <= 1 s)")
    gib = o["bytes"] / (1 << 30)
    floor = floor_ratios(p["cpu"] / gib, p["server_cpu"] / gib, extra)[0]
    print(f"summary: set {ratio:.2f}x plain downloads (floor {floor:.2f}x; {o['seconds']:.1f} s vs "
          f"{p['seconds']:.1f} s for {size / 1024:.2f} GiB){pinned_summary}, peak RSS {o['peak_rss_mb']:.0f} MB, "
          f"no-op re-run {noop['seconds']:.2f} s / {noop['files']} files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--noop-files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pin", action="store_true",
                        help="also measure (1) with server and clients pinned to separate cores (an extra)")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "etdb-explore-bench-sets"))
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(CLIENTS[args.client](*args.rest)))
    else:
        bench(args)


if __name__ == "__main__":
    main()

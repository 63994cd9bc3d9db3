"""Index benchmarks (issue: foundation). Plain script: prints timings and ratios against the naive baseline.

Baseline: ``pandas.json_normalize`` of the same raw oipd JSON (no parsing of shapes, no types, no signatures).
Measured: raw signed JSON → Index (every signature verified), snapshot → Index (trusted, and verified as the cache
is read), a typical filter, and hostile inputs that once stalled or sank a load.

    python benchmarks/bench_index.py            # 11,293 and 100,000 records
    python benchmarks/bench_index.py 2000       # a quick run
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from etdb_explore import Index
from etdb_explore.demo.sample import ETDB_SIZE, synthetic_records

OUT = Path(__file__).parent / "out"
SUMMARY: list[str] = []  # the ratios of this run, printed as one line at the end
TYPICAL = dict(species="Vibrio cholerae", tilt_range=(-60, 60), defocus=(-8, -4), microscope="Caltech Polara",
               date=("2010", "2015"), text="flagellar motor")


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu(fn) -> tuple[float, float]:
    """CPU seconds ``fn()`` takes in this process, and in the worker processes it started and ended."""
    def used(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime
    here, children = used(resource.RUSAGE_SELF), used(resource.RUSAGE_CHILDREN)
    fn()
    return used(resource.RUSAGE_SELF) - here, used(resource.RUSAGE_CHILDREN) - children


def raw_json(n: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"oipd_{n}.json"
    if not path.exists():
        start = time.perf_counter()
        path.write_text(json.dumps(synthetic_records(n)))
        print(f"  generated {n} signed records in {time.perf_counter() - start:.1f} s -> {path}")
    return path


def bench(n: int, repeat: int) -> None:
    path = raw_json(n)
    text = path.read_text()
    print(f"\n{n} records ({len(text) / 1e6:.1f} MB of raw oipd JSON)")
    baseline = best(lambda: pd.json_normalize(json.loads(text)), repeat)
    print(f"  baseline json.loads + pandas.json_normalize : {baseline:8.3f} s")
    build = best(lambda: Index.from_records(json.loads(text)), repeat)
    print(f"  raw JSON -> Index, all signatures verified  : {build:8.3f} s  ({build / baseline:.2f}x baseline)")
    base_cpu, _ = cpu(lambda: pd.json_normalize(json.loads(text)))
    main_cpu, worker_cpu = cpu(lambda: Index.from_records(json.loads(text)))
    print(f"  CPU time: baseline {base_cpu:.2f} s; build {main_cpu:.2f} s here ({main_cpu / base_cpu:.2f}x) "
          f"+ {worker_cpu:.2f} s in worker processes (load average {os.getloadavg()[0]:.1f})")
    SUMMARY.append(f"build/json_normalize@{n}={build / baseline:.2f}x(cpu here {main_cpu / base_cpu:.2f}x)")
    index = Index.from_records(json.loads(text))
    assert len(index) == n and index.datasets.signature_valid.all()
    with tempfile.TemporaryDirectory() as tmp:
        index.to_snapshot(Path(tmp) / "snap")
        load = best(lambda: Index.from_snapshot(Path(tmp) / "snap"), repeat)
        print(f"  snapshot -> Index                           : {load:8.3f} s  ({load / baseline:.3f}x baseline,"
              f" {baseline / load:.0f}x faster)")
        verified = best(lambda: Index.from_snapshot(Path(tmp) / "snap", verify=True), repeat)
        print(f"  snapshot -> Index, verified (as the cache)  : {verified:8.3f} s  ({verified / baseline:.2f}x "
              f"baseline, {verified / load:.0f}x the trusted load)")
        loaded = Index.from_snapshot(Path(tmp) / "snap")
        firsts = []
        for _ in range(5):  # the first filter of each of 5 fresh loads
            fresh = Index.from_snapshot(Path(tmp) / "snap")
            firsts.append(best(lambda fresh=fresh: fresh.filter(**TYPICAL), 1))
    runs = [best(lambda: loaded.filter(**TYPICAL), 1) for _ in range(30)]
    built = [best(lambda: index.filter(**TYPICAL), 1) for _ in range(30)]
    naive = best(lambda: _naive_filter(pd.json_normalize(json.loads(text))), 1)
    first, typical = statistics.median(firsts), statistics.median(runs)
    print(f"  first filter after a snapshot load (median of 5): {first * 1e3:8.2f} ms "
          f"({min(firsts) * 1e3:.1f}-{max(firsts) * 1e3:.1f})")
    print(f"  typical filter (median of 30)               : {typical * 1e3:8.2f} ms ({min(runs) * 1e3:.1f}-"
          f"{max(runs) * 1e3:.1f}; on the index just built {statistics.median(built) * 1e3:.2f} ms; "
          f"{len(index.filter(**TYPICAL))} hits)")
    print(f"  same filter on json_normalize frame, incl. normalizing: {naive * 1e3:.0f} ms")
    SUMMARY.append(f"filter@{n}={typical * 1e3:.1f}ms(first {first * 1e3:.1f}ms)")


def _naive_filter(df: pd.DataFrame) -> pd.DataFrame:
    d = "artifact.details."
    date = pd.to_datetime(df[d + "date"], unit="s")
    return df[(df[d + "speciesName"].str.strip().str.lower() == "vibrio cholerae") & (df[d + "tiltMin"] <= -60)
              & (df[d + "tiltMax"] >= 60) & df[d + "defocus"].between(-8, -4)
              & (df[d + "scopeName"] == "Caltech Polara") & date.between("2010", "2015-12-31 23:59:59")
              & df[d + "artNotes"].str.lower().str.contains("flagellar motor")]


def bench_hostile() -> None:
    """Inputs that once took seconds or sank a load: each is refused at once now."""
    from etdb_explore.errors import EtdbError
    from etdb_explore.records import parse_record
    from etdb_explore.util.base58 import b58decode

    cases = {"200,000-character base58 text": lambda: b58decode("z" * 200_000),
             "100,000-deep JSON record": lambda: parse_record("[" * 100_000 + "]" * 100_000),
             "record with a 5,000-digit number": lambda: parse_record('{"floAddress": ' + "9" * 5000 + "}"),
             "1 MB of digits as an integer field": lambda: parse_record({"timestamp": "9" * 1_000_000})}
    print("\nhostile inputs (each refused)")
    for name, call in cases.items():
        def refused(call=call, name=name):
            try:
                call()
            except (EtdbError, ValueError):
                return
            raise AssertionError(f"{name} was accepted")
        print(f"  {name:38}: {best(refused) * 1e3:8.2f} ms")


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [ETDB_SIZE, 100_000]
    for size in sizes:
        bench(size, repeat=3 if size <= 20_000 else 1)
    bench_hostile()
    print("\nsummary: " + "  ".join(SUMMARY) + f"  load={os.getloadavg()[0]:.1f}")

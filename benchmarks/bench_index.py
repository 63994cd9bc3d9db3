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


def measured(fn) -> tuple[float, float]:
    """Wall seconds of ``fn()``, and the CPU seconds it took in this process and in the worker processes it started
    and ended."""
    def used() -> float:
        return sum(usage.ru_utime + usage.ru_stime
                   for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))
    start_cpu, start = used(), time.perf_counter()
    fn()
    return time.perf_counter() - start, used() - start_cpu


def paired(baseline, build, rounds: int) -> tuple[float, float, float, float, float]:
    """``baseline`` and ``build`` in alternating rounds (so both see the same load).

    Returns:
        Median wall seconds of each, the median of the rounds' ratios, median CPU seconds (all processes) of each.
    """
    base_runs, build_runs = [], []
    for _ in range(rounds):
        base_runs.append(measured(baseline))
        build_runs.append(measured(build))
    median = statistics.median
    return (median(w for w, _ in base_runs), median(w for w, _ in build_runs),
            median(b[0] / a[0] for a, b in zip(base_runs, build_runs)), median(c for _, c in base_runs),
            median(c for _, c in build_runs))


def raw_json(n: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"oipd_{n}.json"
    if not path.exists():
        start = time.perf_counter()
        path.write_text(json.dumps(synthetic_records(n)))
        print(f"  generated {n} signed records in {time.perf_counter() - start:.1f} s -> {path}")
    return path


def bench(n: int, rounds: int, repeat: int) -> None:
    path = raw_json(n)
    text = path.read_text()
    print(f"\n{n} records ({len(text) / 1e6:.1f} MB of raw oipd JSON)")
    loadavg = os.getloadavg()[0]
    baseline, build, ratio, base_cpu, build_cpu = paired(lambda: pd.json_normalize(json.loads(text)),
                                                          lambda: Index.from_records(json.loads(text)), rounds)
    print(f"  {rounds} alternating rounds, medians (load average {loadavg:.1f} before, {os.getloadavg()[0]:.1f} "
          "after)")
    print(f"  baseline json.loads + pandas.json_normalize : {baseline:8.3f} s  (CPU {base_cpu:.2f} s)")
    print(f"  raw JSON -> Index, all signatures verified  : {build:8.3f} s  ({ratio:.2f}x baseline; "
          f"CPU {build_cpu:.2f} s in all processes, {build_cpu / base_cpu:.2f}x)")
    SUMMARY.append(f"build/json_normalize@{n}={ratio:.2f}x(cpu {build_cpu / base_cpu:.2f}x)")
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
        small = size <= 20_000
        bench(size, rounds=5 if small else 3, repeat=3 if small else 1)
    bench_hostile()
    print("\nsummary: " + "  ".join(SUMMARY) + f"  load={os.getloadavg()[0]:.1f}")

"""The demo is reproducible: the same seed builds the same files, CIDs, txids and signatures in any process, at any
time, in any time zone and folder, on a CPU with other vector instructions (so a benchmark set frozen on one
machine's demo materialises from another's)."""

from __future__ import annotations

import json

import numpy as np

from tests.subprocesses import run_python

# A child builds the first datasets of the small demo with its clock set to argv[2] (time.time, time.time_ns and
# datetime.now/today/utcnow all shifted), and prints the records.
BUILD = """
import datetime as dt, json, sys, time
from pathlib import Path

import matplotlib.figure, PIL.JpegImagePlugin  # what the build imports later, loaded before the clock is shifted
from etdb_explore.demo import DEMO_SIZES
from etdb_explore.demo.build import build_demo
from etdb_explore.ipfs.sources.store import LocalStore

shift = float(sys.argv[2]) - time.time()
real_time, real_time_ns = time.time, time.time_ns
time.time = lambda: real_time() + shift
time.time_ns = lambda: real_time_ns() + int(shift * 1e9)


class ShiftedClock(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return dt.datetime.fromtimestamp(time.time(), tz)

    @classmethod
    def today(cls):
        return cls.now()

    @classmethod
    def utcnow(cls):
        return cls.now(dt.timezone.utc).replace(tzinfo=None)


for module in list(sys.modules.values()):  # every `from datetime import datetime` made so far, and the module
    if getattr(module, "datetime", None) is dt.datetime:
        module.datetime = ShiftedClock
dt.datetime = ShiftedClock

folder = Path(sys.argv[1])
spec = DEMO_SIZES["small"]
records = build_demo(folder / "demo", LocalStore(folder / "store"), count=int(sys.argv[3]), spec=spec.phantom,
                     workers=1)
print(json.dumps({"records": records, "year": dt.datetime.now().year}))
"""

# The first four datasets of the small demo, as built on the development machine: their locations (the CIDs of
# their folders) and the first txid. Any machine, any day, must build exactly these; a change to the generator that
# changes them must bump DEMO_VERSION (benchmark sets frozen on the older demo no longer materialise from it).
FIRST_LOCATIONS = ["QmUfKsYWfpzmosFo7N8tmWrpyuDhX6rWsYccrmKVcngpd7", "QmXH8gnR9J7CeGCNxfZM3HnMHzV7HtE8tQqWwXD1Y6iA9z",
                   "Qmb2y3m1V5QWmhQfMa1zRC2rkYh78WsqTAw3pb649r56BL", "QmRxyBt51EmGCus5yuspbUJji7rUpSu9c3Gy72JydGdfmt"]
FIRST_TXID = "40290ae4d3aaa0085dc7258e99c700ceebadbc4ec5dcd1487aa0160590db2ac8"


def _build(folder, clock: float, count: int, env: dict[str, str]) -> dict:
    code, out, err = run_python(BUILD, folder, clock, count, timeout=240, env=env)
    assert code == 0, err
    return json.loads(out)


def _other_cpu() -> dict[str, str]:
    """numpy's environment setting that turns off every vector extension it dispatches to on this CPU beyond its
    baseline: the child computes as an older CPU would."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1
        from numpy.core import _multiarray_umath as umath

    found = [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(found)} if found else {}


def test_two_builds_with_different_clocks_zones_and_cpus_are_identical(tmp_path):
    count = 4
    first = _build(tmp_path / "a", 1_950_000_000, count, {"TZ": "UTC"})  # 2031
    second = _build(tmp_path / "b", 1_546_300_800, count, {"TZ": "Pacific/Kiritimati", **_other_cpu()})  # 2019
    assert (first["year"], second["year"]) == (2031, 2019)  # the clocks were shifted
    a, b = first["records"], second["records"]
    assert len(a) == count
    for x, y in zip(a, b):
        assert x["artifact"]["storage"]["location"] == y["artifact"]["storage"]["location"], x["meta"]["txid"]
        assert x["meta"]["txid"] == y["meta"]["txid"]
        assert x["artifact"]["signature"] == y["artifact"]["signature"]
    assert a == b
    assert [r["artifact"]["storage"]["location"] for r in a] == FIRST_LOCATIONS, "the demo's bytes changed"
    assert a[0]["meta"]["txid"] == FIRST_TXID


def test_expected_counts_do_not_depend_on_the_last_bits_of_exp():
    from etdb_explore.demo.build import _attenuation, _expected_counts

    rng = np.random.default_rng(1)
    integrals = rng.uniform(0, 3, 10_000).astype(np.float32)
    mean = _expected_counts(integrals, 80.0)
    nudged = _expected_counts(np.nextafter(integrals, np.float32(4)), 80.0)  # one float32 ulp further
    assert mean.dtype == np.float64 and np.all(mean * 1024 == np.round(mean * 1024))
    assert np.mean(mean == nudged) > 0.99  # an ulp moves a mean across a 1/1024 step almost never
    counts = rng.poisson(mean).astype(np.int16)
    att = _attenuation(counts, 80.0)
    assert att.dtype == np.float32 and att.shape == counts.shape
    assert np.allclose(att, -np.log(np.maximum(counts, 1) / 80.0), rtol=1e-6)

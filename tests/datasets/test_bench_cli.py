"""``etdb-explore bench freeze|pull|verify|croissant``, run as a user runs it (real subprocesses), against the demo
ETDB served by ``etdb-explore serve`` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from etdb_explore.datasets.benchmark_set import BenchmarkSet
from tests.subprocesses import ROOT


def etdb(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etdb_explore", *map(str, args)], check=False, capture_output=True,
                          text=True, env=dict(os.environ), cwd=ROOT, timeout=180)


def test_freeze_pull_verify_croissant(demo, gateway, tmp_path):
    content = ["--store", tmp_path / "empty-store", "--gateway", gateway]
    out = etdb("bench", "freeze", "--species", "Vibrio cholerae", "--tilt-range", "-57:57", "--kinds",
               "reconstructions", "tilt-series", "--name", "vc", "--license", "CC-BY-4.0", "-o", tmp_path / "vc.json",
               "--json", *content)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    bset = BenchmarkSet.load(tmp_path / "vc.json")
    expected = demo.filter(species="Vibrio cholerae", tilt_range=(-57, 57))
    assert summary["files"] == len(bset.files) == 2 * len(expected) and summary["cid"] == str(bset.cid)
    assert bset.filters == {"species": ["Vibrio cholerae"], "tilt_range": [-57.0, 57.0]}
    assert bset.license == "CC-BY-4.0" and bset.txids == list(expected.datasets.txid)

    out = etdb("bench", "pull", tmp_path / "vc.json", "--dest", tmp_path / "data", "--json", *content)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["fetched"] == len(bset.files) and report["failed"] == {}
    assert report["bytes"] == bset.total_bytes
    out = etdb("bench", "pull", tmp_path / "vc.json", "--dest", tmp_path / "data", "--json", *content)
    assert json.loads(out.stdout)["skipped"] == len(bset.files)

    out = etdb("bench", "verify", tmp_path / "vc.json", "--dest", tmp_path / "data", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["ok"] == len(bset.files)

    out = etdb("bench", "croissant", tmp_path / "vc.json", "--dest", tmp_path / "data", "-o", tmp_path / "cr.json")
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "cr.json").read_text())
    assert doc["license"] == "CC-BY-4.0" and len(doc["distribution"]) == len(bset.files)
    assert all(len(d["sha256"]) == 64 for d in doc["distribution"])

    victim = tmp_path / "data" / bset.files[0].path
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    out = etdb("bench", "verify", tmp_path / "vc.json", "--dest", tmp_path / "data", "--json")
    assert out.returncode == 3 and "does not match CID" in json.loads(out.stdout)["problems"][bset.files[0].path]
    out = etdb("bench", "croissant", tmp_path / "vc.json", "--dest", tmp_path / "data")
    assert out.returncode == 3 and "do not verify" in out.stderr


def test_exit_codes(demo, gateway, tmp_path):
    content = ["--store", tmp_path / "empty-store", "--gateway", gateway]
    out = etdb("bench", "freeze", "--species", "Homo sapiens", "-o", tmp_path / "none.json", *content)
    assert out.returncode == 1 and "nothing to freeze" in out.stderr and not (tmp_path / "none.json").exists()
    out = etdb("bench", "freeze", "--species", "Escherichia coli", "--kinds", "thumbnail", "-o",
               tmp_path / "ec.json", "--no-progress", *content)
    assert out.returncode == 0, out.stderr
    out = etdb("bench", "pull", tmp_path / "ec.json", "--dest", tmp_path / "data", "--offline", "--store",
               tmp_path / "empty-store", "--json")
    failed = json.loads(out.stdout)["failed"]
    assert out.returncode == 3 and failed and all("not found" in reason for reason in failed.values())
    out = etdb("bench", "croissant", tmp_path / "ec.json")
    assert out.returncode == 3 and "no sha256 yet" in out.stderr
    (tmp_path / "png.json").write_bytes(b"\x89PNG")
    out = etdb("bench", "verify", tmp_path / "png.json")
    assert out.returncode == 3 and "png.json" in out.stderr
    assert etdb("bench", "frobnicate").returncode == 2

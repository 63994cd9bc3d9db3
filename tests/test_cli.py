"""The etdb-explore command, run as a user runs it (a real subprocess), on the demo index and snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from etdb_explore import Index
from etdb_explore.demo.sample import synthetic_records


def etdb(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etdb_explore", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("snap") / "index"
    Index.from_records(synthetic_records(300, seed=3)).to_snapshot(folder)
    return str(folder)


def test_help_lists_commands_and_filters():
    out = etdb("--help")
    assert out.returncode == 0 and "search" in out.stdout and "demo" in out.stdout
    out = etdb("search", "--help")
    assert out.returncode == 0 and "--tilt-range" in out.stdout and "--format" in out.stdout


def test_search_json_matches_the_library(snapshot):
    out = etdb("search", "--source", snapshot, "--species", "Caulobacter crescentus", "--tilt-range=-60:60",
               "--defocus=-10:-2", "--json", "--columns", "all")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    expected = Index.from_snapshot(snapshot).filter(species="Caulobacter crescentus", tilt_range=(-60, 60),
                                                    defocus=(-10, -2))
    assert [r["txid"] for r in rows] == list(expected.datasets.txid) and rows
    assert all(r["tilt_min"] <= -60 and -10 <= r["defocus"] <= -2 for r in rows)


def test_range_filters_take_negative_values_in_both_spellings(snapshot):
    glued = etdb("search", "--source", snapshot, "--tilt-range=-60:60", "--defocus=-10:-2", "--json")
    apart = etdb("search", "--source", snapshot, "--tilt-range", "-60:60", "--defocus", "-10:-2", "--json")
    assert apart.returncode == 0, apart.stderr
    assert json.loads(apart.stdout) == json.loads(glued.stdout) and json.loads(apart.stdout)
    assert etdb("search", "--source", snapshot, "--defocus", "--json").returncode == 2  # a missing value stays one


def test_search_formats(snapshot, tmp_path):
    csv = etdb("search", "--source", snapshot, "--date", "2012:2013", "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.startswith("txid,species,date")
    table = etdb("search", "--source", snapshot, "--text", "motor", "--limit", "3")
    assert table.returncode == 0 and len(table.stdout.strip().splitlines()) == 4 and "datasets match" in table.stderr
    out = tmp_path / "sel.parquet"
    pq = etdb("search", "--source", snapshot, "--species", "666", "--format", "parquet", "-o", str(out))
    assert pq.returncode == 0 and (pd.read_parquet(out).species == "Vibrio cholerae").all()


def test_exit_codes(snapshot, tmp_path):
    assert etdb("search", "--source", snapshot, "--species", "Homo sapiens").returncode == 1
    assert etdb("search", "--tilt-range", "sixty").returncode == 2
    missing = etdb("search", "--source", str(tmp_path / "nope"))
    assert missing.returncode == 3 and "not an etdb-explore snapshot" in missing.stderr
    assert etdb("search", "--source", snapshot, "--columns", "txid,nope").returncode == 2


def test_download_kinds_speak_the_one_vocabulary(snapshot):
    out = etdb("download", "--source", snapshot, "--species", "Vibrio cholerae", "--kinds", "tiltSeries",
               "reconstructions", "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report["planned"]) == {"tiltseries", "reconstruction"}  # planned by the records' own subtypes
    bad = etdb("download", "--source", snapshot, "--kinds", "tomograms", "--dry-run")
    assert bad.returncode == 2 and "'tomograms'" in bad.stderr and "tiltseries, reconstruction" in bad.stderr


def test_demo_runs_the_main_job(demo):
    out = etdb("demo", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["datasets"] == len(demo) >= 12 and summary["rejected"] == 0
    assert 0 < summary["matching"] < len(demo)
    assert os.path.exists(summary["figure"]) and os.path.exists(summary["slice_png"])
    assert summary["bytes_read"] < summary["file_bytes"] / 10  # one slice, not the file
    text = etdb("demo")
    assert text.returncode == 0 and "datasets match" in text.stdout and "open_tomogram(" in text.stdout

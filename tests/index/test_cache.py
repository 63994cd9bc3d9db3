"""The cache of remote sources is checked, not trusted (issue 9, item 9), and a cache that cannot be written or
read never fails a load."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from etdb_explore import load_index
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.index.loading import _cache_key, cache_dir

RAWS = synthetic_records(12, seed=31)
FORGED = "QmForgedForgedForgedForgedForgedForgedForgedFo"


class ListSource:
    """An in-process index source (the IndexSource contract) that counts its harvests."""

    def __init__(self, name: str, records=RAWS):
        self.name = name
        self.records = records
        self.harvests = 0

    async def harvest(self):
        from etdb_explore.index.sources.base import Harvest

        self.harvests += 1
        return Harvest(list(self.records))


def _cached(source) -> os.PathLike:
    return cache_dir() / _cache_key(source.name)


def test_forged_cached_tables_do_not_load(request):
    source = ListSource(request.node.name)
    first = load_index(source)
    path = _cached(source) / "datasets.parquet"
    table = pd.read_parquet(path)
    table.loc[0, ["location", "title"]] = [FORGED, "a forged title"]
    table.to_parquet(path)
    again = load_index(source)
    assert source.harvests == 1  # read from the cache, rebuilt from its signed records
    pd.testing.assert_frame_equal(again.datasets, first.datasets)
    assert FORGED not in set(again.datasets.location) and "a forged title" not in set(again.datasets.title)


def _forge_cached_line(source, number: int, forge) -> dict:
    """Load ``source`` (so it is cached), then replace line ``number`` of its cached records by ``forge(record)``.

    Returns:
        The record as it was.
    """
    load_index(source)
    path = _cached(source) / "records.jsonl"
    lines = path.read_text().splitlines()
    victim = json.loads(lines[number])
    lines[number] = json.dumps(forge(json.loads(lines[number])))
    path.write_text("\n".join(lines) + "\n")
    return victim


def _forged_location(record: dict) -> dict:
    record["artifact"]["storage"]["location"] = FORGED
    return record


def _forged_deactivation(record: dict) -> dict:
    record["meta"]["deactivated"] = True
    record["meta"]["history"] = [{"kind": "deactivate", "txid": "ee" * 32, "timestamp": 5, "block": 9, "patch": [],
                                  "original": record["meta"]["txid"], "signature": "H" + "A" * 87}]
    return record


def test_forged_cached_records_are_rejected(request):
    source = ListSource(request.node.name)
    victim = _forge_cached_line(source, 3, _forged_location)
    again = load_index(source)
    assert source.harvests == 1 and len(again) == len(RAWS) - 1
    assert FORGED not in set(again.datasets.location) and again.datasets.signature_valid.all()
    reasons = dict(zip(again.rejected.txid, again.rejected.reason))
    assert "signature does not verify" in reasons[victim["meta"]["txid"]]


def test_forged_deactivation_in_the_cache_is_left_out(request):
    source = ListSource(request.node.name)
    victim = _forge_cached_line(source, 0, _forged_deactivation)
    again = load_index(source)
    row = again.datasets.set_index("txid").loc[victim["meta"]["txid"]]
    assert not row.deactivated and row.signature_valid
    assert any("deactivate " + "ee" * 32 + " left out" in r for r in again.rejected.reason)


def test_unreadable_cache_is_harvested_again(request):
    source = ListSource(request.node.name)
    load_index(source)
    (_cached(source) / "snapshot.json").write_text("[" * 100_000)
    with pytest.warns(UserWarning, match="ignoring the cached index"):
        again = load_index(source)
    assert source.harvests == 2 and len(again) == len(RAWS)


def test_a_file_in_place_of_the_cache_costs_a_warning(tmp_path, monkeypatch):
    (tmp_path / "etdb-explore").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = ListSource("file in place of the cache")
    with pytest.warns(UserWarning, match="could not cache the index"):
        index = load_index(source)
    assert len(index) == len(RAWS) and source.harvests == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_costs_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = ListSource("read-only cache")
    _cached(source).parent.mkdir(parents=True)
    _cached(source).parent.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match="could not cache the index"):
            index = load_index(source)
    finally:
        _cached(source).parent.chmod(0o755)
    assert len(index) == len(RAWS)

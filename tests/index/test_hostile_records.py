"""One hostile record never sinks a load (issue 9, item 1): each trigger lands in ``rejected`` with its reason,
the good records next to it load, and the index goes to a snapshot and back – through ``Index.from_records``, the
oipd stand-in and the flod stand-in."""

from __future__ import annotations

import asyncio
import json
import re

import pandas as pd
import pytest

from etdb_explore import Index, load_index
from etdb_explore.index.sources.flod import FlodSource
from etdb_explore.index.sources.oipd import OipdSource
from etdb_explore.records import parse_record

from .flod_standin import FlodStandIn
from .hostile import GOOD, TRIGGERS, mine, python_values
from .oipd_standin import OipdStandIn, RawJSON

GOOD_TXIDS = sorted(r["meta"]["txid"] for r in GOOD)


def _round_trips(index: Index, folder) -> None:
    index.to_snapshot(folder)
    for verify in (False, True):
        again = Index.from_snapshot(folder, verify=verify)
        pd.testing.assert_frame_equal(again.datasets, index.datasets)
        assert len(again.rejected) == len(index.rejected)


@pytest.mark.parametrize("trigger", TRIGGERS, ids=[t.name for t in TRIGGERS])
def test_each_trigger_is_rejected_with_its_reason(trigger, tmp_path):
    index = Index.from_records([GOOD[0], trigger.item, GOOD[1], GOOD[2]], source="hostile")
    assert sorted(index.datasets.txid) == GOOD_TXIDS and index.datasets.signature_valid.all()
    assert list(index.rejected.origin) == ["hostile item 1"]
    assert re.search(trigger.reason, index.rejected.reason[0]), index.rejected.reason[0]
    _round_trips(index, tmp_path / "snap")


@pytest.mark.parametrize("path, item, reason", python_values(), ids=[c[0] for c in python_values()])
def test_hostile_python_values_are_rejected(path, item, reason, tmp_path):
    index = Index.from_records([GOOD[0], item, GOOD[1]])
    assert sorted(index.datasets.txid) == sorted(r["meta"]["txid"] for r in GOOD[:2])
    assert len(index.rejected) == 1 and reason in index.rejected.reason[0] and path.split(".")[-1] in \
        index.rejected.reason[0]
    _round_trips(index, tmp_path / "snap")


def _reasons_match(rejected: pd.DataFrame, triggers) -> None:
    reasons = list(rejected.reason)
    for trigger in triggers:
        assert any(re.search(trigger.reason, r) for r in reasons), (trigger.name, reasons)


async def test_oipd_serving_every_trigger(tmp_path):
    results = [GOOD[0], *[RawJSON(t.item) if t.artifact else t.item for t in TRIGGERS], GOOD[1], GOOD[2]]
    async with OipdStandIn(results) as oipd:
        source = OipdSource(oipd.url, limit=5)
        index = await asyncio.to_thread(load_index, source)
        pages = len(oipd.requests)
        cached = await asyncio.to_thread(load_index, source)
    assert sorted(index.datasets.txid) == GOOD_TXIDS
    assert len(index.rejected) == len(TRIGGERS)
    _reasons_match(index.rejected, [t for t in TRIGGERS if t.artifact])
    assert sum("result is a str" in r for r in index.rejected.reason) == sum(not t.artifact for t in TRIGGERS)
    assert pages == 4 and len(oipd.requests) == pages  # the second load came from the cache
    pd.testing.assert_frame_equal(cached.datasets, index.datasets)
    assert len(cached.rejected) == len(index.rejected)
    _round_trips(index, tmp_path / "snap")


async def test_flod_chain_with_every_trigger(tmp_path):
    async with FlodStandIn() as node:
        good = [node.add_block([parse_record(g).to_flodata()])[0] for g in GOOD]
        for trigger in TRIGGERS:
            mine(node, trigger.flodata)
        state = tmp_path / "flod.json"
        source = FlodSource(node.url, "rpc", "secret", state_path=state)
        index = await asyncio.to_thread(load_index, source)
        assert state.exists()
        calls = len(node.calls)
        again = await asyncio.to_thread(load_index, source, refresh=True)
        assert node.calls[calls:] == ["getblockcount"]  # the scan state was saved: no block read again
    assert sorted(index.datasets.txid) == sorted(good)
    assert len(index.rejected) == len(TRIGGERS)
    _reasons_match(index.rejected, TRIGGERS)
    pd.testing.assert_frame_equal(again.datasets, index.datasets)
    _round_trips(index, tmp_path / "snap")


def test_one_record_per_txid_the_first_that_verifies(tmp_path):
    forged = json.loads(json.dumps(GOOD[0]))
    forged["artifact"]["storage"]["location"] = "QmForgedForgedForgedForgedForgedForgedForgedFo"
    index = Index.from_records([forged, GOOD[0], GOOD[1], GOOD[0]])
    assert sorted(index.datasets.txid) == sorted(r["meta"]["txid"] for r in GOOD[:2])
    assert index.datasets.set_index("txid").loc[GOOD[0]["meta"]["txid"], "location"] == \
        GOOD[0]["artifact"]["storage"]["location"]
    assert sorted(index.rejected.reason) == ["another record claims this txid"] + [
        f"signature does not verify for {forged['artifact']['floAddress']}"]
    assert len(index.filter(text="")) == 2 and len(index.select(index.datasets.txid == GOOD[0]["meta"]["txid"])) == 1
    _round_trips(index, tmp_path / "snap")

"""Building a large index: records parsed, checked and verified in worker processes chunk by chunk, the same results
as in one process, records parsed again only when asked for, no garbage collection meanwhile."""

from __future__ import annotations

import copy
import gc
import json
import multiprocessing

import pyarrow as pa
import pytest

from etdb_explore import Index
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.errors import EtdbError
from etdb_explore.index import build
from etdb_explore.index.build import CHUNK, KeptRecords, check_records
from etdb_explore.index.sources.base import Rejection
from etdb_explore.records import parse_record

FORK = "fork" in multiprocessing.get_all_start_methods()


@pytest.fixture(scope="module")
def many() -> list[dict]:
    """2.5 chunks of signed records: 40 real ones under distinct txids (the signature does not cover the txid), every
    7th one's signature made by another key (the one of the next record's publisher is swapped in)."""
    signed = synthetic_records(40, seed=11)
    out = []
    for i in range(CHUNK * 5 // 2):
        raw = copy.deepcopy(signed[i % len(signed)])
        raw["meta"]["txid"] = f"{i:064x}"
        if i % 7 == 3:
            raw["artifact"]["signature"] = signed[(i + 1) % len(signed)]["artifact"]["signature"]
        out.append(raw)
    return json.loads(json.dumps(out))


def test_every_chunk_verified_in_order(many):
    checked = check_records(many, "scale", verified_only=False)
    assert [r.txid for r in checked.kept.values()] == [raw["meta"]["txid"] for raw in many]
    assert checked.valid == [i % 7 != 3 for i in range(len(many))]
    kept = check_records(many, "scale")
    assert len(kept.kept) == sum(checked.valid) and all(kept.valid)
    assert sorted(r.txid for r in kept.rejected) == sorted(raw["meta"]["txid"] for i, raw in enumerate(many)
                                                            if i % 7 == 3)
    assert {r.reason.split(" for ")[0] for r in kept.rejected} == {"signature does not verify"}


def test_no_garbage_collection_during_a_build(many):
    collections = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        index = Index.from_records(many)
    finally:
        gc.callbacks.remove(count)
    # at most the one collection the pause deferred, as the build returns (the old build made hundreds)
    assert len(index) == len(many) - len(index.rejected) and len(collections) <= 1
    assert gc.isenabled()


def test_builds_inside_a_daemonic_process(many):
    """A daemonic process may not start workers: the chunks are verified in it instead, with the same results."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        valid = pool.apply(_valid_flags, (many[:CHUNK + 5],))
    assert valid == [i % 7 != 3 for i in range(CHUNK + 5)]


def _valid_flags(raws: list[dict]) -> list[bool]:
    return check_records(raws, "daemon", verified_only=False).valid


def _mixed(many: list[dict], etdb_record: dict) -> list:
    """``many`` with, spread over every chunk, the real ETDB record, items that do not parse, are not tomograms or
    lack a mandatory field, and txids claimed twice (the first claimant failing its signature, or verifying)."""
    items: list = [copy.deepcopy(etdb_record), *copy.deepcopy(many)]
    for i in range(5, len(items), 97):
        items[i] = "[" * 20000 + "]" * 20000 if i % 2 else {"artifact": 17, "meta": {"txid": f"bad{i}"}}
    for i in range(11, len(items), 131):
        items[i]["artifact"]["subtype"] = "dataset"
    for i in range(13, len(items), 151):
        del items[i]["artifact"]["details"]["speciesName"]
    items.append(copy.deepcopy(items[6]))  # a record that verifies, under the txid of one that fails (many[3])
    items[-1]["meta"]["txid"] = items[4]["meta"]["txid"]
    items.append(copy.deepcopy(items[20]))  # the txid of a record that verifies, claimed again
    return items


def _unfit(record) -> str | None:
    """Why a parsed record is no Research-Tomogram record an index takes (None: it is one)."""
    kind = record.artifact.get("type"), record.artifact.get("subtype")
    if not record.is_tomogram():
        return f"not a Research-Tomogram record (type {kind[0]!r}, subtype {kind[1]!r})"
    return "missing mandatory fields: " + ", ".join(record.missing_fields()) if record.missing_fields() else None


def _reference(items: list, verified_only: bool) -> tuple[list, list[bool], list[Rejection]]:
    """The build in one process, one record after the other, as etdb-explore made it before chunks."""
    parsed, rejected = [], []
    for position, raw in enumerate(items):
        try:
            record = parse_record(raw)
        except EtdbError as exc:
            rejected.append(Rejection(f"mixed item {position}", build._guess_txid(raw), str(exc)))
            continue
        reason = _unfit(record)
        if reason:
            rejected.append(Rejection(f"mixed item {position}", record.txid, reason))
        else:
            parsed.append(record)
    valid = [r.verify() for r in parsed]
    first: dict = {}
    for place, (record, ok) in enumerate(zip(parsed, valid)):
        held = first.setdefault(record.txid, place)
        if ok and not valid[held]:
            first[record.txid] = place
    kept, kept_valid = [], []
    for place, (record, ok) in enumerate(zip(parsed, valid)):
        if not ok:
            rejected.append(Rejection("mixed record", record.txid,
                                      f"signature does not verify for {record.publisher or 'no address'}"))
            if verified_only:
                continue
        if first[record.txid] != place:
            rejected.append(Rejection("mixed record", record.txid, "another record claims this txid"))
            continue
        kept.append(record)
        kept_valid.append(ok)
    return kept, kept_valid, rejected


@pytest.mark.parametrize("verified_only", [True, False])
def test_chunks_on_every_core_give_the_one_process_build(many, etdb_record, verified_only):
    items = _mixed(many, etdb_record)
    checked = check_records(items, "mixed", verified_only)
    records, valid, rejected = _reference(items, verified_only)
    assert {r.reason.split(" for ")[0].split(":")[0] for r in rejected} >= {
        "signature does not verify", "another record claims this txid", "missing mandatory fields"}
    assert checked.rejected == rejected
    assert checked.valid == valid and list(checked.kept.values()) == records
    assert checked.tables[0].column("txid").to_pylist() == [r.txid for r in records]
    assert checked.tables[1].column("txid").to_pylist() == [r.txid for r in records for _ in r.files]
    # and the same again in a daemonic process, where no worker may start: every chunk is worked there
    with multiprocessing.get_context("fork").Pool(1) as pool:
        alone = pool.apply(_checked_here, (items, verified_only))
    assert alone[0] == checked.rejected and alone[1] == checked.valid
    assert all(a.equals(b) for a, b in zip(alone[2], checked.tables))


def _checked_here(items: list, verified_only: bool) -> tuple[list[Rejection], list[bool], tuple[pa.RecordBatch, ...]]:
    checked = check_records(items, "mixed", verified_only)
    return checked.rejected, checked.valid, checked.tables


@pytest.mark.skipif(not FORK, reason="no fork here")
def test_records_are_parsed_in_the_workers_and_here_only_when_asked_for(many, monkeypatch):
    parsed_here = []

    def counted(raw, txid=None):
        parsed_here.append(raw)  # (a forked worker counts in its own memory)
        return parse_record(raw, txid)

    monkeypatch.setattr(build, "parse_record", counted)
    items = json.loads(json.dumps(many * 3))  # 7.5 chunks: this process takes back only those no worker started
    for i, raw in enumerate(items):
        raw["meta"]["txid"] = f"{i:064x}"
    index = Index.from_records(items)
    assert len(parsed_here) < len(items)  # the workers parsed, checked and verified chunks
    parsed_here.clear()
    assert isinstance(index.records, KeptRecords) and len(index.records) == len(index)
    txid = index.datasets.txid[5]
    record = index.record(txid)
    raw = next(raw for raw in items if raw["meta"]["txid"] == txid)
    assert record == parse_record(raw) and record.verify() and len(parsed_here) == 1
    chosen = index.select(index.datasets.txid.isin([txid, index.datasets.txid[6]]))
    assert chosen.records[txid] is record and len(chosen.records) == 2 and len(parsed_here) == 1

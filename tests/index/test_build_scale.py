"""Building a large index: signatures checked in worker processes chunk by chunk, no garbage collection meanwhile."""

from __future__ import annotations

import copy
import gc
import json
import multiprocessing

import pytest

from etdb_explore import Index
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.index.build import VERIFY_BATCH, check_records


@pytest.fixture(scope="module")
def many() -> list[dict]:
    """2.5 chunks of signed records: 40 real ones under distinct txids (the signature does not cover the txid), every
    7th one's signature made by another key (the one of the next record's publisher is swapped in)."""
    signed = synthetic_records(40, seed=11)
    out = []
    for i in range(VERIFY_BATCH * 5 // 2):
        raw = copy.deepcopy(signed[i % len(signed)])
        raw["meta"]["txid"] = f"{i:064x}"
        if i % 7 == 3:
            raw["artifact"]["signature"] = signed[(i + 1) % len(signed)]["artifact"]["signature"]
        out.append(raw)
    return json.loads(json.dumps(out))


def test_every_chunk_verified_in_order(many):
    checked = check_records(many, "scale", verified_only=False)
    assert [r.txid for r in checked.records] == [raw["meta"]["txid"] for raw in many]
    assert checked.valid == [i % 7 != 3 for i in range(len(many))]
    kept = check_records(many, "scale")
    assert len(kept.records) == sum(checked.valid) and all(kept.valid)
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
        valid = pool.apply(_valid_flags, (many[:VERIFY_BATCH + 5],))
    assert valid == [i % 7 != 3 for i in range(VERIFY_BATCH + 5)]


def _valid_flags(raws: list[dict]) -> list[bool]:
    return check_records(raws, "daemon", verified_only=False).valid

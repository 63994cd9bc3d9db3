"""Broadcasting through a FLO node's JSON-RPC (the flod stand-in): go-etdb's calls, retries on -6/-4, and the round
trip publish → scan with FlodSource → Index → open_tomogram on the demo's datasets."""

from __future__ import annotations

import numpy as np
import pytest

import etdb_explore as etdb
from etdb_explore.index.sources.flod import FlodRpc, FlodSource, RpcError
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.publish import Broadcaster, PublishLog, PublishLogSource, Release, broadcast, deactivate, edit
from etdb_explore.records import is_multipart

from ..index.flod_standin import FlodStandIn
from .conftest import LAB_KEY, read_back


def _node(node: FlodStandIn) -> FlodRpc:
    return FlodRpc(node.url, "rpc", "secret")


async def test_publish_scan_index_open(lab_table, tmp_path):
    store = LocalStore(tmp_path / "store")
    lab_table.loc[2, "notes"] = "a long note " * 250  # three transactions
    async with FlodStandIn(automine=True) as node:
        status = await _in_thread(Release(lab_table).publish, tmp_path / "release.sqlite", LAB_KEY, store=store,
                                  node=_node(node), progress=False)
        assert list(status["state"]) == ["sent"] * 3 and status["txid"].str.len().eq(64).all()
        assert node.calls.count("settxfee") == 1 and node.fee_rate == 0.001
        assert node.calls.count("sendtoaddress") == len(node.ledger) == status["n_parts"].sum()
        assert status["n_parts"].iloc[2] > status["n_parts"].iloc[0] >= 2  # records of 5 files need 2 parts
        assert all(map(is_multipart, node.ledger)) and len(set(node.ledger)) == len(node.ledger)
        harvest = await FlodSource(node.url, "rpc", "secret").harvest()
        index = read_back(harvest, status, "lab on chain", long_note_at=2)
        with etdb.Client(store=store, gateways=False) as client:
            for _, row in index.datasets.iterrows():
                vol = etdb.open_tomogram(row, client=client)
                assert vol.shape == (40, 96, 96) and np.asarray(vol[vol.shape[0] // 2]).std() > 0
        # the lab edits and deactivates its records on chain; the reader applies them
        record = index.record(status["txid"][0])
        await _in_thread(edit, tmp_path / "release.sqlite", record, LAB_KEY, changes={"info.title": "on chain"},
                         node=_node(node))
        await _in_thread(deactivate, tmp_path / "release.sqlite", index.record(status["txid"][1]), LAB_KEY,
                         node=_node(node))
        after = etdb.Index.from_records((await FlodSource(node.url, "rpc", "secret").harvest()).records, "chain")
        rows = after.datasets.set_index("txid")
        assert rows.loc[status["txid"][0], "title"] == "on chain" and rows.loc[status["txid"][1], "deactivated"]
        # confirmations
        with PublishLog(tmp_path / "release.sqlite") as log:
            assert await Broadcaster(_node(node)).confirm(log) == len(node.ledger)
            assert set(log.records()["state"]) == {"confirmed"}


async def _in_thread(fn, *args, **kwargs):
    """A plain (bridge.run-using) call from this test's event loop, which serves the stand-in meanwhile."""
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_offline_then_broadcast_later(lab_table, tmp_path):
    store = LocalStore(tmp_path / "store")
    lab_table.loc[0, "notes"] = "n" * 2000
    Release(lab_table).publish(tmp_path / "log.sqlite", LAB_KEY, store=store, offline=True, progress=False)
    async with FlodStandIn() as node:
        with pytest.raises(etdb.EtdbError, match="wait for the signing key"):
            await _in_thread(broadcast, tmp_path / "log.sqlite", _node(node))
        assert len(node.ledger) == 3  # each record's part 0 went; the later parts wait for the key
        status = await _in_thread(broadcast, tmp_path / "log.sqlite", _node(node), LAB_KEY)
        assert list(status["state"]) == ["sent"] * 3 and len(node.ledger) == status["n_parts"].sum()
        assert len(set(node.ledger)) == len(node.ledger)
        assert node.blocks == []  # nothing mined yet: still in the mempool
        node.mine()
        harvest = await FlodSource(node.url, "rpc", "secret").harvest()
        assert sorted(r.txid for r in harvest.records) == sorted(status["txid"])
        offline = etdb.load_index(PublishLogSource(tmp_path / "log.sqlite"))
        assert sorted(offline.datasets["txid"]) == sorted(status["txid"])


async def test_insufficient_funds_and_fee_errors_are_retried_with_backoff(lab_table, tmp_path):
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    Release(lab_table.head(1)).publish(tmp_path / "log.sqlite", LAB_KEY, store=LocalStore(tmp_path / "s"),
                                       offline=True, progress=False)
    async with FlodStandIn() as node:
        node.fail_next = [(-6, "Insufficient funds"), (-4, ("Error: This transaction requires a transaction fee of "
                                                           "at least 0.001")), (-6, "Insufficient funds")]
        with PublishLog(tmp_path / "log.sqlite") as log:
            sent = await Broadcaster(_node(node), backoff=1.5, sleep=sleep).run(log, LAB_KEY)
            assert sent == len(log.parts()) == len(node.ledger) == 2 and waits == [1.5, 3.0, 6.0]
            assert log.records()["state"].tolist() == ["sent"]
    Release(lab_table.iloc[1:2]).publish(tmp_path / "log2.sqlite", LAB_KEY, store=LocalStore(tmp_path / "s"),
                                         offline=True, progress=False)
    async with FlodStandIn() as node:
        node.fail_next = [(-6, "Insufficient funds")] * 3
        with PublishLog(tmp_path / "log2.sqlite") as log:
            with pytest.raises(RpcError, match="error -6: Insufficient funds") as caught:
                await Broadcaster(_node(node), retries=3, backoff=0, sleep=sleep).run(log, LAB_KEY)
            assert caught.value.code == -6 and node.ledger == []
            assert [p.state for p in log.parts()] == ["signed", "waiting"]  # refused, so not half-sent
        async with FlodStandIn() as other:
            other.fail_next = [(-8, "Flo data too long")]
            with PublishLog(tmp_path / "log2.sqlite") as log, pytest.raises(RpcError, match="-8"):
                await Broadcaster(_node(other), sleep=sleep).run(log, LAB_KEY)


class _CountingLog(PublishLog):
    """A publish log that counts the part rows a run reads from it."""

    rows_read = 0

    def parts(self, *states):
        rows = super().parts(*states)
        self.rows_read += len(rows)
        return rows


def _multipart_log(path, n: int) -> _CountingLog:
    """A fresh publish log holding ``n`` multipart records signed by the lab (offline: nothing sent)."""
    from etdb_explore.demo.sample import synthetic_records
    from etdb_explore.publish.messages import sign_records
    from etdb_explore.records import Record, normalize_artifact

    records = [Record(normalize_artifact(raw["artifact"])) for raw in synthetic_records(3 * n, seed=n)]
    signed = [s for s in sign_records(records, LAB_KEY) if len(s[0]) > 1][:n]
    assert len(signed) == n
    log = _CountingLog(path)
    log.add_signed_many([(f"record {i}", "publish", "".join(chunks), LAB_KEY.address, chunks, first)
                         for i, (chunks, first) in enumerate(signed)])
    return log


async def _broadcast_multipart(tmp_path, n: int) -> tuple[int, list[str], list[list[str]]]:
    """``n`` multipart records signed into a fresh log, then broadcast with the key: (part rows read from the log,
    the ledger, each record's parts' floData from the log)."""
    with _multipart_log(tmp_path / f"log{n}.sqlite", n) as log:
        async with FlodStandIn() as node:
            sent = await Broadcaster(_node(node)).run(log, LAB_KEY)
            reads, ledger = log.rows_read, list(node.ledger)
        assert sent == len(log.parts()) == len(ledger)
        by_record: dict[int, list[str]] = {}
        for part in log.parts():
            by_record.setdefault(part.record, []).append(part.flodata)
        return reads, ledger, list(by_record.values())


async def test_broadcast_reads_the_log_once_not_once_per_record(tmp_path):
    small_reads, _, _ = await _broadcast_multipart(tmp_path, 6)
    reads, ledger, messages = await _broadcast_multipart(tmp_path, 24)
    # every part once, each message's parts one after the other, part 0 first
    assert ledger == [flodata for parts in messages for flodata in parts] and len(set(ledger)) == len(ledger)
    # reading the whole log again after each part 0 makes the reads grow with the square of the release (16×)
    assert reads <= 5 * small_reads, (small_reads, reads)


async def test_a_key_that_cannot_sign_the_later_parts_refuses_before_part_0_goes(tmp_path):
    from etdb_explore.records.flo import PrivateKey

    with _multipart_log(tmp_path / "log.sqlite", 2) as log:
        async with FlodStandIn() as node:
            with pytest.raises(etdb.EtdbError, match="not by this key's address"):
                await Broadcaster(_node(node)).run(log, PrivateKey.from_seed("another lab", "testnet"))
            assert node.ledger == [] and {p.state for p in log.parts()} == {"signed", "waiting"}
            assert await Broadcaster(_node(node)).run(log, LAB_KEY) == len(node.ledger) == len(log.parts())

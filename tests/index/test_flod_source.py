"""The flod source against a JSON-RPC stand-in (see flod_standin): multipart, edits, deactivations, incremental."""

from __future__ import annotations

import json
import random

import pytest

from etdb_explore import Index, PrivateKey
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.errors import SourceError
from etdb_explore.index.sources.flod import FlodSource
from etdb_explore.records import Record, normalize_artifact, parse_record, sign_parts

from .flod_standin import FlodStandIn

KEY = PrivateKey.from_seed("flod publisher", "testnet")


def _record(raw) -> Record:
    return parse_record(raw).signed(KEY)


def _parts(flodata: str) -> list[str]:
    """Signed multipart floData parts; part 0's txid is only known once mined, so parts are built in two passes."""
    sent = []
    sign_parts(flodata, KEY, lambda data: sent.append(data) or f"{len(sent) - 1:02x}" + "0" * 62)
    return sent


def _edit(original: str, record: Record, title: str, timestamp: int) -> str:
    patched = normalize_artifact({**record.artifact, "info": {**record.artifact["info"], "title": title},
                                  "timestamp": timestamp})
    resigned = Record(patched).signed(KEY)
    patch = [{"op": "replace", "path": "/info/title", "value": title},
             {"op": "replace", "path": "/timestamp", "value": timestamp},
             {"op": "replace", "path": "/signature", "value": resigned.signature}]
    sig = KEY.sign_message(f"{original}-{timestamp}")
    return "json:" + json.dumps({"oip042": {"edit": {"artifact": {"txid": original, "timestamp": timestamp,
                                                                   "patch": patch}, "signature": sig}}})


def _deactivate(original: str, timestamp: int) -> str:
    sig = KEY.sign_message(f"{original}-{KEY.address}-{timestamp}")
    return "json:" + json.dumps({"oip042": {"deactivate": {"artifact": {"artifactID": original,
                                                                        "timestamp": timestamp}, "signature": sig}}})


async def test_chain_scan_multipart_edits_and_incremental(tmp_path, etdb_record):
    raws = synthetic_records(6, seed=5)
    records = [_record(r) for r in raws]
    async with FlodStandIn() as node:
        small = node.add_block([records[0].to_flodata(), "hello, not OIP", 'json:{"oip042":{"publish":{"artifact":{"floAddress"', records[1].to_flodata()])
        # a big record in 3+ parts, its parts mined out of order across blocks, one forged part in between
        big = Record(normalize_artifact({**records[2].artifact, "details": {
            **records[2].details, "artNotes": "x" * 2600}})).signed(KEY)
        first = node.add_block([_parts(big.to_flodata())[0]])[0]
        later = []
        sign_parts(big.to_flodata(), KEY, lambda d: later.append(d) or (first if len(later) == 1 else "zz" * 32))
        rest = later[1:]
        forged = rest[0].replace(rest[0].split("):", 1)[1], "tampered")
        node.add_block([rest[-1], forged])
        node.add_block(rest[:-1][::-1])
        edit_block = node.add_block([_edit(small[0], records[0], "edited title", 1600000000)])
        source = FlodSource(node.url, "rpc", "secret", state_path=tmp_path / "flod.json")
        harvest = await source.harvest()
        index = Index.from_records(harvest.records, source.name, rejected=harvest.rejected)
        assert len(index) == 3 and set(index.datasets.title) >= {"edited title"}
        assert first in set(index.datasets.txid)
        edited = index.records[small[0]]
        assert edited.history[0].kind == "edit" and edited.verify()
        reasons = " ".join(index.rejected.reason)
        assert "signature does not verify" in reasons and "malformed JSON" in reasons
        assert edit_block
        # incremental: new blocks only
        calls = len(node.calls)
        node.add_block([records[3].to_flodata(), _deactivate(small[3], 1600000001)])
        again = await FlodSource(node.url, "rpc", "secret", state_path=tmp_path / "flod.json").harvest()
        assert len(node.calls) - calls == 1 + 2  # getblockcount, then one block
        index2 = Index.from_records(again.records, "flod")
        assert len(index2) == 4 and index2.datasets.set_index("txid").loc[small[3], "deactivated"]
        full = await FlodSource(node.url, "rpc", "secret").harvest()
        assert sorted(r.txid for r in full.records) == sorted(r.txid for r in again.records)


async def test_a_scan_failing_part_way_keeps_its_progress(tmp_path):
    records = [_record(r) for r in synthetic_records(3, seed=6)]
    async with FlodStandIn() as node:
        for record in records:
            node.add_block([record.to_flodata(), 'json:{"oip042":{"publish":"x"}}'])
        node.broken = {2}
        source = FlodSource(node.url, "rpc", "secret", state_path=tmp_path / "flod.json")
        with pytest.raises(SourceError, match="block 2 unreadable"):
            await source.harvest()
        assert json.loads((tmp_path / "flod.json").read_text())["height"] == 1
        node.broken = set()
        calls = len(node.calls)
        harvest = await source.harvest()
        assert node.calls[calls:] == ["getblockcount", "getblockhash", "getblock"]  # block 2 only
    assert sorted(r.txid for r in harvest.records) == sorted(node.blocks[h][1]["txid"] for h in range(3))
    assert [r.reason for r in harvest.rejected] == ["transaction {}: publish must be a JSON object, not 'x'".format(
        node.blocks[h][2]["txid"]) for h in range(3)]


async def test_rpc_errors_are_clear():
    async with FlodStandIn() as node:
        node.add_block([])
        with pytest.raises(SourceError, match="getblockcount"):
            await FlodSource(node.url, "rpc", "wrong").harvest()
    with pytest.raises(SourceError, match="flod http://127.0.0.1:9/"):
        await FlodSource("http://rpc:x@127.0.0.1:9/").harvest()


def test_edits_of_unknown_records_are_rejected():
    from etdb_explore.records import parse_message
    from etdb_explore.records.history import apply_messages

    record = _record(synthetic_records(1, seed=9)[0])
    msgs = [parse_message(record.to_flodata(), "aa" * 32, 5),
            parse_message(_edit("bb" * 32, record, "x", 2), "cc" * 32, 6),
            parse_message(_edit("aa" * 32, record, "later", 3), "dd" * 32, 7)]
    random.Random(3).shuffle(msgs)
    records, problems = apply_messages(msgs)
    assert [r.title for r in records] == ["later"] and problems == [("cc" * 32, f"edit of unknown record {'bb' * 32}")]


async def test_a_state_file_that_cannot_be_written_costs_a_warning(tmp_path):
    record = _record(synthetic_records(1, seed=8)[0])
    (tmp_path / "file").write_text("not a folder")
    async with FlodStandIn() as node:
        node.add_block([record.to_flodata()])
        with pytest.warns(UserWarning, match="could not save the scan state"):
            harvest = await FlodSource(node.url, "rpc", "secret", state_path=tmp_path / "file" / "flod.json").harvest()
    assert [r.txid for r in harvest.records] == [node.blocks[0][1]["txid"]]

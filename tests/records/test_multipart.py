"""Multipart floData: go-etdb's split, signed parts, reassembly in any order, and every failure named."""

from __future__ import annotations

import itertools
import random

import pytest

from etdb_explore.errors import MultipartError
from etdb_explore.records import (
    MultipartAssembler,
    Part,
    flo,
    parse_part,
    parse_record,
    sign_parts,
    split_flodata,
)
from etdb_explore.records.multipart import FIRST_CHUNK, LATER_CHUNK, MAX_FLO_DATA

KEY = flo.PrivateKey.from_seed("multipart", "testnet")


def _publish(flodata: str) -> tuple[list[str], dict[str, str]]:
    sent: dict[str, str] = {}

    def send(data: str) -> str:
        txid = f"{len(sent):02x}" + "ab" * 31
        sent[txid] = data
        return txid

    return sign_parts(flodata, KEY, send), sent


def test_split_sizes_like_go_etdb():
    assert split_flodata("x" * MAX_FLO_DATA) == ["x" * MAX_FLO_DATA]
    parts = split_flodata("x" * 3000)
    assert [len(p) for p in parts] == [FIRST_CHUNK, LATER_CHUNK, LATER_CHUNK, 3000 - FIRST_CHUNK - 2 * LATER_CHUNK]
    exact = split_flodata("y" * (FIRST_CHUNK + 2 * LATER_CHUNK))
    assert [len(p) for p in exact] == [FIRST_CHUNK, LATER_CHUNK, LATER_CHUNK]  # never an empty last part


def test_split_never_cuts_a_utf8_character():
    text = "é" * 1000  # 2000 bytes
    parts = split_flodata(text)
    assert "".join(parts) == text
    assert all(len(p.encode()) <= FIRST_CHUNK for p in parts)


def test_parts_carry_signed_headers_and_reassemble_in_any_order(etdb_record):
    record = parse_record(etdb_record).signed(KEY)
    txids, sent = _publish(record.to_flodata())
    assert len(txids) > 1
    parts = [parse_part(sent[t], t) for t in txids]
    assert parts[0].reference == "" and all(p.reference == txids[0] for p in parts[1:])
    assert all(p.verify() for p in parts)
    assert all(len(sent[t].encode()) <= MAX_FLO_DATA for t in txids)
    for order in itertools.islice(itertools.permutations(parts), 0, 24):
        assembler = MultipartAssembler()
        results = [assembler.add(p) for p in order]
        done = [r for r in results if r]
        assert len(done) == 1 and results[-1] is not None
        txid, flodata = done[0]
        assert txid == txids[0]
        again = parse_record(flodata, txid=txid)
        assert again.artifact == record.artifact and again.verify()
        assert assembler.incomplete() == {}


def test_js_oip_short_references_group_too(etdb_record):
    record = parse_record(etdb_record).signed(KEY)
    txids, sent = _publish(record.to_flodata())
    assembler = MultipartAssembler()
    shuffled = [parse_part(sent[t], t) for t in txids]
    random.Random(1).shuffle(shuffled)
    assert [r for r in map(assembler.add, shuffled) if r][0][0] == txids[0]


def test_missing_duplicate_conflicting_and_forged_parts(etdb_record):
    record = parse_record(etdb_record).signed(KEY)
    txids, sent = _publish(record.to_flodata())
    parts = [parse_part(sent[t], t) for t in txids]
    assembler = MultipartAssembler()
    assembler.add(parts[0])
    assembler.add(parts[2])
    assert assembler.incomplete() == {txids[0][:10]: [1] + list(range(3, len(parts)))}
    with pytest.raises(MultipartError, match="duplicate part 2"):
        assembler.add(parts[2])
    forged_data = parts[2].data[:-1] + "!"
    forged = parse_part(parts[2].to_flodata().replace(parts[2].data, forged_data), "cc" * 32)
    with pytest.raises(MultipartError, match="signature does not verify"):
        assembler.add(forged)
    pre = f"2-{parts[2].max}-{KEY.address}-{parts[2].reference}-{forged_data}"
    conflicting = parse_part(f"oip-mp(2,{parts[2].max},{KEY.address},{parts[2].reference},"
                             f"{KEY.sign_message(pre)}):{forged_data}", "dd" * 32)
    with pytest.raises(MultipartError, match="conflicting part 2"):
        assembler.add(conflicting)


@pytest.mark.parametrize("flodata, match", [
    ("oip-mp(1,0,F,,sig):x", "out of range"),
    ("oip-mp(3,2,F,,sig):x", "out of range"),
    ("oip-mp(0,1000,F,,sig):x", "exceed the limit"),
    ("oip-mp(a,b):x", "malformed multipart header"),
])
def test_malformed_headers(flodata, match):
    with pytest.raises(MultipartError, match=match):
        parse_part(flodata, "ee" * 32)


def test_part_zero_signed_with_zero_reference_is_accepted():
    data = "json:{}"
    pre = f"0-1-{KEY.address}-{'0' * 64}-{data}"
    part = parse_part(f"oip-mp(0,1,{KEY.address},,{KEY.sign_message(pre)}):{data}", "ab" * 32)
    assert part.verify()


def _stranger_part(number: int, max_: int, reference: str, data: str = "garbage") -> Part:
    stranger = flo.PrivateKey.from_seed("stranger", "testnet")
    signature = stranger.sign_message(f"{number}-{max_}-{stranger.address}-{reference}-{data}")
    return parse_part(f"oip-mp({number},{max_},{stranger.address},{reference},{signature}):{data}", "ff" * 32)


def test_a_strangers_part_seen_before_part_zero_does_not_block_the_message(etdb_record):
    record = parse_record(etdb_record).signed(KEY)
    txids, sent = _publish(record.to_flodata())
    parts = [parse_part(sent[t], t) for t in txids]
    assembler = MultipartAssembler()
    for early in (_stranger_part(1, parts[1].max, txids[0]), _stranger_part(2, parts[1].max + 3, txids[0])):
        assert assembler.add(early) is None  # valid signatures, claiming part 0's txid: kept apart
    assert [assembler.add(p) for p in parts[1:]] == [None] * (len(parts) - 1)
    assert assembler.incomplete() == {txids[0][:10]: [0]}
    assert assembler.add(parts[0]) == (txids[0], record.to_flodata())
    assert assembler.incomplete() == {}
    late = MultipartAssembler()
    late.add(parts[0])
    with pytest.raises(MultipartError, match="conflicts with part 0"):
        late.add(_stranger_part(1, parts[1].max, txids[0]))
    assert late.add(parts[1]) is None


@pytest.mark.parametrize("flodata, match", [
    (b"oip-mp(\xff", "not UTF-8"),
    (12, "must be text"),
    ("oip-mp(" + "9" * 5000 + ",1,F,,s):x", "exceed the limit"),
], ids=["bytes", "int", "5000 digits"])
def test_parts_of_any_type_raise_multipart_errors(flodata, match):
    with pytest.raises(MultipartError, match=match):
        parse_part(flodata, "ee" * 32)

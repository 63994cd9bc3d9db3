"""Signing many records on every core: the same floData, byte for byte, as signing one at a time (RFC 6979)."""

from __future__ import annotations

import pytest

from etdb_explore.demo.sample import synthetic_records
from etdb_explore.publish.messages import SIGN_CHUNK, first_part, later_parts, sign_later_parts, sign_records
from etdb_explore.records import Record, normalize_artifact, parse_message
from etdb_explore.records.multipart import MultipartAssembler, parse_part
from tests.publish.conftest import LAB_KEY


@pytest.fixture(scope="module")
def unsigned() -> list[Record]:
    """More than two chunks of the lab's records, unsigned (the synthetic ETDB's artifacts, theirs removed)."""
    raws = synthetic_records(SIGN_CHUNK * 2 + 37, seed=5)
    return [Record(normalize_artifact({k: v for k, v in raw["artifact"].items() if k not in ("signature", "floAddress")}))
            for raw in raws]


def test_many_records_sign_as_one_at_a_time(unsigned):
    signed = sign_records(unsigned, LAB_KEY)
    assert signed == [first_part(record.signed(LAB_KEY).to_flodata(), LAB_KEY) for record in unsigned]
    assert sign_records(unsigned, LAB_KEY) == signed  # deterministic


def test_signed_parts_read_back_as_the_records(unsigned):
    signed = sign_records(unsigned, LAB_KEY)
    multipart = [(i, chunks) for i, (chunks, _) in enumerate(signed) if len(chunks) > 1]
    assert multipart, "the synthetic records should need several transactions"
    txids = [f"{i:064x}" for i in range(len(signed))]
    later = sign_later_parts([(chunks, txids[i]) for i, chunks in multipart], LAB_KEY)
    assert later == [later_parts(chunks, LAB_KEY, txids[i]) for i, chunks in multipart]
    assembler = MultipartAssembler()
    whole = {}
    for (i, chunks), rest in zip(multipart, later):
        assert sorted(rest) == list(range(1, len(chunks)))
        for k, flodata in [(0, signed[i][1]), *sorted(rest.items())]:
            done = assembler.add(parse_part(flodata, txids[i] if k == 0 else f"{i:062x}{k:02x}"))
        assert done is not None
        whole[i] = done[1]
    for i, record in enumerate(unsigned):
        message = whole.get(i, signed[i][1])
        assert message == "".join(signed[i][0])
        back = parse_message(message, txids[i])
        assert back.verify() and back.publisher == LAB_KEY.address
        assert {k: v for k, v in back.artifact.items() if k not in ("signature", "floAddress")} == record.artifact


def test_signing_leaves_the_record_canonical_and_unchanged(unsigned):
    record = unsigned[0]
    before = record.to_json()
    signed = record.signed(LAB_KEY)
    assert record.to_json() == before and "signature" not in record.artifact
    assert normalize_artifact(signed.artifact) == signed.artifact
    assert signed.verify() and signed.publisher == LAB_KEY.address

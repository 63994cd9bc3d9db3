"""safejson reads what Go's encoding/json writes, and nothing it could not have written."""

from __future__ import annotations

import copy

import pytest

from etdb_explore.errors import RecordError
from etdb_explore.records.record import parse_record
from etdb_explore.records.safejson import loads


@pytest.mark.parametrize(("text", "value"), [
    ("18446744073709551615", 2**64 - 1),  # uint64's largest
    ("-9223372036854775808", -(2**63)),  # int64's smallest
    ("18446744073709552000", 1.8446744073709552e19),  # float64 2**64 as Go writes it (no exponent below 1e21)
    ("-9223372036854777856", -9.223372036854778e18),
    ("999999999999999868928", 9.999999999999999e20),
])
def test_integer_literals_go_could_have_written(text, value):
    parsed = loads(text, "t")
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["1000000000000000000000", "-1000000000000000000000", "9" * 400])
def test_integer_literals_go_never_writes_are_refused(text):
    with pytest.raises(RecordError, match="out of range"):
        loads(text, "t")


def test_a_float_field_beyond_uint64_parses_back_from_its_own_floData(etdb_record):
    raw = copy.deepcopy(etdb_record)
    raw["artifact"]["details"]["defocus"] = 2**64  # found by the fuzz test
    record = parse_record(raw)
    assert parse_record(record.to_flodata()).to_json() == record.to_json()

"""Fuzzing records and floData (issue 9): whatever comes in, only EtdbErrors come out, in bounded time, and an
index of hostile records next to good ones still loads and goes to a snapshot and back.

Inputs are drawn by Hypothesis: JSON values of every type and size (huge and non-finite numbers, lone surrogates,
deep nesting), real records and messages with one member replaced or their text mutated byte by byte, raw text and
bytes. Each test prints how many inputs it tried; ``ETDB_FUZZ_SCALE=10`` runs ten times as many.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etdb_explore import Index
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.errors import EtdbError
from etdb_explore.index.sources.base import Rejection
from etdb_explore.records import MultipartAssembler, Record, flo, parse_message, parse_part, parse_record
from etdb_explore.records.patch import apply_patch
from etdb_explore.records.safejson import loads

SCALE = int(os.environ.get("ETDB_FUZZ_SCALE", "1"))
TRIED: Counter[str] = Counter()
GOOD = synthetic_records(3, seed=41)
BASE = GOOD[0]
KEY = flo.PrivateKey.from_seed("fuzz", "testnet")
RECORD = parse_record(BASE)
EDIT = 'json:{"oip042":{"edit":{"artifact":{"txid":"' + "ab" * 32 + '","timestamp":1600000000,"patch":[{"op":' \
       '"replace","path":"/info/title","value":"t"}]},"signature":"' + KEY.sign_message("x") + '"}}}'
DEACTIVATE = 'json:{"oip042":{"deactivate":{"artifact":{"artifactID":"' + "ab" * 32 + '","timestamp":16},' \
             '"signature":"' + KEY.sign_message("y") + '"}}}'
PART = f"oip-mp(1,3,{KEY.address},{'cd' * 32},{KEY.sign_message('z')}):" + '{"oip042":{"publish"'


def fuzz_settings(examples: int, deadline_ms: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=deadline_ms, database=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- strategies ---------------------------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=[]), max_size=12) | st.sampled_from(
    ["\ud800", "a\udfff", "", " ", "1e400", "NaN", "-1", "2", "Research", "tomogram", "json:", "oip-mp("])
NUMBERS = st.integers() | st.floats() | st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**400, 1e308, -0.0]) \
    | st.integers(4300, 6000).map(lambda digits: 10**digits)  # too long for str(): sampled_from would print it


def _deep(leaf):
    return st.integers(60, 3000).map(lambda n: _nest(n, leaf))


def _nest(levels: int, leaf):
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
) | _deep(1)

PATHS = [("signature",), ("timestamp",), ("floAddress",), ("type",), ("subtype",), ("info",), ("info", "title"),
         ("info", "year"), ("info", "nsfw"), ("details",), ("details", "date"), ("details", "NCBItaxID"),
         ("details", "defocus"), ("details", "tiltSingleDual"), ("details", "scopeName"), ("details", "strain"),
         ("details", "unknownField"), ("storage",), ("storage", "location"), ("storage", "files"),
         ("storage", "files", 0), ("storage", "files", 0, "fsize"), ("storage", "files", 0, "fname"), ("payment",),
         ("newKey",)]


def _replaced(raw: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(raw)
    node = out["artifact"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _to_text(value) -> str | None:
    try:
        return json.dumps(value)
    except (ValueError, RecursionError):  # a number too long for str(), or nested too deep for the encoder
        return None


# what mutated_text draws (built once: a strategy made anew for every draw costs Hypothesis more than the draw)
EDITS = st.integers(1, 4)
ACTIONS = st.sampled_from(["insert", "delete", "replace"])
PIECES = st.sampled_from(list('{}[]",:\\0123456789eE-+.ntfu ')) | st.characters(exclude_categories=[])


@st.composite
def mutated_text(draw, text: str) -> str:
    """``text`` with a few characters inserted, deleted or replaced."""
    chars = list(text)
    for _ in range(draw(EDITS)):
        at = draw(st.integers(0, len(chars)))
        action = draw(ACTIONS)
        piece = draw(PIECES)
        if action == "insert" or not chars:
            chars.insert(at, piece)
        elif action == "delete":
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = piece
    return "".join(chars)


HOSTILE_RECORDS = (
    st.tuples(st.sampled_from(PATHS), JSON_VALUES).map(lambda pv: _replaced(BASE, *pv))
    | mutated_text(json.dumps(BASE))
    | st.binary(max_size=64)
    | JSON_VALUES
)


# ---- helpers ------------------------------------------------------------------------------------------------------

def _only_etdb_errors(call, *args):
    try:
        return call(*args)
    except EtdbError:
        return None


def _tried(name: str, fuzz) -> None:
    before = TRIED[name]
    fuzz()
    print(f"\n{name}: {TRIED[name] - before} inputs tried")
    assert TRIED[name] - before >= 10


# ---- parsers ------------------------------------------------------------------------------------------------------

@fuzz_settings(300, 500)
@given(st.tuples(st.sampled_from(PATHS), JSON_VALUES))
def _record_members(path_value):
    TRIED["parse_record (a member replaced)"] += 1
    raw = _replaced(BASE, *path_value)
    record = _only_etdb_errors(parse_record, raw)
    text = _to_text(raw)
    from_text = _only_etdb_errors(parse_record, text) if text is not None else None
    if record is not None:
        again = parse_record(record.to_flodata())  # whatever parses serializes, and parses back the same
        assert again.to_json() == record.to_json()
        if from_text is not None:
            assert from_text.to_json() == record.to_json()


def test_parse_record_members():
    _tried("parse_record (a member replaced)", _record_members)


@fuzz_settings(300, 500)
@given(mutated_text(json.dumps(BASE)) | st.text(st.characters(exclude_categories=[])) | st.binary())
def _record_texts(text):
    TRIED["parse_record (text and bytes)"] += 1
    record = _only_etdb_errors(parse_record, text)
    if record is not None:
        assert parse_record(record.to_flodata()).to_json() == record.to_json()


def test_parse_record_texts():
    _tried("parse_record (text and bytes)", _record_texts)


@fuzz_settings(300, 500)
@given(st.sampled_from(["publish", "edit", "deactivate", "other"]), JSON_VALUES,
       mutated_text(EDIT) | mutated_text(DEACTIVATE) | mutated_text(RECORD.to_flodata()), st.booleans())
def _messages(kind, value, mutated, structured):
    TRIED["parse_message (floData)"] += 1
    text = _to_text({"oip042": {kind: value}}) if structured else mutated
    if text is not None:
        flodata = text if text.startswith("json:") else "json:" + text
        _only_etdb_errors(parse_message, flodata, "ef" * 32, 5)
        _only_etdb_errors(parse_message, flodata.encode("utf-8", "surrogatepass"), "ef" * 32, 5)


def test_parse_message():
    _tried("parse_message (floData)", _messages)


@fuzz_settings(300, 500)
@given(mutated_text(PART) | st.text().map(lambda t: "oip-mp(" + t) | st.binary().map(lambda b: b"oip-mp(" + b)
       | st.tuples(st.integers(-2, 10**30), st.integers(-2, 10**30), TEXT, TEXT, TEXT, TEXT).map(
           lambda p: "oip-mp({},{},{},{},{}):{}".format(*p)))
def _parts(flodata):
    TRIED["parse_part + MultipartAssembler.add"] += 1
    part = _only_etdb_errors(parse_part, flodata, "12" * 32)
    if part is not None:
        _only_etdb_errors(MultipartAssembler().add, part)


def test_parse_part():
    _tried("parse_part + MultipartAssembler.add", _parts)


@fuzz_settings(200, 500)
@given(st.lists(st.dictionaries(st.sampled_from(["op", "path", "from", "value"]),
                                st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "/info/title",
                                                 "/storage/files/0", "/storage/files/-", "/storage/files/99",
                                                 "/", "", "/info", "~1"]) | JSON_VALUES), max_size=4))
def _patches(operations):
    TRIED["apply_patch (edits)"] += 1
    patched = _only_etdb_errors(apply_patch, RECORD.artifact, operations)
    if patched is not None:
        _only_etdb_errors(RECORD.apply_edit, _edit(operations))


def _edit(operations):
    from etdb_explore.records import Edit

    return Edit("ab" * 32, 5, tuple(operations), KEY.sign_message(f"{'ab' * 32}-5"))


def test_apply_patch():
    _tried("apply_patch (edits)", _patches)


def test_loads_bounds_depth_and_numbers():
    for text in ("[" * 100_000 + "]" * 100_000, "9" * 5000, '{"a": NaN}', "1e400", '"\\udc00"', b"\xff"):
        with pytest.raises(EtdbError):
            loads(text, "fuzz")


# ---- index and snapshots ------------------------------------------------------------------------------------------

@fuzz_settings(25, 8000)
@given(st.lists(HOSTILE_RECORDS, min_size=1, max_size=3), st.data())
def _indexes(hostile, data):
    TRIED["Index.from_records + snapshots"] += 1
    items = [*GOOD, *hostile]
    data.draw(st.randoms()).shuffle(items)
    index = Index.from_records(items, source="fuzz")
    good = {g["meta"]["txid"] for g in GOOD}
    assert good <= set(index.datasets.txid)
    assert len(index) + len(index.rejected) == len(items)
    folder = _fresh_folder()
    index.to_snapshot(folder)
    trusted = Index.from_snapshot(folder)
    verified = Index.from_snapshot(folder, verify=True)
    pd.testing.assert_frame_equal(trusted.datasets, index.datasets)
    pd.testing.assert_frame_equal(verified.datasets, index.datasets)
    assert all(isinstance(r, Record) for r in verified.records.values())


_FOLDERS = iter(range(10**9))
_ROOT: list = []


def _fresh_folder():
    return _ROOT[0] / f"snap{next(_FOLDERS)}"


def test_index_and_snapshots(tmp_path):
    _ROOT[:] = [tmp_path]
    _tried("Index.from_records + snapshots", _indexes)


@fuzz_settings(40, 5000)
@given(st.sampled_from(["records.jsonl", "snapshot.json", "rejected.parquet"]), st.data())
def _snapshot_files(name, data):
    TRIED["Index.from_snapshot (a file mutated)"] += 1
    folder = _fresh_folder()
    Index.from_records(GOOD, rejected=[Rejection("fuzz", None, "a reason")]).to_snapshot(folder)
    path = folder / name
    raw = path.read_bytes()
    if name.endswith(".parquet"):
        at = data.draw(st.integers(0, len(raw) - 1))
        path.write_bytes(raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at + 1:])
    else:
        path.write_bytes(data.draw(mutated_text(raw.decode())).encode("utf-8", "surrogatepass"))
    index = _only_etdb_errors(lambda: Index.from_snapshot(folder, verify=True))
    if index is not None:  # a line may have lost its txid, not its signature
        assert set(index.datasets.location) <= {g["artifact"]["storage"]["location"] for g in GOOD}
        assert index.datasets.signature_valid.all()


def test_snapshot_files(tmp_path):
    _ROOT[:] = [tmp_path]
    _tried("Index.from_snapshot (a file mutated)", _snapshot_files)

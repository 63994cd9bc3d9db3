"""RFC 6902 patches (and the older squashed form) as edits apply them."""

from __future__ import annotations

import pytest

from etdb_explore.errors import RecordError
from etdb_explore.records.patch import apply_patch, squashed_to_operations

DOC = {"info": {"title": "a", "tags": "x"}, "storage": {"files": [{"fname": "a"}, {"fname": "b"}]}}


def test_all_operations():
    out = apply_patch(DOC, [
        {"op": "replace", "path": "/info/title", "value": "b"},
        {"op": "add", "path": "/storage/files/1", "value": {"fname": "new"}},
        {"op": "add", "path": "/storage/files/-", "value": {"fname": "last"}},
        {"op": "remove", "path": "/info/tags"},
        {"op": "copy", "from": "/info/title", "path": "/info/description"},
        {"op": "move", "from": "/info/description", "path": "/info/year"},
        {"op": "test", "path": "/info/year", "value": "b"},
        {"op": "add", "path": "/a~1b", "value": 1},
    ])
    assert out == {"info": {"title": "b", "year": "b"}, "a/b": 1,
                   "storage": {"files": [{"fname": "a"}, {"fname": "new"}, {"fname": "b"}, {"fname": "last"}]}}
    assert DOC["info"]["title"] == "a"  # the input is not changed


@pytest.mark.parametrize("op, match", [
    ({"op": "replace", "path": "/info/nope", "value": 1}, "does not exist"),
    ({"op": "remove", "path": "/storage/files/5"}, "does not exist"),
    ({"op": "test", "path": "/info/title", "value": "z"}, "test failed"),
    ({"op": "frobnicate", "path": "/x"}, "unknown JSON patch operation"),
    ({"path": "/x"}, "malformed"),
    ({"op": "add", "path": "info", "value": 1}, "must start with '/'"),
    ({"op": "add", "path": ["info"], "value": 1}, "is not a string"),
    ({"op": "move", "path": "/x"}, "without 'from'"),
    ({"op": "add", "path": "/storage/files/" + "9" * 5000, "value": 1}, "out of range"),
    ({"op": "remove", "path": "/storage/files/-1"}, "does not exist"),
    ({"op": "replace", "path": "/storage/files/\u0661", "value": 1}, "out of range"),
    ({"op": "add", "path": "/info/title/x", "value": 1}, "does not name a container"),
])
def test_failures_are_named(op, match):
    with pytest.raises(RecordError, match=match):
        apply_patch(DOC, [op])


def test_squashed_form():
    ops = squashed_to_operations({"replace": [{"path": "info.title", "value": "c"}], "remove": [{"path": "/info/tags"}]})
    assert apply_patch(DOC, ops)["info"] == {"title": "c"}


@pytest.mark.parametrize("squashed", [{"replace": [1]}, {"add": "x"}, {"remove": [{"path": 5}]}])
def test_malformed_squashed_form(squashed):
    with pytest.raises(RecordError, match="squashed patch"):
        squashed_to_operations(squashed)

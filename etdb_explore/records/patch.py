"""RFC 6902 JSON Patch, as oipd applies edits to artifacts, and media-protocol's older squashed form."""

from __future__ import annotations

import copy
from typing import Any

from etdb_explore.errors import RecordError
from etdb_explore.records.safejson import check, describe


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split(pointer: Any) -> list[str]:
    if not isinstance(pointer, str):
        raise RecordError(f"JSON pointer {describe(pointer)} is not a string")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise RecordError(f"JSON pointer {describe(pointer)} must start with '/'")
    return [_unescape(t) for t in pointer[1:].split("/")]


def _parent(doc: Any, tokens: list[str], pointer: str) -> tuple[Any, str]:
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, pointer)
    return node, tokens[-1]


def _index(token: str) -> int:
    """An array index token: ASCII digits only (no sign, no other scripts), never huge; -1 when it is not one."""
    return int(token) if token.isascii() and token.isdigit() and len(token) < 19 else -1


def _child(node: Any, token: str, pointer: str) -> Any:
    try:
        if isinstance(node, list):
            if _index(token) < 0:
                raise IndexError(token)
            return node[_index(token)]
        return node[token]
    except (KeyError, IndexError, TypeError):
        raise RecordError(f"JSON patch path {describe(pointer)} does not exist") from None


def _get(doc: Any, pointer: str) -> Any:
    node = doc
    for token in _split(pointer):
        node = _child(node, token, pointer)
    return node


def _remove(doc: Any, pointer: str) -> Any:
    tokens = _split(pointer)
    if not tokens:
        raise RecordError("JSON patch cannot remove the whole document")
    parent, key = _parent(doc, tokens, pointer)
    value = _child(parent, key, pointer)
    if isinstance(parent, list):
        del parent[_index(key)]
    else:
        del parent[key]
    return value


def _add(doc: Any, pointer: str, value: Any, replace: bool) -> Any:
    tokens = _split(pointer)
    if not tokens:
        return value
    parent, key = _parent(doc, tokens, pointer)
    if isinstance(parent, list):
        if key == "-":
            parent.append(value)
        else:
            index = _index(key)
            if not 0 <= index <= len(parent) - (1 if replace else 0):
                raise RecordError(f"JSON patch index {describe(pointer)} is out of range")
            if replace:
                parent[index] = value
            else:
                parent.insert(index, value)
    elif isinstance(parent, dict):
        if replace and key not in parent:
            raise RecordError(f"JSON patch path {describe(pointer)} does not exist")
        parent[key] = value
    else:
        raise RecordError(f"JSON patch path {describe(pointer)} does not name a container")
    return doc


def apply_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    """A patched copy of ``document``.

    Returns:
        The patched copy (``document`` is not changed).

    Raises:
        RecordError: naming the failing operation, or when ``operations`` are not JSON within the nesting limit.
    """
    check(operations, "JSON patch")
    doc = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise RecordError(f"malformed JSON patch operation {describe(op)}")
        kind, path = op["op"], op["path"]
        if kind in ("move", "copy") and "from" not in op:
            raise RecordError(f"JSON patch {describe(kind)} operation without 'from'")
        if kind in ("add", "replace"):
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=kind == "replace")
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "move":
            doc = _add(doc, path, _remove(doc, op["from"]), replace=False)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])), replace=False)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise RecordError(f"JSON patch test failed at {describe(path)}")
        else:
            raise RecordError(f"unknown JSON patch operation {describe(kind)}")
    return doc


def squashed_to_operations(squashed: dict[str, Any]) -> list[dict[str, Any]]:
    """media-protocol's ``{"replace": [{path, value}], "add": [...], "remove": [...]}`` as RFC 6902 operations.

    Returns:
        The operations: removes, then replaces, then adds; dotted paths become JSON pointers.

    Raises:
        RecordError: a kind is not a list of objects, or a path is not a string.
    """
    ops = []
    for kind in ("remove", "replace", "add"):
        entries = squashed.get(kind) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise RecordError(f"squashed patch {kind!r} must be a list of objects")
        for entry in entries:
            path = entry.get("path", "")
            if not isinstance(path, str):
                raise RecordError(f"squashed patch {kind!r}: path {describe(path)} is not a string")
            op = {"op": kind, "path": path if path.startswith("/") else "/" + path.replace(".", "/")}
            if kind != "remove":
                op["value"] = entry.get("value")
            ops.append(op)
    return ops

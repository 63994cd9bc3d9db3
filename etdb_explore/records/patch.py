"""RFC 6902 JSON Patch, as oipd applies edits to artifacts, and media-protocol's older squashed form."""

from __future__ import annotations

import copy
from typing import Any

from etdb_explore.errors import RecordError


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise RecordError(f"JSON pointer {pointer!r} must start with '/'")
    return [_unescape(t) for t in pointer[1:].split("/")]


def _parent(doc: Any, tokens: list[str], pointer: str) -> tuple[Any, str]:
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, pointer)
    return node, tokens[-1]


def _child(node: Any, token: str, pointer: str) -> Any:
    try:
        if isinstance(node, list):
            return node[int(token)]
        return node[token]
    except (KeyError, IndexError, ValueError, TypeError):
        raise RecordError(f"JSON patch path {pointer!r} does not exist") from None


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
        del parent[int(key)]
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
            index = int(key) if key.isdigit() else -1
            if not 0 <= index <= len(parent) - (1 if replace else 0):
                raise RecordError(f"JSON patch index {pointer!r} is out of range")
            if replace:
                parent[index] = value
            else:
                parent.insert(index, value)
    elif isinstance(parent, dict):
        if replace and key not in parent:
            raise RecordError(f"JSON patch path {pointer!r} does not exist")
        parent[key] = value
    else:
        raise RecordError(f"JSON patch path {pointer!r} does not name a container")
    return doc


def apply_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    """A patched copy of ``document``; RecordError naming the failing operation."""
    doc = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise RecordError(f"malformed JSON patch operation {op!r}")
        kind, path = op["op"], op["path"]
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
                raise RecordError(f"JSON patch test failed at {path!r}")
        else:
            raise RecordError(f"unknown JSON patch operation {kind!r}")
    return doc


def squashed_to_operations(squashed: dict[str, Any]) -> list[dict[str, Any]]:
    """media-protocol's ``{"replace": [{path, value}], "add": [...], "remove": [...]}`` as RFC 6902 operations."""
    ops = []
    for kind in ("remove", "replace", "add"):
        for entry in squashed.get(kind, []) or []:
            path = entry.get("path", "")
            op = {"op": kind, "path": path if path.startswith("/") else "/" + path.replace(".", "/")}
            if kind != "remove":
                op["value"] = entry.get("value")
            ops.append(op)
    return ops

"""Normalising Research-Tomogram artifacts: one canonical dict whatever spelling or typing the source used.

The canonical form uses go-etdb's key spellings, Go's types (ints, floats, bools; numbers given as strings are
converted), and drops empty values the way Go's ``omitempty`` does, so parse → serialize → parse is lossless.
Keys go-etdb did not know are kept. Key order is go-etdb's struct order, applied when serializing (dict equality
does not depend on it, and parsing stays fast).
"""

from __future__ import annotations

from typing import Any

from etdb_explore.errors import RecordError
from etdb_explore.records import gojson
from etdb_explore.records.schema import (
    ALIASES,
    BOOL_FIELDS,
    FLOAT_FIELDS,
    GO_TYPES,
    INT_FIELDS,
    MANDATORY,
    NESTED,
    RANKS,
)


def _typed(key: str, value: Any, where: str) -> Any:
    """Convert ``value`` to the Go type of ``key``; RecordError naming the field when impossible."""
    try:
        if key in INT_FIELDS:
            if isinstance(value, str):
                value = value.strip()
                return int(float(value)) if value else 0
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"{value} is not whole")
                return int(value)
            return int(value)
        if key in FLOAT_FIELDS:
            if isinstance(value, str):
                value = value.strip()
                return float(value) if value else 0.0
            return float(value)
        if key in BOOL_FIELDS:
            if isinstance(value, str):
                return value.strip().lower() in ("true", "1", "yes")
            return bool(value)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"{where}.{key}: {value!r} is not a valid {_type_name(key)}") from exc
    return value


def _type_name(key: str) -> str:
    return "integer" if key in INT_FIELDS else "number" if key in FLOAT_FIELDS else "boolean"


def _normalize_object(raw: Any, kind: str, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RecordError(f"{where} must be a JSON object, not {type(raw).__name__}")
    aliases = ALIASES[kind]
    known: dict[str, Any] = {}
    for key, value in raw.items():
        canonical = aliases.get(key) or aliases.get(str(key).lower())
        if canonical is None:  # a key go-etdb did not know: kept as it is
            if value:
                known[key] = value
            continue
        if canonical in NESTED:
            value = _normalize_object(value, canonical, f"{where}.{canonical}")
            if canonical == "storage" and "files" in value:
                value["files"] = _normalize_files(value["files"], f"{where}.storage.files")
        elif value is not None and canonical in GO_TYPES and type(value) is not GO_TYPES[canonical]:
            value = _typed(canonical, value, where)
        if not value:  # Go's omitempty: 0, 0.0, false, "", empty list or object
            continue
        if canonical in known and known[canonical] != value:
            raise RecordError(f"{where}: {canonical} given twice with different values")
        known[canonical] = value
    return known


def _normalize_files(raw: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise RecordError(f"{where} must be a list")
    return [_normalize_object(f, "file", f"{where}[{i}]") for i, f in enumerate(raw)]


def normalize_artifact(raw: Any) -> dict[str, Any]:
    """The canonical form of an artifact dict, in any spelling met in the wild."""
    return _normalize_object(raw, "artifact", "artifact")


def missing_fields(artifact: dict[str, Any]) -> list[str]:
    """Mandatory fields (Table 1 of the ETDB paper) absent from a canonical artifact, plus files without fname."""
    missing = []
    for dotted in MANDATORY:
        node: Any = artifact
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not node:
            missing.append(dotted)
    for i, f in enumerate(artifact.get("storage", {}).get("files", [])):
        if not f.get("fname"):
            missing.append(f"storage.files[{i}].fname")
    return missing


def _in_go_order(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """A copy of a canonical object with go-etdb's key order (unknown keys after the known, in their order)."""
    rank = RANKS[kind]
    ordered = {}
    for key in sorted(obj, key=lambda k: rank.get(k, len(rank))):
        value = obj[key]
        if kind == "artifact" and key in NESTED:
            value = _in_go_order(value, key)
        elif kind == "storage" and key == "files":
            value = [_in_go_order(f, "file") for f in value]
        ordered[key] = value
    return ordered


def serialize_artifact(artifact: dict[str, Any]) -> str:
    """go-etdb's JSON of a canonical artifact (key order, omitempty, Go's escaping and number format)."""
    return gojson.dumps(_in_go_order(artifact, "artifact"))

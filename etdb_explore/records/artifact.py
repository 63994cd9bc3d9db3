"""Normalising Research-Tomogram artifacts: one canonical dict whatever spelling or typing the source used.

The canonical form uses go-etdb's key spellings, Go's types (ints, floats, bools; numbers given as strings are
converted), and drops empty values the way Go's ``omitempty`` does, so parse → serialize → parse is lossless.
Keys go-etdb did not know are kept. Key order is go-etdb's struct order, applied when serializing (dict equality
does not depend on it, and parsing stays fast).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from etdb_explore.errors import RecordError
from etdb_explore.records import gojson
from etdb_explore.records.safejson import MAX_DEPTH, check, check_text, describe
from etdb_explore.records.schema import (
    ALIASES,
    BOOL_FIELDS,
    FLOAT_FIELDS,
    INT_FIELDS,
    MANDATORY,
    NESTED,
    RANKS,
    STRING_FIELDS,
)

ARTIFACT_DEPTH = MAX_DEPTH - 4  # room for the envelopes an artifact travels in (floData, snapshot lines)
INT64 = 2**63
_BOOL_WORDS = ("true", "1", "yes")


def _to_int(value: Any) -> int:
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return 0
        try:
            value = int(value)
        except ValueError:
            value = float(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -INT64 <= value < INT64:
        raise ValueError("out of range")
    return value


def _to_float(value: Any) -> float:
    if isinstance(value, str):
        value = value.strip()
        return float(value) if value else 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("not a number")
    return float(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _BOOL_WORDS
    if not isinstance(value, (bool, int, float)):
        raise TypeError("not a boolean")
    return bool(value)


_CONVERTERS = {**{k: (_to_int, "integer") for k in INT_FIELDS}, **{k: (_to_float, "number") for k in FLOAT_FIELDS},
               **{k: (_to_bool, "boolean") for k in BOOL_FIELDS}}


def typed(key: str, value: Any, where: str) -> Any:
    """``value`` as the Go type of field ``key`` (numbers and booleans may be given as strings).

    Returns:
        An int within int64, a finite float, a bool, or a valid Unicode string.

    Raises:
        RecordError: naming ``where.key`` when Go could not have read ``value`` into that field.
    """
    kind = type(value)  # the common cases first: a value of the field's Go type
    if kind is str and key in STRING_FIELDS:
        return value if value.isascii() else check_text(value, f"{where}.{key}")
    if (kind is int and key in INT_FIELDS and -INT64 <= value < INT64) or (kind is bool and key in BOOL_FIELDS) or (
            kind is float and key in FLOAT_FIELDS and math.isfinite(value)):
        return value
    if key in STRING_FIELDS:
        if not isinstance(value, str):
            raise RecordError(f"{where}.{key}: {describe(value)} is not a string")
        return check_text(value, f"{where}.{key}")
    convert, name = _CONVERTERS[key]
    try:
        result = convert(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RecordError(f"{where}.{key}: {describe(value)} is not a valid {name}") from exc
    if isinstance(result, float) and not math.isfinite(result):
        raise RecordError(f"{where}.{key}: {describe(value)} is not a valid {name} (not finite)")
    return result


def _member(canonical: str, value: Any, where: str, depth: int) -> Any:
    """The canonical value of known member ``canonical`` of an object ``depth`` levels inside the artifact, or None
    when Go's omitempty drops it (None, 0, 0.0, false, "", an empty list or object)."""
    if value is None:
        return None
    if canonical in NESTED:
        value = _normalize_object(value, canonical, f"{where}.{canonical}", depth + 1)
    elif canonical == "files":
        value = _normalize_files(value, f"{where}.files", depth + 1)
    elif type(value) is not str or canonical not in STRING_FIELDS or not value.isascii():
        value = typed(canonical, value, where)  # (an ASCII string for a string field, the common case, is kept)
    return value or None


def _any_json(name: str, value: Any, where: str, depth: int) -> Any:
    """A member go-etdb kept as any JSON (``payment``, or a key it did not know), checked."""
    return check(value, f"{where}.{name[:60]}", ARTIFACT_DEPTH - depth)


# How a member is normalized (see _plan): checked inline (a string, integer or float field), through _member (a
# boolean, a nested object, the files list) or as any JSON.
_STR, _INT, _FLOAT, _OTHER, _ANY = range(5)
_MAX_FLOAT = sys.float_info.max
Plan = tuple[tuple[str, int], ...]
_PLANS: dict[tuple[str, tuple[Any, ...]], Plan | None] = {}  # (kind, keys as given) → plan, memoized


def _make_plan(kind: str, keys: tuple[Any, ...]) -> Plan | None:
    """Each key's canonical name and how its value is normalized; None when the keys need the general path (a key
    that is not a string or not valid Unicode, two spellings of one member)."""
    aliases, plan, seen = ALIASES[kind], [], set()
    for key in keys:
        if type(key) is not str:
            return None
        try:
            check_text(key, kind)
        except RecordError:
            return None
        canonical = aliases.get(key) or aliases.get(key.lower())
        if canonical is None or canonical == "payment":
            code = _ANY
        elif canonical in STRING_FIELDS:
            code = _STR
        else:
            code = _INT if canonical in INT_FIELDS else _FLOAT if canonical in FLOAT_FIELDS else _OTHER
        name = canonical or key
        if name in seen:
            return None
        seen.add(name)
        plan.append((name, code))
    return tuple(plan)


def _plan(kind: str, raw: dict[Any, Any]) -> Plan | None:
    """The memoized :func:`_make_plan` of ``raw``'s keys (records of one source share a few key sets)."""
    given = (kind, tuple(raw))
    try:
        return _PLANS[given]
    except KeyError:
        plan = _make_plan(kind, given[1])
        if len(_PLANS) < 4096:
            _PLANS[given] = plan
        return plan


def _normalize_object(raw: Any, kind: str, where: str, depth: int) -> dict[str, Any]:
    """``raw`` (an object ``depth`` levels inside the artifact) in canonical form.

    Values already of their field's Go type are kept as they are, checked inline in the order of the
    memoized plan of ``raw``'s keys; everything else goes through :func:`_member` (or :func:`_any_json`).
    """
    if not isinstance(raw, dict):
        raise RecordError(f"{where} must be a JSON object, not {describe(raw)}")
    plan = _plan(kind, raw)
    if plan is None:
        return _normalize_general(raw, kind, where, depth)
    known: dict[str, Any] = {}
    for (canonical, code), value in zip(plan, raw.values()):
        kind_of = type(value)
        if code == _STR:
            if kind_of is str and value.isascii():
                if value:
                    known[canonical] = value
                continue
        elif code == _INT:
            if kind_of is int and -INT64 <= value < INT64:
                if value:
                    known[canonical] = value
                continue
        elif code == _FLOAT:
            if kind_of is float and -_MAX_FLOAT <= value <= _MAX_FLOAT:  # (NaN fails both)
                if value:
                    known[canonical] = value
                continue
        elif code == _ANY:
            if value:
                known[canonical] = _any_json(canonical, value, where, depth)
            continue
        value = _member(canonical, value, where, depth)
        if value is not None:
            known[canonical] = value
    return known


def _normalize_general(raw: dict[Any, Any], kind: str, where: str, depth: int) -> dict[str, Any]:
    """:func:`_normalize_object` of an object whose keys have no plan: each key checked, spellings merged."""
    aliases = ALIASES[kind]
    known: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise RecordError(f"{where}: key {describe(key)} is not a string")
        canonical = aliases.get(key) or aliases.get(key.lower())
        if canonical is None or canonical == "payment":  # unknown to go-etdb, or any JSON: kept as it is
            if value:
                name = canonical or check_text(key, where)
                known[name] = _any_json(name, value, where, depth)
            continue
        value = _member(canonical, value, where, depth)
        if value is None:
            continue
        if canonical in known and known[canonical] != value:
            raise RecordError(f"{where}: {canonical} given twice with different values")
        known[canonical] = value
    return known


def _normalize_files(raw: Any, where: str, depth: int) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise RecordError(f"{where} must be a list")
    files = [_normalize_object(f, "file", f"{where}[{i}]", depth + 1) for i, f in enumerate(raw)]
    if sum(f.get("fsize", 0) for f in files) >= INT64:
        raise RecordError(f"{where}: file sizes add up to more than 2**63-1 bytes")
    return files


def normalize_artifact(raw: Any) -> dict[str, Any]:
    """The canonical form of an artifact dict, in any spelling met in the wild.

    Returns:
        A new dict: go-etdb's key spellings, Go's types, empty values dropped, unknown keys kept.

    Raises:
        RecordError: naming the field – not an object, a value Go could not have read into its field, a key given
            twice with different values, file sizes beyond int64, or JSON nested too deep or not valid Unicode.
    """
    return _normalize_object(raw, "artifact", "artifact", 1)


def missing_fields(artifact: dict[str, Any]) -> list[str]:
    """Mandatory fields (Table 1 of the ETDB paper) absent from a canonical artifact, plus files without fname.

    Returns:
        Their dotted names (``details.speciesName``, ``storage.files[2].fname``); empty when none is missing.
    """
    missing = []
    for dotted, path in _MANDATORY_PATHS:
        node: Any = artifact
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not node:
            missing.append(dotted)
    files = artifact.get("storage", {}).get("files", [])
    if not all(f.get("fname") for f in files):
        missing += [f"storage.files[{i}].fname" for i, f in enumerate(files) if not f.get("fname")]
    return missing


_MANDATORY_PATHS = tuple((dotted, tuple(dotted.split("."))) for dotted in MANDATORY)


class _NotPlain(Exception):
    """A value the fast serializer leaves to :mod:`~etdb_explore.records.gojson` (a float Python writes otherwise)."""


def _plain(value: Any) -> Any:
    """``value`` as Python's JSON encoder writes it the way Go does: whole floats as ints; floats that Python would
    write with an exponent, or anything else not a plain JSON scalar, raise _NotPlain."""
    kind = type(value)
    if kind is float:
        if value.is_integer() and abs(value) < 1e16:
            return int(value)
        if not 1e-4 <= abs(value) < 1e16:
            raise _NotPlain
    elif kind is not str and kind is not int and kind is not bool:
        raise _NotPlain
    return value


_ORDERS: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}  # (kind, keys as given) → keys in go-etdb's order


def _go_keys(obj: dict[str, Any], kind: str) -> tuple[str, ...]:
    """``obj``'s keys in go-etdb's order (unknown keys after the known, in their order), memoized per key set."""
    given = (kind, tuple(obj))
    order = _ORDERS.get(given)
    if order is None:
        rank = RANKS[kind]
        order = tuple(sorted(obj, key=lambda k: rank.get(k, len(rank))))
        if len(_ORDERS) < 4096:
            _ORDERS[given] = order
    return order


def _in_go_order(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """A copy of a canonical object with go-etdb's key order and plain values (see :func:`_plain`)."""
    rank = RANKS[kind]
    ordered = {}
    for key in _go_keys(obj, kind):
        value = obj[key]
        if type(value) is str:
            pass
        elif kind == "artifact" and key in NESTED:
            value = _in_go_order(value, key)
        elif kind == "storage" and key == "files":
            value = [_in_go_order(f, "file") for f in value]
        elif key == "payment" or kind == "artifact" and key not in rank:
            raise _NotPlain  # any JSON: left to gojson
        else:
            value = _plain(value)
        ordered[key] = value
    return ordered


_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
               ("\u2029", "\\u2029"))


def _go_object(obj: dict[str, Any], kind: str) -> str:
    """go-etdb's JSON of a canonical object of ``kind`` through :mod:`~etdb_explore.records.gojson` (any value)."""
    members = []
    for key in _go_keys(obj, kind):
        value = obj[key]
        if kind == "artifact" and key in NESTED:
            text = _go_object(value, key)
        elif kind == "storage" and key == "files":
            text = "[" + ",".join(_go_object(f, "file") for f in value) + "]"
        else:
            text = gojson.dumps(value)
        members.append(gojson.go_string(key) + ":" + text)
    return "{" + ",".join(members) + "}"


def serialize_artifact(artifact: dict[str, Any]) -> str:
    """go-etdb's JSON of a canonical artifact (key order, omitempty, Go's escaping and number format).

    The common artifact (strings, ints, floats Python writes as Go does) goes through Python's C encoder, its
    escapes then made Go's (``<`` ``>`` ``&`` U+2028 U+2029); anything else through
    :mod:`~etdb_explore.records.gojson`. Both give the same bytes.

    Returns:
        The compact JSON text, byte-exact with go-etdb's.

    Raises:
        ValueError, TypeError: ``artifact`` is not canonical (a non-finite float, a value of a non-JSON type).
    """
    try:
        text = _ENCODER.encode(_in_go_order(artifact, "artifact"))
    except _NotPlain:
        return _go_object(artifact, "artifact")
    if "\\b" in text or "\\f" in text:  # Python writes \b and \f where Go writes \u0008 and \u000c
        return _go_object(artifact, "artifact")
    for raw, escaped in _GO_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False)

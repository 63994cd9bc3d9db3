"""JSON exactly as Go's ``encoding/json`` writes it (the encoder go-etdb published with).

Compact separators, raw non-ASCII, ``<`` ``>`` ``&`` U+2028 U+2029 escaped as ``\\uXXXX``, control characters other
than \\n \\r \\t as ``\\u00XX``, floats in Go's shortest form (whole numbers without ``.0``, ``1e-7`` exponents).
Dicts are written in their own key order: callers order them (see :mod:`etdb_explore.records.schema`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord('"'): '\\"', ord("\\"): "\\\\"})
_ESCAPES.update({ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029]')


def go_string(text: str) -> str:
    """``text`` as a Go JSON string literal.

    Returns:
        The quoted, escaped text.
    """
    if _NEEDS_ESCAPE.search(text) is None:  # most strings: nothing to escape
        return '"' + text + '"'
    return '"' + text.translate(_ESCAPES) + '"'


def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'f' or 'e', -1, 64)`` choice as encoding/json makes it.

    Returns:
        The shortest text that reads back as ``value`` (``5``, ``0.25``, ``1e-7``, ``1e+21``).

    Raises:
        ValueError: ``value`` is NaN or infinite (Go refuses them too).
    """
    if not math.isfinite(value):
        raise ValueError(f"Go's JSON encoder cannot write {value!r}")
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        text = format(Decimal(repr(value)), "f")
        return text.removesuffix(".0")
    mantissa, exponent = repr(value).split("e")
    digits = exponent.lstrip("+-")
    if exponent.startswith("-"):
        return f"{mantissa}e-{digits.lstrip('0')}"
    return f"{mantissa}e+{digits.zfill(2)}"


def dumps(value: Any) -> str:
    """Serialize ``value`` (dict, list, tuple, str, int, float, bool, None) the way Go's ``json.Marshal`` does.

    Returns:
        The compact JSON text, dict keys in their own order.

    Raises:
        ValueError: a float is NaN or infinite.
        TypeError: a value of another type.
    """
    kind = type(value)
    if kind is str:
        return go_string(value)
    if kind is dict:
        return "{" + ",".join(go_string(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    if kind is int:
        return str(value)
    if isinstance(value, str):
        return go_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{" + ",".join(go_string(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot serialize {type(value).__name__} as Go JSON")

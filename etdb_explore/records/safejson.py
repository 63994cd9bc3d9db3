"""Bounded JSON for untrusted text and values: nesting, numbers and Unicode checked before they can hurt.

Python's parser recurses once per nesting level and converts integers of any length, so a record of 100,000
nested arrays or a 5,000-digit number would raise RecursionError or ValueError deep inside a load. Here the nesting
is measured first (a cheap scan that skips strings), integers must fit Go's int64/uint64, floats must be finite
float64 (``NaN``, ``Infinity`` and ``1e400`` are refused, as Go refuses them), and strings must be valid Unicode
(no lone surrogates, which go-etdb's encoder never writes and Parquet cannot store). Every refusal is a
:class:`~etdb_explore.errors.RecordError` naming what was read.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from etdb_explore.errors import RecordError

MAX_DEPTH = 64  # nesting levels of objects and arrays; a real record needs 7
MIN_INT, MAX_INT = -(2**63), 2**64 - 1  # Go's int64 and uint64 together
MAX_NUMBER_DIGITS = 21  # longer integer literals are neither Go integers nor Go floats written without an exponent
GO_FLOAT_EXPONENT_FROM = 1e21  # Go writes a float64 below this without an exponent: 2e19 as 20000000000000000000

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]', re.DOTALL)


class _Refused(ValueError):
    """Raised by the parser hooks; turned into a RecordError naming the text."""


def describe(value: Any) -> str:
    """A short, always printable description of an untrusted value, for error messages.

    Returns:
        ``repr`` of short strings and numbers, else the type and size; never longer than about 80 characters.
    """
    if isinstance(value, str):
        shown = repr(value[:60])
        return shown if len(value) <= 60 else f"{shown[:-1]}…' ({len(value)} characters)"
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 128 else f"a {value.bit_length()}-bit integer"
    if isinstance(value, dict):
        return f"an object of {len(value)} keys"
    if isinstance(value, (list, tuple)):
        return f"an array of {len(value)} items"
    return f"a {type(value).__name__}"


def as_text(value: Any, what: str, error: type[RecordError] = RecordError) -> str:
    """``value`` as text: a str as it is, bytes decoded as UTF-8.

    Returns:
        The text.

    Raises:
        RecordError (or ``error``): naming ``what`` when the bytes are not UTF-8 or ``value`` is not text.
    """
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not UTF-8 ({exc})") from None
    if not isinstance(value, str):
        raise error(f"{what} must be text, not {describe(value)}")
    return value


def nests_deeper(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests objects and arrays deeper than ``limit`` (strings skipped; unclosed count).

    Returns:
        True when it does (the text need not be valid JSON), else False.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def _int(literal: str) -> int | float:
    """An integer literal as Go wrote it: an int64/uint64, or a float64 beyond them written without an exponent."""
    if len(literal.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _Refused(f"integer of {len(literal)} characters is out of range")
    value = int(literal)
    if MIN_INT <= value <= MAX_INT:
        return value
    if abs(value) < GO_FLOAT_EXPONENT_FROM:
        return float(value)
    raise _Refused(f"integer {value} is out of range")


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(f"number {literal[:40]!r} does not fit a float64")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def loads(text: str | bytes, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse untrusted JSON ``text`` (bytes must be UTF-8) within the limits above.

    Returns:
        The parsed value, which passes :func:`check`.

    Raises:
        RecordError: naming ``what`` – not UTF-8, malformed, nested deeper than ``max_depth``, or a number out of
            range.
    """
    text = as_text(text, what)
    if nests_deeper(text, max_depth):
        raise RecordError(f"{what}: JSON nests deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Refused as exc:
        raise RecordError(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"{what}: malformed JSON ({str(exc)[:200]})") from None
    if _SURROGATE_ESCAPE.search(text) or (not text.isascii() and _SURROGATE.search(text)):
        check(value, what, max_depth)
    return value


def check_text(value: str, where: str) -> str:
    """Check that ``value`` is valid Unicode.

    Returns:
        ``value`` unchanged.

    Raises:
        RecordError: naming ``where``, when ``value`` holds a lone surrogate.
    """
    if not value.isascii() and _SURROGATE.search(value):
        raise RecordError(f"{where}: {describe(value)} is not valid Unicode (a lone surrogate)")
    return value


def check(value: Any, where: str, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` when it is a JSON value Go could have written, within ``max_depth`` levels.

    Returns:
        ``value`` unchanged.

    Raises:
        RecordError: naming ``where`` – too deep, a number out of range or not finite, a lone surrogate, a key
            that is not a string, or a Python object that is not JSON.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                raise RecordError(f"{where}: integer {describe(item)} is out of range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise RecordError(f"{where}: {item!r} is not a JSON number")
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise RecordError(f"{where}: nests deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        raise RecordError(f"{where}: key {describe(key)} is not a string")
                    check_text(key, where)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
        else:
            raise RecordError(f"{where}: {describe(item)} is not a JSON value")
    return value


def array_items(text: str, key: str) -> tuple[str, list[str]]:
    """Split the top-level object ``text`` into itself with ``key``'s array emptied, and that array's items' text.

    For a page whose whole cannot be parsed within the limits: each item can then be parsed (and refused) alone.

    Returns:
        ``(outer text with "key": [], [item text, …])``.

    Raises:
        RecordError: ``text`` is not an object holding ``key`` as an array.
    """
    depth, current, start, items = 0, None, None, []
    last = None
    for token in _TOKEN.finditer(text):
        mark = token.group()
        if start is not None and depth == 2 and mark in ",]":
            item = text[last:token.start()].strip()
            if item:
                items.append(item)
            last = token.end()
            if mark == "]":
                return text[:start] + text[token.start():], items
            continue
        if mark in "[{":
            depth += 1
            if depth == 2 and mark == "[" and current == key and start is None:
                start = last = token.end()
        elif mark in "]}":
            depth -= 1
        elif depth == 1 and mark.startswith('"'):
            current = mark[1:-1]
    raise RecordError(f"no {key!r} array in the JSON object")

"""A lab's metadata table → Research-Tomogram fields: the column mapping and per-row, per-field validation.

The fields are those of Table 1 of the ETDB paper, named as :attr:`Index.datasets` names its columns (``species``,
``tilt_min``, ``defocus``, …), so a table exported from an index maps onto them as it is. Units are the ETDB's:
defocus in µm (negative is underfocus), dosage in e/Å², tilt angles in degrees; dates anything pandas reads;
the NCBI taxid an integer. Validation reports every problem at once, one row per (table row, field).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from etdb_explore.errors import RecordError


@dataclass(frozen=True)
class Field:
    """One Research-Tomogram field: where it goes in the artifact, its kind, whether Table 1 requires it."""

    path: str  # dotted artifact path, e.g. "details.speciesName"
    kind: str  # "text" | "int" | "float" | "date" | "scheme"
    mandatory: bool = False
    unit: str = ""
    lo: float = -math.inf  # plausible range in the unit (outside it: a unit mistake)
    hi: float = math.inf


FIELDS: dict[str, Field] = {
    "title": Field("info.title", "text", True),
    "description": Field("info.description", "text"),
    "tags": Field("info.tags", "text"),
    "date": Field("details.date", "date", True),
    "species": Field("details.speciesName", "text", True),
    "ncbi_taxid": Field("details.NCBItaxID", "int", lo=1, hi=2**31 - 1),
    "strain": Field("details.strain", "text"),
    "tilt_scheme": Field("details.tiltSingleDual", "scheme"),
    "tilt_min": Field("details.tiltMin", "float", unit="degrees", lo=-90, hi=90),
    "tilt_max": Field("details.tiltMax", "float", unit="degrees", lo=-90, hi=90),
    "tilt_step": Field("details.tiltStep", "float", unit="degrees", lo=0.01, hi=30),
    "tilt_constant": Field("details.tiltConstant", "int", lo=0, hi=1),
    "defocus": Field("details.defocus", "float", unit="µm", lo=-50, hi=50),
    "dosage": Field("details.dosage", "float", unit="e/Å²", lo=0.01, hi=2000),
    "magnification": Field("details.magnification", "float", lo=1, hi=1e8),
    "microscope": Field("details.scopeName", "text"),
    "microscopist": Field("details.microscopist", "text"),
    "institution": Field("details.institution", "text"),
    "lab": Field("details.lab", "text"),
    "roles": Field("details.roles", "text"),
    "sid": Field("details.sid", "text"),
    "emdb": Field("details.emdb", "text"),
    "notes": Field("details.artNotes", "text"),
}
FOLDER = "folder"  # the column naming each dataset's folder (not a record field)
PROBLEM_COLUMNS = ["row", "field", "column", "value", "problem"]
_SCHEMES = {"1": 1, "single": 1, "2": 2, "dual": 2}


class MappingError(RecordError):
    """A column mapping names a field or a column that does not exist."""


def resolve_mapping(table: pd.DataFrame, columns: Mapping[str, str] | None = None) -> dict[str, str]:
    """Which table column holds which field: ``columns`` (table column → field) over the columns already named
    like a field (or like the folder column).

    Returns:
        field (or ``folder``) → table column.

    Raises:
        MappingError: ``columns`` names a table column or a field that does not exist.
    """
    mapping = {c: c for c in table.columns if c in FIELDS or c == FOLDER}
    for column, name in (columns or {}).items():
        if column not in table.columns:
            raise MappingError(f"the column mapping names column {column!r}, which the table does not have")
        if name not in FIELDS and name != FOLDER:
            raise MappingError(f"the column mapping maps {column!r} to {name!r}, which is not a Research-Tomogram "
                               f"field; choose from {', '.join([*FIELDS, FOLDER])}")
        mapping = {f: c for f, c in mapping.items() if c != column}
        mapping[name] = column
    return mapping


def _blank(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def convert(name: str, value: Any) -> Any:
    """``value`` of field ``name`` in the record's Go type (unix seconds for a date, 1|2 for the tilt scheme).

    Returns:
        A str, int or float.

    Raises:
        ValueError: the value is not of the field's kind or lies outside its plausible range (the message says
            which, with the unit).
    """
    spec = FIELDS[name]
    if spec.kind == "text":
        return str(value).strip()
    if spec.kind == "date":
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return int(stamp.timestamp())
    if spec.kind == "scheme":
        scheme = _SCHEMES.get(str(value).strip().lower().removesuffix(".0"))
        if scheme is None:
            raise ValueError("is not single/dual (1 or 2)")
        return scheme
    number = float(value) if not isinstance(value, str) else float(value.strip())
    if not math.isfinite(number):
        raise ValueError("is not a finite number")
    if spec.kind == "int":
        if not number.is_integer():
            raise ValueError("is not an integer")
        number = int(number)
    if not spec.lo <= number <= spec.hi:
        unit = f" {spec.unit}" if spec.unit else ""
        raise ValueError(f"is outside {spec.lo:g}…{spec.hi:g}{unit} (wrong unit?)")
    return number


def row_fields(row: Mapping[str, Any], mapping: Mapping[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The converted fields of one table row, and its problems.

    Returns:
        (field → value for the fields given, [(field, problem)]); mandatory fields missing and cross-field
        mistakes (tilt_min above tilt_max) are problems too.
    """
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, column in mapping.items():
        if name == FOLDER or _blank(row[column]):
            continue
        try:
            values[name] = convert(name, row[column])
        except (TypeError, ValueError, OverflowError) as exc:
            problems.append((name, str(exc) if str(exc).startswith("is ") else f"is not a valid {FIELDS[name].kind}"))
    for name, spec in FIELDS.items():
        if spec.mandatory and name not in values and name not in {p[0] for p in problems}:
            problems.append((name, "is missing (mandatory)"))
    if values.get("tilt_min", -math.inf) > values.get("tilt_max", math.inf):
        problems.append(("tilt_min", "is above tilt_max"))
    return values, problems


def validate(table: pd.DataFrame, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every problem of the table, before anything is published.

    Returns:
        One row per problem: ``row`` (the table's index label), ``field``, ``column`` (the table's), ``value``,
        ``problem``; empty when the table is ready.

    Raises:
        MappingError: the mapping names a missing column or an unknown field.
    """
    return pd.DataFrame(problem_rows(table, resolve_mapping(table, columns)), columns=PROBLEM_COLUMNS)


def problem_rows(table: pd.DataFrame, mapping: Mapping[str, str]) -> list[list[Any]]:
    """The problems of every row of ``table`` under a resolved ``mapping`` (field → column).

    Returns:
        ``[row label, field, column, value, problem]`` lists.
    """
    rows = []
    for label, row in table.iterrows():
        for name, problem in row_fields(row, mapping)[1]:
            column = mapping.get(name, "")
            rows.append([label, name, column, row[column] if column else None, problem])
    return rows


def artifact_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``info`` and ``details`` objects of converted field values.

    Returns:
        ``{"info": {…}, "details": {…}}`` with go-etdb's keys.
    """
    out: dict[str, dict[str, Any]] = {"info": {}, "details": {}}
    for name, value in values.items():
        section, key = FIELDS[name].path.split(".")
        out[section][key] = value
    return out

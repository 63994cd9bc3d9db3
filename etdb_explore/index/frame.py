"""Records → typed pandas DataFrames: one row per dataset, one row per file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from etdb_explore.records import Record

DATASET_COLUMNS: dict[str, str] = {
    "txid": "string",
    "title": "string",
    "species": "category",
    "species_raw": "string",
    "strain": "string",
    "ncbi_taxid": "Int64",
    "date": "datetime64[ms]",
    "tilt_min": "Float64",
    "tilt_max": "Float64",
    "tilt_step": "Float64",
    "tilt_scheme": "category",
    "defocus": "Float64",
    "dosage": "Float64",
    "magnification": "Float64",
    "microscope": "category",
    "microscopist": "category",
    "institution": "category",
    "lab": "category",
    "sid": "string",
    "emdb": "string",
    "notes": "string",
    "publisher": "category",
    "published": "datetime64[ms]",
    "block": "Int64",
    "signature_valid": "boolean",
    "deactivated": "boolean",
    "location": "string",
    "n_files": "Int64",
    "total_bytes": "Int64",
}

FILE_COLUMNS: dict[str, str] = {
    "txid": "string",
    "fname": "string",
    "dname": "string",
    "type": "category",
    "subtype": "category",
    "ctype": "category",
    "fsize": "Int64",
    "software": "category",
    "notes": "string",
    "ipfs_path": "string",
}

REJECTED_COLUMNS: dict[str, str] = {"origin": "string", "txid": "string", "reason": "string"}

_TILT_SCHEMES = {1: "single", 2: "dual"}


def normalize_species(name: Any) -> str | None:
    """Whitespace-normalised species name ("Sulfolobus solfataricus " → "Sulfolobus solfataricus").

    Returns:
        The name; None for a blank name or a value that is not a string.
    """
    if not isinstance(name, str):
        return None
    cleaned = " ".join(name.split())
    return cleaned or None


_LAST_SECOND = np.iinfo(np.int64).max // 1000  # the last second datetime64[ms] can hold


def _date(seconds: Any) -> Any:
    return seconds if isinstance(seconds, int) and 0 < seconds <= _LAST_SECOND else None


def _dataset_row(record: Record, signature_valid: bool) -> list[Any]:
    d = record.details
    files = record.files
    taxid = d.get("NCBItaxID") or d.get("NBCItaxID")
    return [
        record.txid, record.title, normalize_species(d.get("speciesName")), d.get("speciesName"), d.get("strain"),
        taxid, _date(d.get("date")), d.get("tiltMin"), d.get("tiltMax"), d.get("tiltStep"),
        _TILT_SCHEMES.get(d.get("tiltSingleDual")), d.get("defocus"), d.get("dosage"), d.get("magnification"),
        d.get("scopeName"), d.get("microscopist"), d.get("institution"), d.get("lab"), d.get("sid"), d.get("emdb"),
        d.get("artNotes"), record.publisher or None, _date(record.timestamp), record.block, signature_valid,
        record.deactivated, record.location or None, len(files), sum(f.get("fsize", 0) for f in files),
    ]


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None


def _file_rows(record: Record) -> list[list[Any]]:
    txid, location = record.txid, record.location
    rows = []
    for f in record.files:
        fname = f.get("fname")
        dname = f.get("dname") or (fname.rpartition("/")[2] if fname else None)
        rows.append([txid, fname, dname, _lower(f.get("type")), _lower(f.get("subtype")), f.get("cType"),
                     f.get("fsize"), f.get("software"), f.get("fNotes"),
                     f"{location}/{fname}" if location and fname else None])
    return rows


def typed_frame(columns: dict[str, str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame with ``columns``' dtypes from row lists (column-wise construction, fast for 100k rows).

    Returns:
        The DataFrame; datetime columns take seconds since the epoch (None: missing).
    """
    data = list(zip(*rows)) if rows else [[] for _ in columns]
    frame = {}
    for (name, dtype), values in zip(columns.items(), data):
        if dtype.startswith("datetime64"):
            seconds = np.array([v if v is not None else np.iinfo(np.int64).min for v in values], dtype=np.int64)
            frame[name] = pd.Series(seconds.astype("datetime64[s]").astype(dtype))
        else:
            frame[name] = pd.Series(list(values), dtype=dtype)
    return pd.DataFrame(frame)


def records_to_frames(records: Sequence[Record], valid: Sequence[bool]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The datasets and files tables of ``records`` (``valid`` says whose signature verified).

    Returns:
        ``(datasets, files)``: one row per record and one per file, typed as the index's columns.
    """
    datasets = typed_frame(DATASET_COLUMNS, [_dataset_row(r, v) for r, v in zip(records, valid)])
    files = typed_frame(FILE_COLUMNS, [row for r in records for row in _file_rows(r)])
    return datasets, files

"""Records → typed pandas DataFrames: one row per dataset, one row per file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def _dataset_columns(records: Sequence[Record], valid: Sequence[bool]) -> list[list[Any]]:
    """The datasets table's columns, in :data:`DATASET_COLUMNS` order (one list per column, built column-wise)."""
    details = [r.details for r in records]
    files = [r.files for r in records]

    def get(key: str) -> list[Any]:
        return [d.get(key) for d in details]

    species_raw = get("speciesName")
    return [
        [r.txid for r in records], [r.title for r in records], [normalize_species(s) for s in species_raw],
        species_raw, get("strain"), [d.get("NCBItaxID") or d.get("NBCItaxID") for d in details],
        [_date(v) for v in get("date")], get("tiltMin"), get("tiltMax"), get("tiltStep"),
        [_TILT_SCHEMES.get(v) for v in get("tiltSingleDual")], get("defocus"), get("dosage"), get("magnification"),
        get("scopeName"), get("microscopist"), get("institution"), get("lab"), get("sid"), get("emdb"),
        get("artNotes"), [r.publisher or None for r in records], [_date(r.timestamp) for r in records],
        [r.block for r in records], list(valid), [r.deactivated for r in records],
        [r.location or None for r in records], [len(f) for f in files],
        [sum(f.get("fsize", 0) for f in fs) for fs in files],
    ]


def _lowered(values: list[Any]) -> list[str | None]:
    """Each value lower-cased (None when empty), each distinct value lowered once."""
    done: dict[str, str] = {}
    return [None if not v else done.get(v) or done.setdefault(v, v.lower()) if type(v) is str else str(v).lower()
            for v in values]


def _file_columns(records: Sequence[Record]) -> list[list[Any]]:
    """The files table's columns, in :data:`FILE_COLUMNS` order (one row per file of every record)."""
    entries = [f for r in records for f in r.files]
    owners = [(r.txid, r.location) for r in records for _ in r.files]

    def get(key: str) -> list[Any]:
        return [f.get(key) for f in entries]

    fnames = get("fname")
    dnames = [d or (n.rpartition("/")[2] if n else None) for d, n in zip(get("dname"), fnames)]
    return [
        [txid for txid, _ in owners], fnames, dnames, _lowered(get("type")), _lowered(get("subtype")), get("cType"),
        get("fsize"), get("software"), get("fNotes"),
        [f"{location}/{fname}" if location and fname else None for (_, location), fname in zip(owners, fnames)],
    ]


def typed_frame(columns: dict[str, str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame with ``columns``' dtypes from row lists.

    Returns:
        The DataFrame; datetime columns take seconds since the epoch (None: missing).
    """
    return _typed_columns(columns, list(zip(*rows)) if rows else [[] for _ in columns])


def _typed_columns(columns: dict[str, str], data: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame with ``columns``' dtypes from one sequence of values per column."""
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
    return (_typed_columns(DATASET_COLUMNS, _dataset_columns(records, valid)),
            _typed_columns(FILE_COLUMNS, _file_columns(records)))


def file_owners(datasets: pd.DataFrame, files: pd.DataFrame) -> np.ndarray:
    """For each row of ``files``, the row of its dataset in ``datasets`` (-1 where no dataset has its txid).

    A table built from records lists each dataset's ``n_files`` files in dataset order: that layout is taken when
    every file's txid is then its dataset's, else each file's txid is looked up (the first dataset with it).

    Returns:
        An integer array over the rows of ``files``.
    """
    owned, held = pa.array(files["txid"]), pa.array(datasets["txid"])
    if "n_files" in datasets and len(files):
        counts = datasets["n_files"].to_numpy(dtype=np.int64, na_value=-1)
        if (counts >= 0).all() and counts.sum() == len(files):
            owner = np.repeat(np.arange(len(datasets)), counts)
            same = pc.fill_null(pc.equal(owned, held.take(owner)), False)
            if pc.all(same).as_py():
                return owner
    return pc.fill_null(pc.index_in(owned, value_set=held), -1).to_numpy(zero_copy_only=False).astype(np.intp)

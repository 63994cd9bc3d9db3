"""Records → typed pandas DataFrames: one row per dataset, one row per file."""

from __future__ import annotations

import functools
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


def _lowered(value: Any) -> str | None:
    """A file's type or subtype lower-cased (None when empty)."""
    return None if not value else value.lower() if type(value) is str else str(value).lower()


_TEXT, _INT, _FLOAT = pa.large_string(), pa.int64(), pa.float64()
_FILE = pa.struct([(k, _TEXT) for k in ("fname", "dname", "type", "subtype", "cType", "software", "fNotes")]
                  + [("fsize", _INT)])
# What the tables read of a canonical artifact (pyarrow converts it in C, ignoring every other member).
_ARTIFACT = pa.struct([
    ("floAddress", _TEXT), ("timestamp", _INT), ("info", pa.struct([("title", _TEXT)])),
    ("details", pa.struct([(k, _TEXT) for k in ("speciesName", "strain", "scopeName", "microscopist", "institution",
                                                "lab", "sid", "emdb", "artNotes")]
                          + [(k, _INT) for k in ("NCBItaxID", "NBCItaxID", "date", "tiltSingleDual")]
                          + [(k, _FLOAT) for k in ("tiltMin", "tiltMax", "tiltStep", "defocus", "dosage",
                                                   "magnification")])),
    ("storage", pa.struct([("location", _TEXT), ("files", pa.list_(_FILE))])),
])
_LAST_SECOND = np.iinfo(np.int64).max // 1000  # the last second datetime64[ms] can hold


def _member(struct: pa.Array, path: str) -> pa.Array:
    """The member at dotted ``path`` of a struct array (null where it or an object on the way is absent)."""
    for name in path.split("."):
        struct = pc.struct_field(struct, name)
    return struct


def _mapped(arrow: pa.Array, fn: Any) -> pa.Array:
    """``fn`` of each value of a string or integer array, called once per distinct value (None stays None)."""
    encoded = arrow.dictionary_encode()
    distinct = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=_TEXT)
    return distinct.take(encoded.indices)


def _seconds(arrow: pa.Array) -> pa.Array:
    """Seconds since the epoch → timestamps in ms; missing, zero, negative and too large ones are null."""
    seconds = pc.fill_null(arrow, 0).to_numpy(zero_copy_only=False)
    seconds = np.where((seconds > 0) & (seconds <= _LAST_SECOND), seconds, np.iinfo(np.int64).min)
    return pa.array(seconds.astype("datetime64[s]").astype("datetime64[ms]"))


def _dataset_columns(records: Sequence[Record], valid: Sequence[bool], txids: pa.Array, artifacts: pa.Array,
                     files: pa.Array) -> list[pa.Array]:
    """The datasets table's columns, in :data:`DATASET_COLUMNS` order."""
    def detail(key: str) -> pa.Array:
        return _member(artifacts, f"details.{key}")

    species_raw = detail("speciesName")
    sizes = pc.fill_null(pc.struct_field(pc.list_flatten(files), "fsize"), 0).to_numpy(zero_copy_only=False)
    offsets = files.offsets.to_numpy()  # a null list has no files: its two offsets are equal
    # each record's sum is within int64 (checked when parsed); the running sum may wrap, the differences do not
    running = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    return [
        txids, pc.fill_null(_member(artifacts, "info.title"), ""),
        _mapped(species_raw, normalize_species), species_raw, detail("strain"),
        pc.coalesce(detail("NCBItaxID"), detail("NBCItaxID")), _seconds(detail("date")), detail("tiltMin"),
        detail("tiltMax"), detail("tiltStep"), _mapped(detail("tiltSingleDual"), _TILT_SCHEMES.get),
        detail("defocus"), detail("dosage"), detail("magnification"), detail("scopeName"), detail("microscopist"),
        detail("institution"), detail("lab"), detail("sid"), detail("emdb"), detail("artNotes"),
        pc.struct_field(artifacts, "floAddress"), _seconds(pc.struct_field(artifacts, "timestamp")),
        pa.array([r.block for r in records], _INT), pa.array(valid, pa.bool_()),
        pa.array([r.deactivated for r in records], pa.bool_()), _member(artifacts, "storage.location"),
        pa.array(np.diff(offsets)), pa.array(running[offsets[1:]] - running[offsets[:-1]]),
    ]


def _file_columns(txids: pa.Array, artifacts: pa.Array, files: pa.Array, owner: pa.Array) -> list[pa.Array]:
    """The files table's columns, in :data:`FILE_COLUMNS` order (one row per file of every record; ``owner``: the
    record of each)."""
    entries = pc.list_flatten(files)
    locations = _member(artifacts, "storage.location").take(owner)

    def get(key: str) -> pa.Array:
        return pc.struct_field(entries, key)

    fnames = get("fname")
    basenames = pc.replace_substring_regex(fnames, "(?s)^.*/", "")
    return [
        txids.take(owner), fnames, pc.coalesce(get("dname"), basenames),
        _mapped(get("type"), _lowered), _mapped(get("subtype"), _lowered), get("cType"), get("fsize"),
        get("software"), get("fNotes"), pc.binary_join_element_wise(locations, fnames, pa.scalar("/", _TEXT)),
    ]


def typed_frame(columns: dict[str, str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame with ``columns``' dtypes from row lists.

    Returns:
        The DataFrame; datetime columns take seconds since the epoch (None: missing).
    """
    return _typed_columns(columns, list(zip(*rows)) if rows else [[] for _ in columns])


def _typed_columns(columns: dict[str, str], data: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame with ``columns``' dtypes from one sequence of values per column."""
    return pd.DataFrame({name: pd.Series(typed_array(values, dtype), copy=False)
                         for (name, dtype), values in zip(columns.items(), data)})


def typed_array(values: Any, dtype: str) -> Any:
    """``values`` (a sequence, a pyarrow array or a numpy array) as a pandas array of ``dtype``, the same as
    ``pd.array(list(values), dtype)`` gives.

    Strings, categories, nullable integers, floats and booleans are converted by pyarrow (in C, not value by value
    in Python); values pyarrow does not take as they are (a number in a string column, NaN in a float column, …)
    go through pandas. Datetime columns take seconds since the epoch (None: missing), or datetime64 values (numpy,
    or pyarrow timestamps).

    Returns:
        The pandas extension array (a numpy array for datetime columns).
    """
    if dtype.startswith("datetime64"):
        if isinstance(values, pa.Array):
            values = values.to_numpy(zero_copy_only=False)
        if isinstance(values, np.ndarray):
            return values.astype(dtype)
        seconds = np.array([v if v is not None else np.iinfo(np.int64).min for v in values], dtype=np.int64)
        return seconds.astype("datetime64[s]").astype(dtype)
    try:
        if dtype in _FROM_ARROW:
            typ, wrap = _FROM_ARROW[dtype]
            arrow = _arrow(values, typ)
            if dtype != "Float64" or not pc.any(pc.is_nan(arrow)).as_py():  # pandas reads NaN as missing
                return wrap(arrow)
        elif dtype == "category":
            return _categorical(_arrow(values, _TEXT))
    except (pa.ArrowException, TypeError, ValueError, UnicodeError):
        pass  # pandas converts it as it can
    return pd.array(values.to_pylist() if isinstance(values, pa.Array) else list(values), dtype=dtype)


def _arrow(values: Any, typ: pa.DataType) -> pa.Array:
    """``values`` as a pyarrow array of type ``typ`` (pyarrow arrays are cast)."""
    return values.cast(typ) if isinstance(values, pa.Array) else pa.array(values, type=typ)


def _masked(kind: Any) -> Any:
    """A pyarrow array → the pandas masked array ``kind`` (IntegerArray, FloatingArray, BooleanArray)."""
    def wrap(arrow: pa.Array) -> Any:
        zero = pa.scalar(False if kind is pd.arrays.BooleanArray else 0, arrow.type)
        values = pc.fill_null(arrow, zero).to_numpy(zero_copy_only=False)
        return kind(values, arrow.is_null().to_numpy(zero_copy_only=False))
    return wrap


_FROM_ARROW = {"string": (_TEXT, pd.arrays.ArrowStringArray),
               "Int64": (pa.int64(), _masked(pd.arrays.IntegerArray)),
               "Float64": (pa.float64(), _masked(pd.arrays.FloatingArray)),
               "boolean": (pa.bool_(), _masked(pd.arrays.BooleanArray))}


def _categorical(arrow: pa.Array) -> pd.Categorical:
    """A pyarrow string array → the Categorical pandas makes of its values (categories sorted, codes -1 where
    missing); ValueError when every value is missing (pandas then gives its categories another dtype)."""
    if arrow.null_count == len(arrow):
        raise ValueError("no category")
    encoded = arrow.dictionary_encode()
    categories = encoded.dictionary
    order = pc.sort_indices(categories).to_numpy()
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # a missing value
    codes = rank[pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)]
    return pd.Categorical.from_codes(codes, pd.Index(categories.take(order), dtype="str"))


def read_tables(records: Sequence[Record], valid: Sequence[bool]) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """The columns of the datasets and files tables of ``records`` (``valid`` says whose signature verified), read
    and computed by pyarrow (in C: the costly part of building the tables), not yet typed as the index's.

    Returns:
        ``(datasets, files)``: record batches of one row per record and one per file, with the columns of
        :data:`DATASET_COLUMNS` and :data:`FILE_COLUMNS`, the files' with one more, ``record``: the row of each
        file's record. Batches of several calls join with ``pyarrow.concat_batches``; :func:`records_to_frames`
        types them.
    """
    artifacts = pa.array([r.artifact for r in records], type=_ARTIFACT)
    files = pc.fill_null(_member(artifacts, "storage.files"), pa.scalar([], pa.list_(_FILE)))
    txids = pa.array([r.txid for r in records], _TEXT)
    owner = pc.list_parent_indices(files)
    return (pa.record_batch(_dataset_columns(records, valid, txids, artifacts, files), names=list(DATASET_COLUMNS)),
            pa.record_batch([*_file_columns(txids, artifacts, files, owner), owner],
                            names=[*FILE_COLUMNS, "record"]))


@functools.cache
def table_schemas() -> tuple[pa.Schema, pa.Schema]:
    """The schemas of the two batches :func:`read_tables` gives (the same whatever the records).

    Returns:
        ``(datasets, files)``.
    """
    datasets, files = read_tables([], [])
    return datasets.schema, files.schema


def records_to_frames(datasets: pa.RecordBatch, files: pa.RecordBatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The datasets and files tables, typed as the index's columns, of what :func:`read_tables` read.

    Returns:
        ``(datasets, files)``: one row per record and one per file.
    """
    return (_typed_columns(DATASET_COLUMNS, datasets.columns),
            _typed_columns(FILE_COLUMNS, files.columns[:len(FILE_COLUMNS)]))


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

"""Index snapshots: a folder of Parquet tables plus the raw signed records as JSONL, for fast offline loads.

Layout: ``snapshot.json`` (format, version, source, counts), ``datasets.parquet``, ``files.parquet``,
``rejected.parquet``, ``records.jsonl`` (one oipd-shaped ``{"artifact", "meta"}`` object per line, the artifact in
go-etdb's serialization, ``meta.history`` the edits and deactivations applied with their signatures). Files are
written under temporary names and renamed, so a reader never sees half a snapshot.

Two ways to read one: trusting its tables (fast; for a snapshot you wrote), or verified – the tables are rebuilt
from ``records.jsonl``, every record's signature and every deactivation's and edit's signature checked again, and
only ``rejected.parquet`` (a list of reasons, nothing loads from it) is read as it is. The verified read is what a
snapshot from elsewhere, and the cache of remote sources, get. OIP 0.42 signs a record's location, publisher and
timestamp, not its title or details, so no local check can tell an edited title from the published one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from etdb_explore.errors import EtdbError, RecordError
from etdb_explore.index.registry import untagged
from etdb_explore.index.sources.base import Rejection
from etdb_explore.records import Change, Record, parse_record
from etdb_explore.records.safejson import loads
from etdb_explore.util.files import atomic_write

if TYPE_CHECKING:
    from etdb_explore.index.index import Index

FORMAT = "etdb-explore-snapshot"
VERSION = 1
TABLES = ("datasets", "files", "rejected")


def _record_line(record: Record) -> str:
    meta: dict[str, Any] = {"txid": record.txid, "block": record.block, "time": record.block_time}
    if record.deactivated:
        meta["deactivated"] = True
    if record.history:
        meta["history"] = [asdict(c) for c in record.history]
    return '{"artifact":' + record.to_json() + ',"meta":' + json.dumps(meta, separators=(",", ":")) + "}"


def write_snapshot(index: Index, folder: Path) -> Path:
    """Write ``index`` to ``folder`` (created if needed), each file replaced atomically.

    Returns:
        ``folder``.

    Raises:
        OSError: the folder cannot be created or written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        atomic_write(folder / f"{name}.parquet", untagged(getattr(index, name)).to_parquet)  # no process token
    lines = "".join(_record_line(r) + "\n" for r in index.records.values())
    atomic_write(folder / "records.jsonl", lines)
    manifest = {"format": FORMAT, "version": VERSION, "source": index.source, "created": int(time.time()),
                "datasets": len(index.datasets), "files": len(index.files), "rejected": len(index.rejected)}
    atomic_write(folder / "snapshot.json", json.dumps(manifest, indent=1))
    return folder


def read_snapshot_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of snapshot ``folder``.

    Returns:
        The ``snapshot.json`` object: ``format``, ``version``, ``source``, ``created`` and the table sizes.

    Raises:
        EtdbError: naming the folder when it is not a snapshot of this format and version.
    """
    try:
        manifest = loads((folder / "snapshot.json").read_bytes(), f"{folder}/snapshot.json")
    except (OSError, RecordError) as exc:
        raise EtdbError(f"{folder} is not an etdb-explore snapshot: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("source"), str):
        raise EtdbError(f"{folder} is not an etdb-explore snapshot: snapshot.json is not a manifest")
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise EtdbError(f"{folder}: unsupported snapshot format {manifest.get('format')} v{manifest.get('version')}")
    return manifest


def _table(folder: Path, name: str) -> pd.DataFrame:
    try:
        return _one_chunk(pd.read_parquet(folder / f"{name}.parquet"))
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        raise EtdbError(f"{folder}/{name}.parquet: unreadable table ({exc})") from exc


def _one_chunk(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each pyarrow-backed column in one piece (Parquet reads come in pieces, and every selection
    from a column in pieces would join them again)."""
    for name in table.columns:
        values = table[name].array
        if isinstance(values, pd.arrays.ArrowStringArray):
            pieces = pa.array(values)
            if isinstance(pieces, pa.ChunkedArray) and pieces.num_chunks > 1:
                table[name] = pd.array(pieces.combine_chunks(), dtype=values.dtype)
    return table


def _rejections(table: pd.DataFrame, path: str) -> list[Rejection]:
    """The rows of a snapshot's rejected table, as text (nothing loads from them)."""
    if list(table.columns) != ["origin", "txid", "reason"]:
        raise EtdbError(f"{path}: the rejected table has columns {list(table.columns)[:5]}")
    return [Rejection(*(None if pd.isna(v) else str(v) for v in row)) for row in table.itertuples(index=False)]


def read_snapshot(folder: Path, verify: bool = False) -> Index:
    """The Index of a snapshot: its tables as they are, or with ``verify`` rebuilt from its re-verified records.

    Returns:
        The :class:`Index`; with ``verify``, records whose signature fails and changes whose signature fails are in
        its ``rejected`` table, after the snapshot's own rejections.

    Raises:
        EtdbError: naming the folder or file when it is not a readable snapshot.
    """
    from etdb_explore.index.index import Index

    manifest = read_snapshot_manifest(folder)
    if verify:
        rejected = _rejections(_table(folder, "rejected"), f"{folder}/rejected.parquet")
        records = []
        for item in iter_records(folder, verify=True):
            (rejected if isinstance(item, Rejection) else records).append(item)
        return Index.from_records(records, source=manifest["source"], rejected=rejected, verified_only=True)
    tables = {name: _table(folder, name) for name in TABLES}
    return Index(tables["datasets"], tables["files"], tables["rejected"], manifest["source"], None, folder)


def _restore_history(record: Record, meta: dict[str, Any], where: str, verify: bool) -> Iterator[Rejection]:
    """Set the record's history and deactivation from its snapshot meta; with ``verify`` keep only the changes
    whose signature verifies, and yield a Rejection for each one left out."""
    history = meta.get("history") or []
    if not isinstance(history, list):
        raise RecordError(f"{where}: history must be a list")
    changes = [Change.from_json(c, f"{where} history[{i}]") for i, c in enumerate(history)]
    if verify:
        for change in [c for c in changes if not c.verify(record.publisher)]:
            changes.remove(change)
            yield Rejection(where, record.txid, f"{change.kind} {change.txid or '?'} left out: its signature does not "
                                                f"verify for {record.publisher or 'no address'}")
    record.history = changes
    record.deactivated = any(c.kind == "deactivate" for c in changes)


def iter_records(folder: Path, verify: bool) -> Iterator[Record | Rejection]:
    """Each record of ``records.jsonl`` with its history, or a Rejection for a line that does not parse.

    With ``verify`` only changes whose signatures verify are kept (the records' own signatures are checked by
    whoever builds the index from them).

    Returns:
        An iterator of :class:`Record` and :class:`Rejection` items, in file order (a rejected change comes as a
        Rejection just before its record).

    Raises:
        EtdbError: naming the file when it cannot be read.
    """
    path = folder / "records.jsonl"
    try:
        with open(path, "rb") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise EtdbError(f"{path}: unreadable ({exc})") from exc
    for number, line in enumerate(lines, 1):
        where = f"{path} line {number}"
        if not line.strip():
            continue
        try:
            raw = loads(line, where)
            record = parse_record(raw)
            meta = raw.get("meta")
            yield from _restore_history(record, meta if isinstance(meta, dict) else {}, where, verify)
        except RecordError as exc:
            yield Rejection(where, None, str(exc))
            continue
        yield record


def read_records(folder: Path) -> dict[str, Record]:
    """The records of a snapshot, with history and deactivation restored (the snapshot is trusted, nothing is
    verified).

    Returns:
        ``{txid: Record}``.

    Raises:
        EtdbError: naming the file when it cannot be read.
        RecordError: naming the file and line that does not parse.
    """
    records = {}
    for item in iter_records(folder, verify=False):
        if isinstance(item, Rejection):
            raise RecordError(item.reason)
        records[item.txid or ""] = item
    return records

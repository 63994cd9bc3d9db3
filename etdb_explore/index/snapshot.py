"""Index snapshots: a folder of Parquet tables plus the raw signed records as JSONL, for fast offline loads.

Layout: ``snapshot.json`` (format, version, source, counts), ``datasets.parquet``, ``files.parquet``,
``rejected.parquet``, ``records.jsonl`` (one oipd-shaped ``{"artifact", "meta"}`` object per line, the artifact in
go-etdb's serialization). Files are written under temporary names and renamed, so a reader never sees half a snapshot.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from etdb_explore.errors import EtdbError
from etdb_explore.index.registry import untagged
from etdb_explore.records import Change, Record, parse_record
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
    try:
        manifest = json.loads((folder / "snapshot.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EtdbError(f"{folder} is not an etdb-explore snapshot: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise EtdbError(f"{folder}: unsupported snapshot format {manifest.get('format')} v{manifest.get('version')}")
    return manifest


def read_snapshot(folder: Path, verify: bool = False) -> Index:
    """The Index of a snapshot; with ``verify`` the records are re-parsed and every signature re-checked."""
    from etdb_explore.index.index import Index

    manifest = read_snapshot_manifest(folder)
    if verify:
        return Index.from_records(iter_raw_records(folder), source=manifest["source"], verified_only=True)
    tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}
    return Index(tables["datasets"], tables["files"], tables["rejected"], manifest["source"], None, folder)


def iter_raw_records(folder: Path) -> Any:
    """The raw oipd-shaped records of a snapshot, one dict per line."""
    with open(folder / "records.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def read_records(folder: Path) -> dict[str, Record]:
    """txid → Record, with history and deactivation restored."""
    records = {}
    for raw in iter_raw_records(folder):
        record = parse_record(raw)
        meta = raw.get("meta", {})
        record.deactivated = bool(meta.get("deactivated"))
        record.history = [Change(**{**c, "patch": tuple(c.get("patch", ()))}) for c in meta.get("history", [])]
        records[record.txid or ""] = record
    return records

"""The embedded default: a local demo ETDB built once (seeded, signed), its files in the user's local store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import platformdirs

from etdb_explore.errors import EtdbError
from etdb_explore.index.index import Index
from etdb_explore.index.snapshot import read_manifest
from etdb_explore.ipfs.sources.store import LocalStore

DEMO_VERSION = 1


def demo_dir() -> Path:
    """Where the demo ETDB's index lives (the platform's user data dir)."""
    return Path(platformdirs.user_data_dir("etdb-explore")) / "demo"


def _ready(folder: Path, store: LocalStore) -> bool:
    try:
        read_manifest(folder / "index")
        marker = json.loads((folder / "demo.json").read_text())
    except (EtdbError, OSError, ValueError):
        return False
    return marker.get("version") == DEMO_VERSION and all(store.has_cid_text(c) for c in marker["locations"])


def demo_index(rebuild: bool = False, store: LocalStore | None = None) -> Index:
    """The demo index; the first call builds the demo ETDB (about a minute), later calls read its snapshot."""
    from etdb_explore.demo.build import build_demo

    folder = demo_dir()
    store = store or LocalStore()
    if rebuild or not _ready(folder, store):
        started = time.perf_counter()
        records = build_demo(folder, store)
        index = Index.from_records(records, source="demo")
        index.to_snapshot(folder / "index")
        (folder / "demo.json").write_text(json.dumps({
            "version": DEMO_VERSION, "build_seconds": round(time.perf_counter() - started, 1),
            "locations": [r["artifact"]["storage"]["location"] for r in records]}))
    return Index.from_snapshot(folder / "index")

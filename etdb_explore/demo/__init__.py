"""The embedded default: a local demo ETDB built once (seeded, signed), its files in the user's local store.

Two sizes: ``full`` (32 datasets of 56×160×160 voxels, what ``etdb-explore demo`` and ``load_index()`` give) and
``small`` (12 datasets of 40×96×96, built in a few seconds; the test suite uses it). The environment variable
``ETDB_EXPLORE_DEMO=small`` makes ``small`` the default; each size has its own folder, both share the store.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from etdb_explore.demo.phantom import PhantomSpec
from etdb_explore.errors import EtdbError
from etdb_explore.index.index import Index
from etdb_explore.index.snapshot import read_snapshot_manifest
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util.files import atomic_write

DEMO_VERSION = 2  # 2: the same bytes on every machine and day
SIZE_VARIABLE = "ETDB_EXPLORE_DEMO"


@dataclass(frozen=True)
class DemoSize:
    """How many datasets a demo ETDB has, and the size and content of each dataset's phantom."""

    datasets: int
    phantom: PhantomSpec


DEMO_SIZES: dict[str, DemoSize] = {
    "full": DemoSize(32, PhantomSpec()),
    "small": DemoSize(12, PhantomSpec(shape=(40, 96, 96), ribosomes=50, filaments=3, gold=6)),
}


def demo_size(size: str | None = None) -> str:
    """The demo size meant by ``size``: itself, else ``$ETDB_EXPLORE_DEMO``, else ``full``.

    Returns:
        A key of :data:`DEMO_SIZES`.

    Raises:
        EtdbError: the size is not one of :data:`DEMO_SIZES` (naming it and where it came from).
    """
    chosen = size if size is not None else os.environ.get(SIZE_VARIABLE) or "full"
    if chosen not in DEMO_SIZES:
        origin = "" if size is not None else f" (from ${SIZE_VARIABLE})"
        raise EtdbError(f"unknown demo size {chosen!r}{origin}; choose from {', '.join(DEMO_SIZES)}")
    return chosen


def demo_dir(size: str | None = None) -> Path:
    """Where the demo ETDB of ``size`` (see :func:`demo_size`) lives; it may not exist yet.

    Returns:
        ``demo`` (full) or ``demo-<size>`` in the platform's user data dir.

    Raises:
        EtdbError: an unknown size.
    """
    chosen = demo_size(size)
    name = "demo" if chosen == "full" else f"demo-{chosen}"
    return Path(platformdirs.user_data_dir("etdb-explore")) / name


def _ready(folder: Path, store: LocalStore) -> bool:
    try:
        read_snapshot_manifest(folder / "index")
        marker = json.loads((folder / "demo.json").read_text())
    except (EtdbError, OSError, ValueError):
        return False
    return marker.get("version") == DEMO_VERSION and all(store.has_cid_text(c) for c in marker["locations"])


def demo_index(rebuild: bool = False, store: LocalStore | None = None, size: str | None = None) -> Index:
    """The demo index of ``size`` (see :func:`demo_size`); the first call builds it (about 20 s for the full demo,
    seconds for the small one), later calls read its snapshot. The same seed builds the same bytes, CIDs, txids and
    signatures on every machine, every day.

    Returns:
        The demo :class:`Index`, its files in ``store`` (default: the user's local store).

    Raises:
        EtdbError: an unknown size.
        OSError: the demo folder or the store cannot be written while building.
    """
    from etdb_explore.demo.build import build_demo

    chosen = demo_size(size)
    folder = demo_dir(chosen)
    store = store or LocalStore()
    if rebuild or not _ready(folder, store):
        started = time.perf_counter()
        spec = DEMO_SIZES[chosen]
        records = build_demo(folder, store, count=spec.datasets, spec=spec.phantom)
        index = Index.from_records(records, source="demo" if chosen == "full" else f"demo ({chosen})")
        index.to_snapshot(folder / "index")
        atomic_write(folder / "demo.json", json.dumps({
            "version": DEMO_VERSION, "size": chosen, "build_seconds": round(time.perf_counter() - started, 1),
            "locations": [r["artifact"]["storage"]["location"] for r in records]}))
    return Index.from_snapshot(folder / "index")

"""Loading an index from a source or a snapshot folder, and the on-disk cache of remote sources."""

from __future__ import annotations

import re
from pathlib import Path

import platformdirs

from etdb_explore.index.index import Index
from etdb_explore.index.snapshot import read_snapshot_manifest
from etdb_explore.index.sources.base import IndexSource
from etdb_explore.util.bridge import run


def cache_dir() -> Path:
    """Where etdb-explore caches harvested indexes (the platform's user cache dir)."""
    return Path(platformdirs.user_cache_dir("etdb-explore")) / "index"


def _cache_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "source"


def harvest_index(source: IndexSource, verified_only: bool = True) -> Index:
    """Harvest a source now and build its Index (no cache)."""
    harvest = run(source.harvest())
    return Index.from_records(harvest.records, source.name, rejected=harvest.rejected, verified_only=verified_only)


def load_source(source: IndexSource | str | Path, *, refresh: bool = False, verified_only: bool = True) -> Index:
    """The index of ``source``: a snapshot folder (read), or an index source (harvested, cached on disk).

    Returns:
        The :class:`Index`.

    Raises:
        SourceError: the source failed. EtdbError: the snapshot folder is not a snapshot.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        read_snapshot_manifest(path)
        return Index.from_snapshot(path)
    cached = cache_dir() / _cache_key(source.name)
    if not refresh and (cached / "snapshot.json").exists() and verified_only:
        return Index.from_snapshot(cached)
    index = harvest_index(source, verified_only)
    if verified_only:
        index.to_snapshot(cached)
    return index

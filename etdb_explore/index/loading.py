"""Loading an index from a source or a snapshot folder, and the on-disk cache of remote sources."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import platformdirs

from etdb_explore.errors import EtdbError
from etdb_explore.index.index import Index
from etdb_explore.index.snapshot import read_snapshot_manifest
from etdb_explore.index.sources.base import HomeSource, IndexSource
from etdb_explore.util.bridge import run


def cache_dir() -> Path:
    """Where etdb-explore caches harvested indexes.

    Returns:
        ``index`` in the platform's user cache dir (it may not exist yet).
    """
    return Path(platformdirs.user_cache_dir("etdb-explore")) / "index"


def _cache_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "source"


def harvest_index(source: IndexSource, verified_only: bool = True) -> Index:
    """Harvest a source now and build its Index (no cache).

    Returns:
        The :class:`Index`; records that fail (with ``verified_only``: whose signature fails) are in ``rejected``.

    Raises:
        SourceError: the source failed.
    """
    harvest = run(source.harvest())
    return Index.from_records(harvest.records, source.name, rejected=harvest.rejected, verified_only=verified_only)


def _read_cache(folder: Path) -> Index | None:
    """The cached index, verified (rebuilt from its signed records); None when absent or unreadable."""
    try:
        if not (folder / "snapshot.json").is_file():
            return None
        return Index.from_snapshot(folder, verify=True)
    except (EtdbError, OSError) as exc:
        warnings.warn(f"ignoring the cached index in {folder}: {exc}", stacklevel=3)
        return None


def _write_cache(index: Index, folder: Path) -> None:
    """Cache ``index`` in ``folder``; a folder that cannot be written only costs a warning."""
    try:
        index.to_snapshot(folder)
    except OSError as exc:
        warnings.warn(f"could not cache the index of {index.source} in {folder}: {exc}", stacklevel=3)


def load_source(source: IndexSource | str | Path, *, refresh: bool = False, verified_only: bool = True) -> Index:
    """The index of ``source``: a snapshot folder (read, its tables trusted), or an index source (harvested, cached).

    A source's cache (a snapshot in :func:`cache_dir`) is read verified: rebuilt from its signed records, so an
    edited cache cannot pass a forged record as verified. An unreadable cache is harvested again, and a cache that
    cannot be written (a read-only folder, a file in its place) costs a warning, not the load. A local source that
    says ``cached = False`` (the publish log) is read afresh each time.

    Returns:
        The :class:`Index`.

    Raises:
        SourceError: the source failed.
        EtdbError: the snapshot folder is missing, not a snapshot, or has an unreadable table.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        read_snapshot_manifest(path)
        return Index.from_snapshot(path)
    if not getattr(source, "cached", True):
        return harvest_index(source, verified_only)
    cached = cache_dir() / _cache_key(source.name)
    if not refresh and verified_only:
        index = _read_cache(cached)
        if index is not None:
            return index
    index = harvest_index(source, verified_only)
    if verified_only:
        _write_cache(index, cached)
    return index


def load_home(source: HomeSource) -> Index:
    """Harvest a home without FLO signatures (CaltechDATA, the CZ portal) into an Index (not cached: a snapshot
    written with :meth:`Index.to_snapshot` reads back with :meth:`Index.from_snapshot`).

    Returns:
        The :class:`Index` of the home's rows (``source`` the home, ``signature_valid`` <NA>).

    Raises:
        SourceError: the home failed (naming the URL).
    """
    from etdb_explore.index.homeframe import home_index

    harvest = run(source.harvest_rows())
    return home_index(source.home, harvest.datasets, harvest.files, harvest.rejected)

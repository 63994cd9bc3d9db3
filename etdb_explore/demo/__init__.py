"""The embedded default: a local sample ETDB index, generated once (seeded, signed) and cached on disk."""

from __future__ import annotations

from pathlib import Path

import platformdirs

from ..errors import EtdbError
from ..index.index import Index
from ..index.snapshot import read_manifest
from ..sample import synthetic_records

SAMPLE_SIZE = 400
SAMPLE_SEED = 2018


def demo_dir() -> Path:
    """Where the demo ETDB lives (the platform's user data dir)."""
    return Path(platformdirs.user_data_dir("etdb-explore")) / "demo"


def demo_index(rebuild: bool = False) -> Index:
    """The demo index: built and verified on first use, then read from its snapshot."""
    folder = demo_dir() / "index"
    if not rebuild:
        try:
            read_manifest(folder)
            return Index.from_snapshot(folder)
        except (EtdbError, OSError, ValueError):
            pass  # a missing or damaged snapshot is simply rebuilt
    index = Index.from_records(synthetic_records(SAMPLE_SIZE, SAMPLE_SEED), source="demo")
    index.to_snapshot(folder)
    return Index.from_snapshot(folder)

"""A lab's own small ETDB for tests: datasets written by a callback, added to a local store, signed by a lab key
(not the demo's), as an Index that is not the demo's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from etdb_explore.demo.build import DemoDataset, demo_record, plan
from etdb_explore.index.index import Index
from etdb_explore.ipfs.build.importer import KUBO_CIDV1, Profile, add_directory
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.records.flo import PrivateKey

LAB_KEY = PrivateKey.from_seed("etdb-explore test lab", "testnet")


def lab_index(store: LocalStore, folder: Path, write: Callable[[DemoDataset, Path], list[dict[str, Any]]],
              count: int = 2, seed: int = 99, profile: Profile = KUBO_CIDV1) -> Index:
    """``count`` datasets, each written by ``write(dataset, folder)`` (returning its record file entries), added to
    ``store`` with ``profile`` (default CIDv1 folders: ``bafy…`` locations, unlike the demo's ``Qm…``) and signed
    with the lab key."""
    records = []
    for ds in plan(seed, count):
        where = folder / ds.sid
        files = write(ds, where)
        records.append(demo_record(ds, str(add_directory(where, profile, store).cid), files, LAB_KEY))
    return Index.from_records(records, source="lab")

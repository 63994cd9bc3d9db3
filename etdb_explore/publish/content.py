"""A dataset folder into IPFS: through a Kubo daemon when one is given, else the local store with no-copy
references (the lab's files stay where they are; the store keeps where each block lives), or only hashed for a
dry run. CIDv1 with raw leaves, as ``ipfs add --cid-version=1`` (and Kubo's filestore) makes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from etdb_explore.ipfs.build.carfiles import export_car
from etdb_explore.ipfs.build.importer import KUBO_CIDV1, add_directory
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util import bridge

if TYPE_CHECKING:
    from etdb_explore.ipfs.sources.kubo import KuboSource


def add_dataset(folder: str | Path, *, store: LocalStore | None = None, kubo: KuboSource | None = None,
                nocopy: bool = True, progress: bool = True) -> str:
    """Add a dataset folder (recursively) and return its CID, the record's ``storage.location``.

    ``store`` and ``kubo`` both None only hash (nothing is stored: a dry run).

    Returns:
        The folder's CID (text).

    Raises:
        SourceError: the Kubo daemon refused or failed.
        OSError: a file cannot be read or the store cannot be written.
    """
    folder = Path(folder)
    if kubo is not None:
        return str(bridge.run(kubo.add(folder, cid_version=1, raw_leaves=True, nocopy=nocopy)))
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) if progress \
        else None
    with tqdm(total=total, unit="B", unit_scale=True, desc=folder.name, disable=not progress, leave=False) as bar:
        added = add_directory(folder, KUBO_CIDV1, store, nocopy=nocopy and store is not None, progress=bar.update)
    return str(added.cid)


def export_dataset_car(store: LocalStore, location: str, out: str | Path) -> int:
    """Write a dataset's whole DAG as a CAR file, for a pinning service.

    Returns:
        The bytes written.

    Raises:
        BlockNotFoundError, VerificationError: a block is missing from the store, or its file changed since it was
            added.
        OSError: ``out`` cannot be written.
    """
    return bridge.run(export_car(store, location, out))

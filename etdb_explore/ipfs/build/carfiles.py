"""Moving DAGs in and out of the local store as CAR files (``ipfs dag export`` / ``ipfs dag import``)."""

from __future__ import annotations

from pathlib import Path

from etdb_explore.ipfs.formats.car import CarReader, car_header, car_section
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.dag.walker import DagWalker
from etdb_explore.ipfs.sources.base import BlockSource, BlockStore
from etdb_explore.util.files import atomic_open

READ_CHUNK = 1 << 20


async def export_car(source: BlockSource, root: CID | str, out: str | Path) -> int:
    """Write the whole DAG under ``root`` as a CARv1 (DFS order, no duplicates), atomically.

    Returns:
        The bytes written.

    Raises:
        BlockNotFoundError, SourceError, VerificationError: a block of the DAG cannot be fetched truthfully.
        EtdbError: a block of the DAG is malformed (naming it).
        OSError: ``out`` cannot be written.
    """
    root = CID.decode(root)
    written = 0
    with atomic_open(out, "wb") as fh:
        fh.write(header := car_header([root]))
        written += len(header)
        async for cid, block in DagWalker(source).walk(root):
            fh.write(section := car_section(cid, block))
            written += len(section)
    return written


def import_car(path: str | Path, store: BlockStore) -> list[CID]:
    """Verify and store every block of a CAR file (a bad block stops the import, naming it).

    Returns:
        The CAR's roots.

    Raises:
        CarError: the file is not a well-formed CAR.
        VerificationError: a block does not match its CID.
        OSError: the file cannot be read.
    """
    reader = CarReader(str(path))
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            for cid, block in reader.feed(chunk):
                store.put(cid, block)
    reader.close()
    return reader.roots or []

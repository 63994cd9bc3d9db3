"""The local block store: content-addressed blocks on disk, plus no-copy references into a lab's original files.

Layout under the store folder: ``blocks/<last 2 chars>/<cid>`` for copied blocks (written to a temporary name and
renamed, so concurrent readers never see half a block), ``refs/<last 2 chars>/<cid>`` for no-copy references (a
small JSON ``{"path", "offset", "length"}``), like Kubo's filestore. Every read re-verifies the bytes against the CID,
so a changed original file is detected and named.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import platformdirs

from etdb_explore.errors import BlockNotFoundError, VerificationError
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.util.files import atomic_write


def default_store_path() -> Path:
    """Where the user's store lives.

    Returns:
        ``<platform user data dir>/etdb-explore/store``.
    """
    return Path(platformdirs.user_data_dir("etdb-explore")) / "store"


class LocalStore:
    """A block store in a folder (created if missing): a :class:`BlockStore` and an importer ``BlockSink``.

    Args:
        path: the folder; the user's store (:func:`default_store_path`) if None.

    Raises:
        OSError: the folder cannot be created.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.name = f"local store {self.path}"
        (self.path / "blocks").mkdir(parents=True, exist_ok=True)
        (self.path / "refs").mkdir(parents=True, exist_ok=True)

    def _file(self, kind: str, cid: CID) -> Path:
        key = str(cid)
        return self.path / kind / key[-2:] / key

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        """Write one block or reference atomically. No fsync: every read re-verifies the bytes against the CID, so
        a block torn by a power cut is caught (and fetched again), never served, and importing stays fast."""
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, fsync=False)

    # ---- writing (importer BlockSink) ---------------------------------------------------------------------------

    def put(self, cid: CID, block: bytes) -> None:
        """Store a block (verified first; an existing block is kept; an identity CID needs no storing).

        Raises:
            VerificationError: ``block`` does not hash to ``cid``.
            OSError: the block cannot be written.
        """
        if cid.is_inline:
            return
        cid.verify(block, "block handed to the local store")
        target = self._file("blocks", cid)
        if not target.exists():
            self._write(target, block)

    def put_ref(self, cid: CID, path: Path, offset: int, length: int) -> None:
        """Record that block ``cid`` is bytes [offset, offset+length) of ``path`` (no copy; checked on each read).

        Raises:
            OSError: the reference cannot be written.
        """
        self._write(self._file("refs", cid), json.dumps(
            {"path": str(Path(path).resolve()), "offset": offset, "length": length}).encode())

    # ---- reading (BlockSource) ----------------------------------------------------------------------------------

    def get_sync(self, cid: CID) -> bytes:
        """The verified block of ``cid``, read in the calling thread (:meth:`get` reads in a worker thread).

        Returns:
            The block (for an identity CID, its digest).

        Raises:
            BlockNotFoundError: the store has no block or reference for ``cid``.
            VerificationError: the stored bytes, or a referenced file's bytes, no longer hash to ``cid`` (naming
                the file), or a referenced file is unreadable.
        """
        if cid.is_inline:
            return cid.digest
        try:
            block = self._file("blocks", cid).read_bytes()
            where = self.name
        except FileNotFoundError:
            block, where = self._read_ref(cid)
        cid.verify(block, where)
        return block

    def _read_ref(self, cid: CID) -> tuple[bytes, str]:
        try:
            ref = json.loads(self._file("refs", cid).read_bytes())
        except FileNotFoundError:
            raise BlockNotFoundError(f"block {cid} is not in {self.name}") from None
        where = f"{ref['path']} at offset {ref['offset']} (no-copy entry of {self.name})"
        try:
            with open(ref["path"], "rb") as fh:
                fh.seek(ref["offset"])
                block = fh.read(ref["length"])
        except OSError as exc:
            raise VerificationError(f"block {cid}: original file {ref['path']} is unreadable ({exc})") from exc
        return block, where

    async def get(self, cid: CID) -> bytes:
        """The verified block of ``cid`` (see :meth:`get_sync`).

        Returns:
            The block.

        Raises:
            BlockNotFoundError: the store does not have it.
            VerificationError: the stored bytes changed.
        """
        if cid.is_inline:
            return cid.digest
        return await asyncio.to_thread(self.get_sync, cid)

    def has(self, cid: CID) -> bool:
        """Whether the store holds ``cid`` as a block or a no-copy reference (without reading or verifying it).

        Returns:
            True if it does (always for an identity CID).
        """
        return cid.is_inline or self._file("blocks", cid).exists() or self._file("refs", cid).exists()

    def has_cid_text(self, cid: str) -> bool:
        """Like :meth:`has` for a CID string.

        Returns:
            True if the store holds it; False also for a string that is not a CID.
        """
        try:
            return self.has(CID.decode(cid))
        except ValueError:
            return False

    def iter_cids(self) -> Iterator[CID]:
        """Every CID the store holds: copied blocks first, then no-copy references, each sorted.

        Returns:
            An iterator of CIDs.
        """
        for kind in ("blocks", "refs"):
            for shard in sorted((self.path / kind).iterdir()):
                for entry in sorted(shard.iterdir()):
                    if not entry.name.startswith("."):  # a block being written
                        yield CID.decode(entry.name)

    def __repr__(self) -> str:
        return f"<LocalStore {self.path}>"

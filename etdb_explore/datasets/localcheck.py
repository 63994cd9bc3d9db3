"""Local copies checked without the network: a file's CID recomputed from its own bytes, its sha256 on the way."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from etdb_explore.ipfs.build.importer import GO_ETDB, KUBO_CIDV1, KUBO_DEFAULT, Profile, add_stream
from etdb_explore.ipfs.formats.cid import CID

READ_PIECE = 1 << 20


def kubo_profile(cid: CID) -> Profile:
    """The profile of ``ipfs add`` that makes CIDs of ``cid``'s version: Kubo's default for CIDv0, ``--cid-version
    1`` (raw leaves) for CIDv1.

    Returns:
        The importer :class:`Profile`.
    """
    return KUBO_DEFAULT if cid.version == 0 else KUBO_CIDV1


class _Hashing:
    """A binary file whose bytes, as they are read, also go into a sha256 digest."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.digest.update(data)
        return data


def _read_into(path: str | Path, *digests: Any) -> None:
    """Feed the bytes of the local file ``path`` to each of ``digests``, read in large pieces into one buffer (the
    hashing releases the GIL)."""
    buffer = bytearray(READ_PIECE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            for digest in digests:
                digest.update(view[:n])


def file_sha256(path: str | Path) -> str:
    """The sha256 of the local file ``path``.

    Returns:
        The hex digest.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    _read_into(path, digest)
    return digest.hexdigest()


def local_sha256(path: str | Path, cid: CID) -> str | None:
    """The sha256 of the local file ``path`` if its bytes are file ``cid`` (the CID recomputed from them with
    :func:`kubo_profile`, and for a CIDv0 that differs, with go-etdb's settings: raw leaves under CIDv0 nodes).

    Returns:
        The hex digest; None when the recomputed CID differs (other bytes, or a DAG laid out by other settings).

    Raises:
        OSError: the file cannot be read.
    """
    for profile in (kubo_profile(cid), GO_ETDB) if cid.version == 0 else (kubo_profile(cid),):
        with open(path, "rb", buffering=0) as fh:
            stream = _Hashing(fh)
            added = add_stream(stream, profile)  # type: ignore[arg-type]
        if added.cid == cid:
            return stream.digest.hexdigest()
    return None


def local_digests(path: str | Path) -> tuple[str, str]:
    """The sha256 and md5 of the local file ``path``, in one read (for files no CID addresses).

    Returns:
        ``(sha256, md5)`` as hex digests.

    Raises:
        OSError: the file cannot be read.
    """
    sha, md5 = hashlib.sha256(), hashlib.md5()  # the md5 a home gives, compared
    _read_into(path, sha, md5)
    return sha.hexdigest(), md5.hexdigest()

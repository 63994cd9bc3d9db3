"""A read-only fsspec filesystem over the verified reader: ``fsspec.open("etdb://<cid>/<path>")``.

The protocol is ``etdb`` (ipfsspec owns ``ipfs``). Reads go through etdb-explore's content client, so every byte
is verified against its CID; file objects fetch only the ranges read (with fsspec's read-ahead cache), which is
what mrcfile, xarray or zarr need to read ETDB files by path.
"""

from __future__ import annotations

from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import stringify_path

from etdb_explore.content.client import Client, default_client
from etdb_explore.ipfs.dag.reader import PathError
from etdb_explore.ipfs.formats.paths import IpfsPathError, parse_ipfs_path


class EtdbFileSystem(AbstractFileSystem):
    """The read-only ``etdb://`` filesystem; every byte comes through ``client`` (the default client if None),
    verified.

    Paths are any IPFS path :func:`~etdb_explore.ipfs.formats.paths.parse_ipfs_path` accepts, with or without
    ``etdb://``. Errors are fsspec's: a path that does not resolve raises FileNotFoundError; blocks that cannot be
    fetched truthfully raise BlockNotFoundError, SourceError or VerificationError.
    """

    protocol = "etdb"
    root_marker = ""

    def __init__(self, client: Client | None = None, **storage_options: Any) -> None:
        super().__init__(**storage_options)
        self.client = client or default_client()

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """fsspec's path form, ``<cid>/<path>``, of any IPFS path :func:`parse_ipfs_path` accepts (a list: each).

        Text that is no IPFS path (fsspec's root ``""``, a glob pattern) only loses ``etdb://``; reading it then
        raises the parser's error naming it.
        """
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        try:
            return str(parse_ipfs_path(stringify_path(path)))
        except IpfsPathError:
            return super()._strip_protocol(path)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """What is at ``path``.

        Returns:
            fsspec's info dict: ``name`` (``<cid>/<path>``), ``size``, ``type`` ("file" or "directory") and ``CID``.

        Raises:
            FileNotFoundError: the path does not resolve (a PathError is its cause).
            IpfsPathError: ``path`` is no IPFS path.
            BlockNotFoundError, SourceError, VerificationError: a block cannot be fetched truthfully.
        """
        path = self._strip_protocol(path)
        try:
            stat = self.client.stat(path)
        except PathError as exc:
            raise FileNotFoundError(path) from exc
        kind = "file" if stat.type == "file" else "directory"
        return {"name": path, "size": stat.size, "type": kind, "CID": str(stat.cid)}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """The entries of the directory at ``path`` (a file lists itself).

        Returns:
            Info dicts as :meth:`info` gives (``detail``), else paths.

        Raises:
            FileNotFoundError, IpfsPathError, BlockNotFoundError, SourceError, VerificationError: as :meth:`info`.
        """
        path = self._strip_protocol(path)
        info = self.info(path)
        if info["type"] == "file":
            return [info] if detail else [path]
        entries = []
        for entry in self.client.listdir(path):
            child = f"{path}/{entry.name}"
            entries.append(self.info(child) if detail else child)
        return entries

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: dict | None = None, **kwargs: Any) -> EtdbFile:
        if mode != "rb":
            raise NotImplementedError("etdb:// is read-only")
        return EtdbFile(self, self._strip_protocol(path), mode, block_size or 4 << 20, cache_options=cache_options,
                        **kwargs)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        """Bytes [start, end) of the file at ``path``, verified; negative offsets count from its end.

        Returns:
            The bytes (``b""`` for an empty range).

        Raises:
            FileNotFoundError, IpfsPathError, BlockNotFoundError, SourceError, VerificationError: as :meth:`info`.
            PathError: ``path`` is a directory.
        """
        path = self._strip_protocol(path)
        size = self.info(path)["size"]
        start = 0 if start is None else (start if start >= 0 else max(size + start, 0))
        end = size if end is None else (end if end >= 0 else max(size + end, 0))
        return self.client.read(path, start, min(end, size)) if start < end else b""

    def ukey(self, path: str) -> str:
        """A key that changes exactly when the content at ``path`` does.

        Returns:
            The CID at ``path``, as text.

        Raises:
            FileNotFoundError, IpfsPathError, BlockNotFoundError, SourceError, VerificationError: as :meth:`info`.
        """
        return self.info(path)["CID"]


class EtdbFile(AbstractBufferedFile):
    """A read-only, buffered file object of :class:`EtdbFileSystem`: only the ranges read are fetched, verified."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        return self.fs.client.read(self.path, start, end) if start < end else b""


__all__ = ["EtdbFileSystem"]

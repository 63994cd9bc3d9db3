"""The content client: where ETDB files are read from (local store → Kubo → gateways) and plain functions to read them.

    client = Client()                                  # the user's store, then IPFS_GATEWAY / public gateways
    client = Client(store="lab-store", gateways=["http://127.0.0.1:8080"], kubo=True)
    data = client.read("Qmat8i…/rawdata/ts.mrc", 0, 1024)

Every byte is verified against its CID on the way in, whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etdb_explore.ipfs.dag.reader import DirEntry, Stat, UnixFSReader
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import parse_ipfs_path
from etdb_explore.ipfs.sources.base import BlockSource, MultiSource
from etdb_explore.ipfs.sources.gateway import GatewaySource
from etdb_explore.ipfs.sources.kubo import KuboSource
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util import bridge


@dataclass(frozen=True)
class ClientConfig:
    """What a Client is made of; picklable, so dask workers can rebuild the same client."""

    store: str | None = None
    gateways: tuple[str, ...] | None | bool = None  # None: discover; False: none
    kubo: str | bool = False


class Client:
    """Verified access to IPFS content through a chain of block sources."""

    def __init__(self, store: str | Path | LocalStore | None = None,
                 gateways: list[str] | tuple[str, ...] | str | bool | None = None,
                 kubo: str | bool = False, *, sources: list[BlockSource] | None = None) -> None:
        self.store = store if isinstance(store, LocalStore) else LocalStore(store)
        if sources is None:
            sources = [self.store]
            if kubo:
                sources.append(KuboSource(None if kubo is True else kubo))
            if gateways is not False:
                sources.append(GatewaySource(None if gateways in (None, True) else gateways))
        self.source = MultiSource(sources)
        self.reader = UnixFSReader(self.source)
        gw = tuple(g.url for s in sources if isinstance(s, GatewaySource) for g in s.gateways)
        self.config = ClientConfig(str(self.store.path), gw if gw else False, kubo)

    def __reduce__(self) -> tuple:
        c = self.config
        return (Client, (c.store, c.gateways, c.kubo))

    def __repr__(self) -> str:
        return f"<Client {self.source.name}>"

    # ---- async ------------------------------------------------------------------------------------------------------

    async def astat(self, path: str) -> Stat:
        where = parse_ipfs_path(path)
        return await self.reader.stat(where.cid, where.path)

    async def aread(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        where = parse_ipfs_path(path)
        return await self.reader.read(where.cid, start, end, path=where.path)

    async def afile(self, path: str) -> IpfsFile:
        where = parse_ipfs_path(path)
        stat, head = await self.reader.head(where.cid, where.path)  # one round trip: the path, the root, the first leaves
        if stat.type != "file":
            raise IsADirectoryError(f"{path} is a {stat.type}, not a file")
        return IpfsFile(self, path, stat.cid, stat.size, head)

    # ---- plain functions --------------------------------------------------------------------------------------------

    def stat(self, path: str) -> Stat:
        return bridge.run(self.astat(path))

    def read(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes [start, end) of the file at an IPFS path, verified."""
        return bridge.run(self.aread(path, start, end))

    def listdir(self, path: str) -> list[DirEntry]:
        where = parse_ipfs_path(path)
        return bridge.run(self.reader.listdir(where.cid, where.path))

    def file(self, path: str) -> IpfsFile:
        """A file's byte ranges (size known, data read on demand), for lazy volumes and file-like access."""
        return bridge.run(self.afile(path))


class IpfsFile:
    """One IPFS file as :class:`etdb_explore.volumes.ByteRanges`: a name, a size, verified range reads.

    ``head`` holds the file's first bytes, read (and verified) when it was opened; reads inside it cost nothing.
    """

    def __init__(self, client: Client, path: str, cid: CID, size: int, head: bytes = b"") -> None:
        self.client = client
        self.name = path
        self.cid = cid
        self.size = size
        self.head = head

    async def read(self, start: int, end: int) -> bytes:
        if end <= len(self.head):
            return self.head[start:end]
        return await self.client.reader.read(self.cid, start, end)

    def __reduce__(self) -> tuple[Any, ...]:
        return (IpfsFile, (self.client, self.name, self.cid, self.size, self.head))


_default: Client | None = None


def default_client() -> Client:
    """The client used when none is given: the user's local store, then the discovered gateways."""
    global _default
    if _default is None:
        _default = Client()
    return _default


def set_default_client(client: Client | None) -> None:
    global _default
    _default = client

"""The content client: where ETDB files are read from (local store → Kubo → gateways) and plain functions to read them.

    with Client(store="lab-store", gateways=["http://127.0.0.1:8080"], kubo=True) as client:
        data = client.read("Qmat8i…/rawdata/ts.mrc", 0, 1024)
    client = Client()                                  # the user's store, then IPFS_GATEWAY / public gateways

Every byte is verified against its CID on the way in, whatever the source.

Lifetimes, as in httpx: a client holds HTTP sessions. ``close()``, ``await aclose()`` or the end of a ``with`` /
``async with`` block closes them, and a closed client refuses further reads. The sessions of a client nobody holds
any more are closed when it is garbage-collected, and every session still open (the default client's too) is closed
at exit (see :mod:`etdb_explore.util.loopbound`). Sessions live on the I/O loop of :mod:`etdb_explore.util.bridge`,
so the ``a*`` methods may be awaited from any event loop, and the plain ones work in a forked child. A pickled client
travels as its configuration (its sources included); in one process, every client unpickled from one configuration
is one client, so the tasks of a dask worker share its sessions.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etdb_explore.errors import ClientClosedError, NotPicklableError
from etdb_explore.ipfs.dag.reader import DirEntry, Stat, UnixFSReader
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import IpfsPath, parse_ipfs_path
from etdb_explore.ipfs.sources.base import BlockSource, ClosableSource, MultiSource
from etdb_explore.ipfs.sources.gateway import GatewaySource
from etdb_explore.ipfs.sources.kubo import KuboSource
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util import bridge

Where = str | CID | IpfsPath  # anything parse_ipfs_path reads


@dataclass(frozen=True)
class ClientConfig:
    """What a Client is made of; picklable, so dask workers can rebuild the same client."""

    store: str | None = None
    gateways: tuple[str, ...] | None | bool = None  # None: discover; False: none
    kubo: str | bool = False


class Client:
    """Verified access to IPFS content through a chain of block sources.

    Args:
        store: the local store (a folder or a :class:`LocalStore`; default the user's store), always tried first.
        gateways: trustless gateway URLs; None discovers them, False uses none.
        kubo: also use a Kubo daemon (True: the discovered one; or its RPC address).
        sources: the block sources to use instead, in order (the client closes them with itself).

    ``closed`` is True once the client is closed.
    """

    def __init__(self, store: str | Path | LocalStore | None = None,
                 gateways: list[str] | tuple[str, ...] | str | bool | None = None,
                 kubo: str | bool = False, *, sources: Sequence[BlockSource] | None = None) -> None:
        self.store = store if isinstance(store, LocalStore) else LocalStore(store)
        self._custom = None if sources is None else tuple(sources)
        if sources is None:
            sources = [self.store]
            if kubo:
                sources.append(KuboSource(None if kubo is True else kubo))
            if gateways is not False:
                sources.append(GatewaySource(None if gateways in (None, True) else gateways))
        self.source = MultiSource(list(sources))
        self.reader = UnixFSReader(self.source)
        gw = tuple(g.url for s in sources if isinstance(s, GatewaySource) for g in s.gateways)
        self.config = ClientConfig(str(self.store.path), gw if gw else False, kubo)
        self.closed = False

    def __reduce__(self) -> tuple:
        """Pickles as its configuration and custom sources (for dask workers); see :func:`shared_client`.

        Raises:
            NotPicklableError: a custom source cannot be pickled (naming it).
        """
        for source in self._custom or ():
            try:
                pickle.dumps(source)
            except Exception as exc:  # pickle raises TypeError, PicklingError, AttributeError, …
                raise NotPicklableError(f"{self!r} cannot be pickled: its source {getattr(source, 'name', source)!r} "
                                        f"cannot ({exc})") from exc
        return (shared_client, (pickle.dumps((self.config, self._custom)),))

    def __repr__(self) -> str:
        return f"<Client {self.source.name}{' (closed)' if self.closed else ''}>"

    # ---- lifetime ---------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client's HTTP sessions; later reads raise :class:`ClientClosedError`. Closing twice does
        nothing.

        Raises:
            SourceError: a source's session is open on an event loop that is not running.
        """
        bridge.run(self.aclose())

    async def aclose(self) -> None:
        """Async :meth:`close`, from any event loop."""
        if not self.closed:
            self.closed = True
            await bridge.arun(_close_sources(self.source.sources))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosedError(f"{self!r} is closed")

    # ---- async, from any event loop (the work runs on the I/O loop) -------------------------------------------------

    async def astat(self, path: Where) -> Stat:
        """Async :meth:`stat`, from any event loop.

        Returns:
            The :class:`Stat`.

        Raises:
            As :meth:`stat`.
        """
        return await bridge.arun(self._stat(path))

    async def aread(self, path: Where, start: int = 0, end: int | None = None) -> bytes:
        """Async :meth:`read`, from any event loop.

        Returns:
            The bytes.

        Raises:
            As :meth:`read`.
        """
        return await bridge.arun(self._read(path, start, end))

    async def afile(self, path: Where) -> IpfsFile:
        """Async :meth:`file`, from any event loop.

        Returns:
            The :class:`IpfsFile`.

        Raises:
            As :meth:`file`.
        """
        return await bridge.arun(self._file(path))

    # ---- plain functions --------------------------------------------------------------------------------------------

    def stat(self, path: Where) -> Stat:
        """What is at an IPFS path.

        Returns:
            Its :class:`Stat`: CID, type ("file", "directory", …) and size.

        Raises:
            IpfsPathError: ``path`` is no IPFS path.
            PathError: it does not resolve.
            BlockNotFoundError: no source has a block on the way.
            SourceError, VerificationError: a source failed or sent a block that does not match its CID, and no
                other source had it.
            ClientClosedError: the client is closed.
        """
        return bridge.run(self._stat(path))

    def read(self, path: Where, start: int = 0, end: int | None = None) -> bytes:
        """Bytes [start, end) of the file at an IPFS path, verified.

        Returns:
            The bytes (fewer at the end of the file).

        Raises:
            IpfsPathError, PathError, BlockNotFoundError, SourceError, VerificationError, ClientClosedError: as
                :meth:`stat`; PathError also when the path is not a file.
            ByteRangeError: ``start`` is negative or after ``end`` (a ValueError).
        """
        return bridge.run(self._read(path, start, end))

    def listdir(self, path: Where) -> list[DirEntry]:
        """The entries of the directory at an IPFS path.

        Returns:
            Its :class:`DirEntry` list (HAMT shards read whole).

        Raises:
            As :meth:`stat`.
        """
        return bridge.run(self._listdir(path))

    def file(self, path: Where) -> IpfsFile:
        """A file's byte ranges (size known, data read on demand), for lazy volumes and file-like access.

        Returns:
            An :class:`IpfsFile` holding the file's first bytes.

        Raises:
            IpfsPathError, PathError, BlockNotFoundError, SourceError, VerificationError, ClientClosedError: as
                :meth:`stat`.
            IsADirectoryError: the path is not a file.
        """
        return bridge.run(self._file(path))

    # ---- on the I/O loop --------------------------------------------------------------------------------------------

    async def _stat(self, path: Where) -> Stat:
        self._check_open()
        where = parse_ipfs_path(path)
        return await self.reader.stat(where.cid, where.path)

    async def _read(self, path: Where, start: int, end: int | None) -> bytes:
        self._check_open()
        where = parse_ipfs_path(path)
        return await self.reader.read(where.cid, start, end, path=where.path)

    async def _listdir(self, path: Where) -> list[DirEntry]:
        self._check_open()
        where = parse_ipfs_path(path)
        return await self.reader.listdir(where.cid, where.path)

    async def _file(self, path: Where) -> IpfsFile:
        self._check_open()
        where = parse_ipfs_path(path)
        stat, head = await self.reader.head(where.cid, where.path)  # one round trip: the path, the root, the first leaves
        if stat.type != "file":
            raise IsADirectoryError(f"{path} is a {stat.type}, not a file")
        return IpfsFile(self, str(path), stat.cid, stat.size, head)


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
        """Bytes [start, end) of the file, verified (from any event loop).

        Returns:
            The bytes.

        Raises:
            BlockNotFoundError, SourceError, VerificationError: a block of the range cannot be fetched truthfully.
            ByteRangeError: ``start`` is negative or after ``end``.
            ClientClosedError: the client is closed.
        """
        if end <= len(self.head):
            return self.head[start:end]
        return await bridge.arun(self.client._read(self.cid, start, end))

    def __reduce__(self) -> tuple[Any, ...]:
        return (IpfsFile, (self.client, self.name, self.cid, self.size, self.head))


async def _close_sources(sources: Sequence[BlockSource]) -> None:
    """Close every source holding connections, each even if another fails.

    Raises:
        Exception: the first failure.
    """
    outcomes = await asyncio.gather(*(s.close() for s in sources if isinstance(s, ClosableSource)),
                                    return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


_shared: dict[bytes, Client] = {}
_default: Client | None = None


def shared_client(config: bytes) -> Client:
    """This process's client of a pickled configuration (what an unpickled :class:`Client` is).

    The first unpickling makes it; later ones (each task of a dask worker unpickles its arguments) return the same
    client, with its sessions, until it is closed; its sessions are closed at exit like any others.

    Returns:
        The client.

    Raises:
        pickle.UnpicklingError: ``config`` is not a pickled configuration.
    """
    client = _shared.get(config)
    if client is None or client.closed:
        settings, sources = pickle.loads(config)
        fresh = (Client(settings.store, settings.gateways, settings.kubo) if sources is None
                 else Client(settings.store, sources=sources))
        client = _shared.setdefault(config, fresh)  # a thread that made one at the same time wins
        if client.closed:
            client = _shared[config] = fresh
    return client


def default_client() -> Client:
    """The client used when none is given: the user's local store, then the discovered gateways.

    Returns:
        The default client (a new one if it was closed).
    """
    global _default
    if _default is None or _default.closed:
        _default = Client()
    return _default


def set_default_client(client: Client | None) -> None:
    """Make ``client`` the default client (None: a new default is made when next needed)."""
    global _default
    _default = client

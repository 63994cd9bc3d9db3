"""A Kubo daemon's RPC API as a block source (through aioipfs): block get, dag export, add, pin.

The daemon is found from the argument, ``IPFS_API`` (a multiaddr or URL), or ``$IPFS_PATH/api`` (default
``~/.ipfs/api``), which Kubo writes when it starts. Blocks are verified against their CIDs like any other source's;
files are read through the verified UnixFS reader, ``UnixFSReader(KuboSource()).read(cid, …)`` (Kubo's own ``/cat``
output cannot be checked on its own), and a ``dag/export`` must hold every block its root links to. ``block/get``
and ``dag/export`` carry the RPC ``timeout`` option (honoured by Kubo and js-ipfs), so a block the daemon cannot find
is a BlockNotFoundError naming it instead of a wait for ever. Works with any daemon speaking this API; tests/ipfs/test_kubo_real.py runs it against js-ipfs.
Needs the ``kubo`` extra (``pip install etdb-explore[kubo]``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from etdb_explore.errors import BlockNotFoundError, EtdbError, SourceError
from etdb_explore.ipfs.formats import dagpb
from etdb_explore.ipfs.formats.car import read_car
from etdb_explore.ipfs.formats.cid import CID, DAG_PB
from etdb_explore.util.loopbound import LoopBound

DEFAULT_API = "/ip4/127.0.0.1/tcp/5001"
DEFAULT_TIMEOUT = 60.0  # seconds a daemon may look for one block (or one exported DAG)
CLIENT_GRACE = 5.0  # our own deadline's margin over the daemon's, for daemons that ignore ``timeout``
_TIMED_OUT = ("request timed out", "deadline exceeded")  # js-ipfs', then Kubo's (Go context) wording
_MULTIADDR = re.compile(r"^/(ip4|ip6|dns|dns4|dns6)/([^/]+)/tcp/(\d+)(/https?)?/?$")


def discover_api(explicit: str | None = None) -> str:
    """Where the Kubo RPC API is.

    Returns:
        ``explicit``, else ``IPFS_API``, else the ``api`` file of ``IPFS_PATH`` (``~/.ipfs``), else
        ``/ip4/127.0.0.1/tcp/5001``; a multiaddr or a URL.
    """
    if explicit:
        return explicit
    if os.environ.get("IPFS_API"):
        return os.environ["IPFS_API"]
    api_file = Path(os.environ.get("IPFS_PATH", Path.home() / ".ipfs")) / "api"
    if api_file.is_file():
        return api_file.read_text().strip()
    return DEFAULT_API


def api_url(address: str) -> str:
    """The base URL of a Kubo RPC address.

    Returns:
        ``http://host:port`` for ``/ip4/host/tcp/port`` (and ip6, dns, ``/https``), or the URL given.

    Raises:
        EtdbError: the address is neither such a multiaddr nor a URL (naming it).
    """
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    m = _MULTIADDR.match(address)
    if not m:
        raise EtdbError(f"cannot use Kubo RPC address {address!r} (expected /ip4/HOST/tcp/PORT or a URL)")
    kind, host, port, scheme = m.groups()
    host = f"[{host}]" if kind == "ip6" else host
    return f"{'https' if scheme == '/https' else 'http'}://{host}:{port}"


def export_gaps(root: CID, blocks: dict[CID, bytes]) -> list[tuple[CID, CID | None]]:
    """The blocks a DAG export lacks, depth first.

    Returns:
        (missing CID, the CID of the block linking to it or None for the root) pairs; empty for a whole DAG.

    Raises:
        DagPbError: a DAG-PB block of the export is malformed.
    """
    missing, seen, todo = [], set(), [(root, None)]
    while todo:
        cid, parent = todo.pop()
        if cid in seen or cid.is_inline:
            continue
        seen.add(cid)
        if cid not in blocks:
            missing.append((cid, parent))
        elif cid.codec == DAG_PB:
            todo.extend((link.cid, cid) for link in reversed(dagpb.decode(blocks[cid], cid).links))  # in order
    return missing


class KuboSource:
    """Blocks and DAGs from a Kubo node's RPC API.

    ``timeout`` (seconds, None for none) bounds each ``block/get`` and ``dag/export``: past it the block is reported
    missing. Adds and pins are not bounded.
    """

    def __init__(self, api: str | None = None, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self.url = api_url(discover_api(api))
        self.name = f"Kubo RPC {self.url}"
        self.timeout = timeout
        self._client = LoopBound(f"the RPC client of {self.name}", self._new_client,
                                  lambda client: client.close())

    def __reduce__(self) -> tuple:
        """Pickles as its configuration (for dask workers); the RPC client is made anew where it lands."""
        return (functools.partial(KuboSource, timeout=self.timeout), (self.url,))

    def _new_client(self) -> Any:
        try:
            import aioipfs
        except ImportError as exc:
            raise EtdbError("the Kubo source needs aioipfs: pip install 'etdb-explore[kubo]'") from exc
        host, port = self.url.split("://", 1)[1].rsplit(":", 1)
        return aioipfs.AsyncIPFS(host=host.strip("[]"), port=int(port), scheme=self.url.split("://", 1)[0])

    def _api(self) -> Any:
        return self._client.get()

    async def close(self) -> None:
        """Close the RPC client's HTTP session, on the loop it was made on (a later call opens a new one).

        Raises:
            SourceError: the session is open on another event loop that is not running.
        """
        await self._client.aclose()

    async def _call(self, what: str, coro: Any, timeout: float | None = None) -> Any:
        import aiohttp
        import aioipfs

        try:
            return await asyncio.wait_for(coro, None if timeout is None else timeout + CLIENT_GRACE)
        except asyncio.TimeoutError as exc:  # our deadline, or aiohttp's (its timeouts subclass this one)
            if timeout is None:
                raise SourceError(f"{self.name}: {what}: timed out") from exc
            raise BlockNotFoundError(f"{self.name}: {what}: not found within {timeout:g} s (no answer)") from exc
        except aioipfs.APIError as exc:
            message = getattr(exc, "message", None) or str(exc)
            if timeout is not None and any(words in message.lower() for words in _TIMED_OUT):
                raise BlockNotFoundError(f"{self.name}: {what}: not found within {timeout:g} s ({message})") from exc
            if "not found" in message.lower() or "no link named" in message.lower():
                raise BlockNotFoundError(f"{self.name}: {what}: {message}") from exc
            raise SourceError(f"{self.name}: {what}: {message}") from exc
        except (OSError, aiohttp.ClientError, aioipfs.IPFSConnectionError) as exc:
            raise SourceError(f"{self.name}: {what}: {exc}") from exc

    async def _fetch(self, command: str, cid: CID | str) -> bytes:
        """The raw answer of ``command?arg=cid``, with the RPC ``timeout`` option."""
        api = self._api().core  # any aioipfs sub-API posts any command
        params = {"arg": str(cid)}
        if self.timeout is not None:
            params["timeout"] = f"{round(self.timeout * 1000)}ms"
        return await self._call(f"{command} {cid}", api.fetch_raw(api.url(command), params=params), self.timeout)

    async def get(self, cid: CID) -> bytes:
        """The block of ``cid`` from ``block/get``, verified.

        Returns:
            The block.

        Raises:
            BlockNotFoundError: the daemon does not have it, or did not find it within ``timeout``.
            VerificationError: the daemon's bytes do not hash to ``cid``.
            SourceError: the daemon failed or cannot be reached.
        """
        if cid.is_inline:
            return cid.digest
        block = await self._fetch("block/get", cid)
        cid.verify(block, self.name)
        return block

    async def dag_export(self, cid: CID | str) -> list[tuple[CID, bytes]]:
        """Every block of a DAG from ``dag/export``, each verified.

        Returns:
            The (CID, block) pairs in the export's order, the root first.

        Raises:
            BlockNotFoundError: the export lacks a block (a daemon may end the stream early when it cannot find
                one), naming it and the block linking to it.
            CarError, VerificationError: the export is malformed or holds a wrong block.
            SourceError: the daemon failed or cannot be reached.
        """
        root = cid if isinstance(cid, CID) else CID.decode(cid)
        blocks = read_car(await self._fetch("dag/export", root), f"{self.name} dag/export {root}")[1]
        gaps = export_gaps(root, dict(blocks))
        if gaps:
            missing, parent = gaps[0]
            where = f"linked from {parent}" if parent else "the root"
            raise BlockNotFoundError(f"{self.name}: dag/export {root} lacks block {missing} ({where}"
                                     f"{f'; {len(gaps) - 1} more missing' if len(gaps) > 1 else ''})")
        return blocks

    async def add(self, path: str | Path, *, cid_version: int = 0, raw_leaves: bool | None = None,
                  chunker: str | None = None, only_hash: bool = False, nocopy: bool = False) -> CID:
        """``ipfs add -r`` of a file or folder (uploaded; with ``nocopy`` the daemon's filestore references the
        same path on its machine). ``raw_leaves``/``chunker`` None leave the daemon's defaults.

        Returns:
            The root CID the daemon reports.

        Raises:
            EtdbError: ``path`` is neither a file nor a folder.
            SourceError: the daemon refused the add, failed, or cannot be reached.
        """
        path = Path(path)
        options = _add_options(cid_version=cid_version, raw_leaves=raw_leaves, chunker=chunker,
                               only_hash=only_hash, nocopy=nocopy)
        core = self._api().core
        if path.is_dir():
            return await self._added(f"add {path}", core.add(str(path), recursive=True, **options))
        if not path.is_file():
            raise EtdbError(f"cannot add {path}: no such file or folder")
        # aioipfs' own single-file upload wraps the open file in a BytesIOPayload, which aiohttp 3.14 refuses.
        import aiohttp
        from aioipfs.multi import FormDataWriter

        with path.open("rb") as handle, FormDataWriter() as form:
            part = aiohttp.payload.BufferedReaderPayload(handle, content_type="application/octet-stream",
                                                         headers={"Abspath": str(path.resolve())})
            part.set_content_disposition("form-data", name="file", filename=path.name)
            form.append_payload(part)
            return await self._added(f"add {path}", core.add_generic(form, params=_rpc_params(options)))

    async def add_bytes(self, data: bytes, *, cid_version: int = 0, raw_leaves: bool | None = None,
                        chunker: str | None = None, only_hash: bool = False) -> CID:
        """``ipfs add`` of bytes (options as in :meth:`add`).

        Returns:
            Their CID, as the daemon reports it.

        Raises:
            SourceError: the daemon refused the add, failed, or cannot be reached.
        """
        options = _add_options(cid_version=cid_version, raw_leaves=raw_leaves, chunker=chunker, only_hash=only_hash)
        entry = await self._call(f"add of {len(data)} bytes", self._api().core.add_bytes(data, **options))
        return CID.decode(entry["Hash"])

    async def _added(self, what: str, entries: AsyncIterator[dict]) -> CID:
        """The root CID from ``add``'s answer: one JSON entry per file, the root last."""

        async def collect() -> list[dict]:
            return [entry async for entry in entries]

        added = await self._call(what, collect())
        if not added:
            raise SourceError(f"{self.name}: {what} returned nothing")
        return CID.decode(added[-1]["Hash"])

    async def pin(self, cid: CID | str) -> None:
        """Pin the DAG under ``cid`` on the daemon (``pin/add``, recursive).

        Raises:
            BlockNotFoundError: the daemon cannot find a block of it.
            SourceError: the daemon failed or cannot be reached.
        """

        async def drain() -> None:
            async for _ in self._api().pin.add(str(cid)):
                pass

        await self._call(f"pin/add {cid}", drain())


def _add_options(*, raw_leaves: bool | None, chunker: str | None, **switches: Any) -> dict[str, Any]:
    """aioipfs' ``add`` keywords; options left None are not sent (the daemon's defaults apply)."""
    return {**switches, **({} if raw_leaves is None else {"raw_leaves": raw_leaves}),
            **({} if chunker is None else {"chunker": chunker})}


def _rpc_params(options: dict[str, Any]) -> dict[str, str]:
    """The query parameters of the RPC ``/api/v0/add`` (Kubo's documented names) for aioipfs' ``add`` keywords."""
    return {name.replace("_", "-"): str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in options.items()}

"""A Kubo daemon's RPC API as a block source (through aioipfs): block get, verified cat, dag export, add, pin.

The daemon is found from the argument, ``IPFS_API`` (a multiaddr or URL), or ``$IPFS_PATH/api`` (default
``~/.ipfs/api``), which Kubo writes when it starts. Blocks are verified against their CIDs like any other source's;
``cat`` reads through the verified UnixFS reader (Kubo's own ``/cat`` output cannot be checked on its own).
Needs the ``kubo`` extra (``pip install etdb-explore[kubo]``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import BlockNotFoundError, EtdbError, SourceError
from .car import read_car
from .cid import CID
from .reader import UnixFSReader

DEFAULT_API = "/ip4/127.0.0.1/tcp/5001"
_MULTIADDR = re.compile(r"^/(ip4|ip6|dns|dns4|dns6)/([^/]+)/tcp/(\d+)(/https?)?/?$")


def discover_api(explicit: str | None = None) -> str:
    """The Kubo RPC address: argument, else IPFS_API, else the api file of IPFS_PATH (~/.ipfs), else the default."""
    if explicit:
        return explicit
    if os.environ.get("IPFS_API"):
        return os.environ["IPFS_API"]
    api_file = Path(os.environ.get("IPFS_PATH", Path.home() / ".ipfs")) / "api"
    if api_file.is_file():
        return api_file.read_text().strip()
    return DEFAULT_API


def api_url(address: str) -> str:
    """``/ip4/127.0.0.1/tcp/5001`` or ``http://host:port`` → ``http://host:port``."""
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    m = _MULTIADDR.match(address)
    if not m:
        raise EtdbError(f"cannot use Kubo RPC address {address!r} (expected /ip4/HOST/tcp/PORT or a URL)")
    kind, host, port, scheme = m.groups()
    host = f"[{host}]" if kind == "ip6" else host
    return f"{'https' if scheme == '/https' else 'http'}://{host}:{port}"


class KuboSource:
    """Blocks and DAGs from a Kubo node's RPC API."""

    def __init__(self, api: str | None = None) -> None:
        self.url = api_url(discover_api(api))
        self.name = f"Kubo RPC {self.url}"
        self._client: Any = None

    def _api(self) -> Any:
        if self._client is None:
            try:
                import aioipfs
            except ImportError as exc:
                raise EtdbError("the Kubo source needs aioipfs: pip install 'etdb-explore[kubo]'") from exc
            host, port = self.url.split("://", 1)[1].rsplit(":", 1)
            self._client = aioipfs.AsyncIPFS(host=host.strip("[]"), port=int(port),
                                             scheme=self.url.split("://", 1)[0])
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _call(self, what: str, coro: Any) -> Any:
        import aioipfs

        try:
            return await coro
        except aioipfs.APIError as exc:
            message = getattr(exc, "message", None) or str(exc)
            if "not found" in message.lower() or "no link named" in message.lower():
                raise BlockNotFoundError(f"{self.name}: {what}: {message}") from exc
            raise SourceError(f"{self.name}: {what}: {message}") from exc
        except (OSError, aioipfs.IPFSConnectionError) as exc:
            raise SourceError(f"{self.name}: {what}: {exc}") from exc

    async def get(self, cid: CID) -> bytes:
        if cid.is_inline:
            return cid.digest
        block = await self._call(f"block/get {cid}", self._api().block.get(str(cid)))
        cid.verify(block, self.name)
        return block

    async def cat(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes [offset, offset+length) of the file at an IPFS path, every block verified."""
        root, _, rest = path.removeprefix("/ipfs/").partition("/")
        end = None if length is None else offset + length
        return await UnixFSReader(self).read(root, offset, end, path=rest)

    async def dag_export(self, cid: CID | str) -> list[tuple[CID, bytes]]:
        """Every block of a DAG from ``dag/export``, each verified."""
        data = await self._call(f"dag/export {cid}", self._api().dag.export(str(cid)))
        return read_car(data, f"{self.name} dag/export {cid}")[1]

    async def add(self, path: str | Path, *, cid_version: int = 0, only_hash: bool = False,
                  nocopy: bool = False) -> CID:
        """``ipfs add -r`` of a file or folder on the daemon's machine; the root CID."""
        entries = []
        async for entry in self._api().core.add(str(path), recursive=True, cid_version=cid_version,
                                                 only_hash=only_hash, nocopy=nocopy):
            entries.append(entry)
        if not entries:
            raise SourceError(f"{self.name}: add {path} returned nothing")
        return CID.decode(entries[-1]["Hash"])

    async def pin(self, cid: CID | str) -> None:
        async for _ in self._api().pin.add(str(cid)):
            pass

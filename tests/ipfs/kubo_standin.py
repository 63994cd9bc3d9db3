"""A stand-in for a Kubo daemon's RPC API on 127.0.0.1 (no Kubo daemon can run here).

It follows Kubo's documented wire format for the endpoints etdb-explore uses: every call is a POST to
``/api/v0/<command>?arg=…``; ``block/get`` answers raw bytes, ``dag/export`` a CARv1 stream, ``add`` takes a
multipart form (files, and ``application/x-directory`` parts for folders, names URL-encoded paths) and answers one
JSON object per line ``{"Name", "Hash", "Size"}``, ``pin/add`` answers ``{"Pins": [...]}``, and errors are HTTP 500
with ``{"Message", "Code": 0, "Type": "error"}``. Blocks come from a real LocalStore and CIDs from the importer, so
the client code is exercised exactly as against a real daemon.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from etdb_explore.errors import BlockNotFoundError
from etdb_explore.ipfs.build.importer import (
    KUBO_CIDV1,
    KUBO_DEFAULT,
    add_directory,
    add_file,
)
from etdb_explore.ipfs.dag.walker import DagWalker
from etdb_explore.ipfs.formats.car import car_header, car_section
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.store import LocalStore

from ..local_server import LocalServer


def _error(message: str) -> web.Response:
    return web.json_response({"Message": message, "Code": 0, "Type": "error"}, status=500)


class KuboStandIn(LocalServer):
    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.pins: set[str] = set()
        self.calls: list[str] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v0/{command:.+}", self.dispatch)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        command = request.match_info["command"]
        self.calls.append(command)
        handler = {"block/get": self.block_get, "dag/export": self.dag_export, "add": self.add,
                   "pin/add": self.pin_add, "version": self.version}.get(command)
        if handler is None:
            return web.Response(status=404, text="404 page not found")
        try:
            return await handler(request)
        except BlockNotFoundError as exc:
            return _error(f"block was not found locally (offline): ipld: could not find {exc}")
        except ValueError as exc:
            return _error(f"invalid path: {exc}")

    async def block_get(self, request: web.Request) -> web.Response:
        """Like Kubo (Datastore.HashOnRead is off by default), blocks are served as stored, unverified."""
        cid = CID.decode(request.query["arg"])
        try:
            block = self.store._file("blocks", cid).read_bytes()
        except FileNotFoundError:
            raise BlockNotFoundError(str(cid)) from None
        return web.Response(body=block, content_type="text/plain")

    async def dag_export(self, request: web.Request) -> web.StreamResponse:
        cid = CID.decode(request.query["arg"])
        await self.store.get(cid)  # Kubo fails before streaming when the root is absent
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.ipld.car"})
        await response.prepare(request)
        await response.write(car_header([cid]))
        async for block_cid, block in DagWalker(self.store).walk(cid):
            await response.write(car_section(block_cid, block))
        await response.write_eof()
        return response

    async def add(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        profile = KUBO_CIDV1 if q.get("cid-version") == "1" or q.get("raw-leaves") == "true" else KUBO_DEFAULT
        sink = None if q.get("only-hash") == "true" else self.store
        lines = []
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            tops: list[str] = []
            reader = await request.multipart()
            async for part in reader:
                name = unquote(part.filename or part.name or "")
                target = root / name
                if not target.resolve().is_relative_to(root.resolve()):
                    return _error(f"invalid file name {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                if part.headers.get("Content-Type") == "application/x-directory":
                    target.mkdir(exist_ok=True)
                else:
                    target.write_bytes(await part.read())
                top = name.split("/")[0]
                if top not in tops:
                    tops.append(top)
            for top in tops:
                path = root / top
                added = (add_directory if path.is_dir() else add_file)(path, profile, sink)
                lines.append({"Name": top, "Hash": str(added.cid), "Size": str(added.tsize)})
        body = "".join(json.dumps(line) + "\n" for line in lines)
        return web.Response(text=body, content_type="application/json")

    async def pin_add(self, request: web.Request) -> web.Response:
        cid = CID.decode(request.query["arg"])
        await self.store.get(cid)
        self.pins.add(str(cid))
        return web.json_response({"Pins": [str(cid)]})

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"Version": "0.32.1", "Commit": "", "Repo": "16", "System": "amd64/linux",
                                  "Golang": "go1.23"})

"""``etdb-explore serve``: a trustless (and path) IPFS gateway over the local store.

``GET/HEAD /ipfs/{cid}[/path]`` with ``?format=raw`` (or ``Accept: application/vnd.ipld.raw``) returns one block;
``?format=car`` (or ``Accept: application/vnd.ipld.car``) streams a CARv1 with ``dag-scope=block|entity|all`` and
``entity-bytes=from:to``; without a format it answers as a path gateway: file bytes with HTTP Range, directory
listings. Responses carry immutable cache headers; a bad CID is 400, a missing block or path 404.
"""

from __future__ import annotations

import html
import mimetypes
import re
from urllib.parse import quote

from aiohttp import web

from etdb_explore.errors import BlockNotFoundError
from etdb_explore.ipfs.dag.reader import PathError, UnixFSReader
from etdb_explore.ipfs.dag.walker import ByteRange, DagWalker, NodeCache, ScopeError
from etdb_explore.ipfs.formats.car import car_header, section_head
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import IpfsPathError, parse_ipfs_path
from etdb_explore.ipfs.sources.base import BlockSource

RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"
IMMUTABLE = "public, max-age=29030400, immutable"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _format(request: web.Request) -> str | None:
    fmt = request.query.get("format")
    if fmt:
        return fmt
    accept = request.headers.get("Accept", "")
    if RAW_TYPE in accept:
        return "raw"
    if CAR_TYPE in accept:
        return "car"
    return None


def _split(request: web.Request) -> tuple[CID, str]:
    try:  # aiohttp has already percent-decoded the path: it is read literally
        where = parse_ipfs_path("/ipfs/" + request.match_info["tail"])
    except IpfsPathError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    return where.cid, where.path


def _common_headers(cid: CID, path: str, etag: str) -> dict[str, str]:
    return {"Cache-Control": IMMUTABLE, "Etag": f'"{etag}"', "X-Ipfs-Path": f"/ipfs/{cid}/{path}".rstrip("/"),
            "X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}


class Gateway:
    """The request handlers, over any block source (usually a LocalStore)."""

    def __init__(self, source: BlockSource) -> None:
        self.source = source
        self.reader = UnixFSReader(source)
        self.nodes = NodeCache()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        cid, path = _split(request)
        try:
            fmt = _format(request)
            if fmt == "raw":
                return await self._raw(request, cid, path)
            if fmt == "car":
                return await self._car(request, cid, path)
            if fmt is not None:
                raise web.HTTPBadRequest(text=f"unsupported format {fmt!r}\n")
            return await self._path(request, cid, path)
        except (BlockNotFoundError, PathError) as exc:
            raise web.HTTPNotFound(text=f"{exc}\n") from None
        except ScopeError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from None

    async def _raw(self, request: web.Request, cid: CID, path: str) -> web.Response:
        target = await self.reader.resolve(cid, path) if path else cid
        block = await self.source.get(target)
        headers = _common_headers(cid, path, f"{target}.raw")
        headers["Content-Disposition"] = f'attachment; filename="{target}.bin"'
        return web.Response(body=None if request.method == "HEAD" else block, content_type=RAW_TYPE,
                            headers={**headers, "Content-Length": str(len(block))})

    async def _car(self, request: web.Request, cid: CID, path: str) -> web.StreamResponse:
        scope = request.query.get("dag-scope", "all")
        if scope not in ("block", "entity", "all"):
            raise ScopeError(f"dag-scope must be block, entity or all, not {scope!r}")
        entity = request.query.get("entity-bytes")
        byte_range = ByteRange.parse(entity) if entity else None
        dups = "dups=y" in request.headers.get("Accept", "")
        walker = DagWalker(self.source, dups=dups, nodes=self.nodes)
        target = await self.reader.resolve(cid, path) if path else cid
        etag = f"{target}.car.{scope}.{entity or ''}.{'dups' if dups else 'nodups'}"
        response = web.StreamResponse(headers={
            **_common_headers(cid, path, etag),
            "Content-Type": f"{CAR_TYPE}; version=1; order=dfs; dups={'y' if dups else 'n'}",
            "X-Ipfs-Roots": str(target),
            "Content-Disposition": f'attachment; filename="{target}.car"'})
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        await response.write(car_header([cid]))
        try:
            async for block_cid, block in walker.walk(cid, path, scope, byte_range):
                await response.write(section_head(block_cid, block))
                await response.write(block)
        except (BlockNotFoundError, PathError, ConnectionError):
            request.transport.close() if request.transport else None  # a truncated CAR, never a wrong one
            return response
        await response.write_eof()
        return response

    async def _path(self, request: web.Request, cid: CID, path: str) -> web.StreamResponse:
        stat = await self.reader.stat(cid, path)
        if stat.type in ("directory", "hamt-shard"):
            return await self._listing(request, cid, path)
        if stat.type == "symlink":
            return web.Response(text=stat.target or "", headers=_common_headers(cid, path, str(stat.cid)))
        size = stat.size
        start, stop, status = 0, size, 200
        header = request.headers.get("Range")
        if header:
            m = _RANGE.match(header.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
            if m.group(1):
                start = int(m.group(1))
                stop = min(int(m.group(2)) + 1, size) if m.group(2) else size
            else:
                start = max(size - int(m.group(2)), 0)
            if start >= size or stop <= start:
                raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
            status = 206
        name = path.rsplit("/", 1)[-1]
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = {**_common_headers(cid, path, str(stat.cid)), "Accept-Ranges": "bytes",
                   "Content-Length": str(stop - start), "Content-Type": content_type}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        if request.method != "HEAD":
            try:
                async for chunk in self.reader.iter_range(stat.cid, start, stop):
                    await response.write(chunk)
            except (BlockNotFoundError, ConnectionError):
                request.transport.close() if request.transport else None
                return response
            await response.write_eof()
        return response

    async def _listing(self, request: web.Request, cid: CID, path: str) -> web.Response:
        entries = await self.reader.listdir(cid, path)
        base = f"/ipfs/{cid}/{path}".rstrip("/")
        rows = "".join(f'<li><a href="{quote(base + "/" + e.name)}">{html.escape(e.name)}</a> {e.size or 0}</li>'
                       for e in entries)
        body = f"<!doctype html><title>{html.escape(base)}</title><h1>{html.escape(base)}</h1><ul>{rows}</ul>"
        return web.Response(text=body, content_type="text/html",
                            headers=_common_headers(cid, path, f"{cid}/{path}.listing"))


def make_app(source: BlockSource) -> web.Application:
    gateway = Gateway(source)
    app = web.Application()
    app.router.add_route("GET", "/ipfs/{tail:.+}", gateway.handle)
    app.router.add_route("HEAD", "/ipfs/{tail:.+}", gateway.handle)
    return app


async def start_server(source: BlockSource, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Start the gateway; returns the runner (``await runner.cleanup()`` stops it) and its base URL."""
    runner = web.AppRunner(make_app(source), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
    return runner, f"http://{bound[0]}:{bound[1]}"

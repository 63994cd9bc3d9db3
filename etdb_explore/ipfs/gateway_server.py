"""``etdb-explore serve``: a trustless (and path) IPFS gateway over the local store.

``GET/HEAD /ipfs/{cid}[/path]`` with ``?format=raw`` (or ``Accept: application/vnd.ipld.raw``) returns one block;
``?format=car`` (or ``Accept: application/vnd.ipld.car``) streams a CARv1 with ``dag-scope=block|entity|all`` and
``entity-bytes=from:to``; without a format it answers as a path gateway: file bytes with HTTP Range, directory
listings. Responses carry immutable cache headers; a bad CID is 400, a missing block or path 404, a malformed DAG
422 (naming the node).

Work per request is bounded for strangers on the network: at most ``MAX_STREAMS`` response bodies stream at once
(others wait their turn), each reads ahead a window of ``STREAM_WINDOW`` blocks only, and a client that does not take
data for ``WRITE_TIMEOUT`` seconds is dropped.
"""

from __future__ import annotations

import asyncio
import html
import mimetypes
import re
from collections.abc import AsyncIterator
from urllib.parse import quote

from aiohttp import web

from etdb_explore.errors import BlockNotFoundError, EtdbError
from etdb_explore.ipfs.dag.nodes import NodeCache
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.dag.resolve import PathError, resolve
from etdb_explore.ipfs.dag.walker import ByteRange, DagWalker, ScopeError, check_scope
from etdb_explore.ipfs.formats.car import car_header, section_head
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import IpfsPathError, parse_ipfs_path
from etdb_explore.ipfs.sources.base import BlockSource
from etdb_explore.util.bodies import StallGuard

RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"
IMMUTABLE = "public, max-age=29030400, immutable"
_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")  # 19 digits: any size a file can have
MAX_STREAMS = 32
STREAM_WINDOW = 4  # blocks fetched ahead per response (the reader's default of 16 is for clients)
WRITE_TIMEOUT = 60.0


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


class GatewayServer:
    """The gateway's request handlers over any block source (usually a LocalStore).

    One node cache serves every request: path resolution, path-gateway reads and CAR walks decode a directory or
    the upper levels of a file once.
    """

    def __init__(self, source: BlockSource, nodes: NodeCache | None = None) -> None:
        self.source = source
        self.nodes = nodes if nodes is not None else NodeCache()
        self.reader = UnixFSReader(source, window=STREAM_WINDOW, nodes=self.nodes)
        self.streams = asyncio.Semaphore(MAX_STREAMS)

    async def _begin(self, request: web.Request, response: web.StreamResponse) -> bool:
        """Send the status line and headers.

        Returns:
            False when the client has already gone (a striped reader drops a request it no longer needs): its answer
            ends there, quietly, and aiohttp closes the connection.
        """
        try:
            await response.prepare(request)
        except ConnectionError:
            return False
        return True

    async def _stream(self, request: web.Request, response: web.StreamResponse,
                      chunks: AsyncIterator[bytes]) -> web.StreamResponse:
        """Send ``chunks`` as the body; a DAG that turns out broken, or a client that stalls, ends the connection
        (a truncated response, never a wrong one)."""
        async with self.streams:
            guard = StallGuard(WRITE_TIMEOUT)
            try:
                async for chunk in chunks:
                    guard.progress()  # each write may take the timeout, whatever reading the blocks took
                    await guard.wait(response.write(chunk))
            except (EtdbError, ConnectionError, asyncio.TimeoutError):
                if request.transport is not None:
                    request.transport.close()
                return response
            finally:
                guard.close()
        await response.write_eof()
        return response

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer ``GET`` or ``HEAD /ipfs/{cid}[/path]`` with a block, a CAR or a path-gateway response.

        Returns:
            The response (streamed for CARs and files).

        Raises:
            web.HTTPBadRequest: a bad CID or path, format, dag-scope or entity-bytes (400).
            web.HTTPNotFound: a missing block or path (404).
            web.HTTPRequestRangeNotSatisfiable: an unusable Range header (416).
            web.HTTPUnprocessableEntity: a hash-valid but malformed DAG (422).
        """
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
        except EtdbError as exc:  # a hash-valid but malformed DAG
            raise web.HTTPUnprocessableEntity(text=f"{exc}\n") from None

    async def _raw(self, request: web.Request, cid: CID, path: str) -> web.Response:
        target = (await resolve(self.nodes, self.source, cid, path)).cid
        block = await self.source.get(target)
        headers = _common_headers(cid, path, f"{target}.raw")
        headers["Content-Disposition"] = f'attachment; filename="{target}.bin"'
        return web.Response(body=None if request.method == "HEAD" else block, content_type=RAW_TYPE,
                            headers={**headers, "Content-Length": str(len(block))})

    async def _car(self, request: web.Request, cid: CID, path: str) -> web.StreamResponse:
        scope = request.query.get("dag-scope", "all")
        check_scope(scope)
        entity = request.query.get("entity-bytes")
        byte_range = ByteRange.parse(entity) if entity else None
        dups = "dups=y" in request.headers.get("Accept", "")
        walker = DagWalker(self.source, dups=dups, nodes=self.nodes)
        resolved = await resolve(self.nodes, self.source, cid, path)
        target = resolved.cid
        if target not in self.nodes:
            await self.source.get(target)  # a missing root is a 404 now, not a 200 cut short
        etag = f"{target}.car.{scope}.{entity or ''}.{'dups' if dups else 'nodups'}"
        response = web.StreamResponse(headers={
            **_common_headers(cid, path, etag),
            "Content-Type": f"{CAR_TYPE}; version=1; order=dfs; dups={'y' if dups else 'n'}",
            "X-Ipfs-Roots": str(target),
            "Content-Disposition": f'attachment; filename="{target}.car"'})
        if not await self._begin(request, response) or request.method == "HEAD":
            return response
        return await self._stream(request, response,
                                  _car_stream(cid, walker.walk_resolved(resolved, scope, byte_range)))

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
        if not await self._begin(request, response) or request.method == "HEAD":
            return response
        return await self._stream(request, response, self.reader.iter_range(stat.cid, start, stop))

    async def _listing(self, request: web.Request, cid: CID, path: str) -> web.Response:
        entries = await self.reader.listdir(cid, path)
        base = f"/ipfs/{cid}/{path}".rstrip("/")
        rows = "".join(f'<li><a href="{quote(base + "/" + e.name)}">{html.escape(e.name)}</a> {e.size or 0}</li>'
                       for e in entries)
        body = f"<!doctype html><title>{html.escape(base)}</title><h1>{html.escape(base)}</h1><ul>{rows}</ul>"
        return web.Response(text=body, content_type="text/html",
                            headers=_common_headers(cid, path, f"{cid}/{path}.listing"))


async def _car_stream(root: CID, blocks: AsyncIterator[tuple[CID, bytes]]) -> AsyncIterator[bytes]:
    """A CARv1 of ``root``: its header, then a section per block."""
    yield car_header([root])
    async for cid, block in blocks:
        yield section_head(cid, block)
        yield block


def make_app(source: BlockSource) -> web.Application:
    """The gateway as an aiohttp application (``GET``/``HEAD /ipfs/…``) over ``source``.

    Returns:
        The application, to run with an aiohttp runner.
    """
    gateway = GatewayServer(source)
    app = web.Application()
    app.router.add_route("GET", "/ipfs/{tail:.+}", gateway.handle)
    app.router.add_route("HEAD", "/ipfs/{tail:.+}", gateway.handle)
    return app


async def start_server(source: BlockSource, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the gateway over ``source`` on ``host:port`` (port 0: a free port).

    Returns:
        The runner (``await runner.cleanup()`` stops the server) and the base URL it listens at.

    Raises:
        OSError: the address cannot be bound.
    """
    runner = web.AppRunner(make_app(source), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{_url_host(bound_host)}:{bound_port}"


def _url_host(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host else host

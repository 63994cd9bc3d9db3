"""Gateways on 127.0.0.1 that attack the client instead of lying about content: they drip, never end, redirect
elsewhere, or send CAR headers of the wrong shape.

Modes:
  ``drip``         200 and the right content type, then one byte a second (forever)
  ``mute``         reads the request and never answers (no status line, no headers)
  ``endless-car``  a valid CAR header, then valid blocks of unrelated random data, without end (raw requests too)
  ``endless-raw``  a raw-block response whose body never ends (random bytes, as fast as the client reads); CAR
                   requests get ``endless-car``
  ``redirect``     302 to the same path on ``other`` (a different origin)
  ``bad-header``   a CAR whose header is ``{"version": [1]}``; raw requests get 5,000 nested CBOR arrays
Real HTTP on real sockets, so the client code under test is the production code. ``requests`` counts requests and
``bytes_sent`` what was written.
"""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from etdb_explore.ipfs.formats.car import car_header, section_head
from etdb_explore.ipfs.formats.cid import CID

from ..local_server import LocalServer

CAR_TYPE = "application/vnd.ipld.car; version=1; order=dfs; dups=n"
RAW_TYPE = "application/vnd.ipld.raw"
MODES = ("drip", "mute", "endless-car", "endless-raw", "redirect", "bad-header")


class HostileGateway(LocalServer):
    def __init__(self, mode: str, other: str = "") -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.other = other
        self.requests = 0
        self.bytes_sent = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self.handle)

    async def _send(self, response: web.StreamResponse, data: bytes) -> None:
        await response.write(data)
        self.bytes_sent += len(data)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        car = request.query.get("format") == "car" or "vnd.ipld.car" in request.headers.get("Accept", "")
        if self.mode == "redirect":
            raise web.HTTPFound(self.other + request.path_qs)
        if self.mode == "mute":
            await asyncio.sleep(3600)
        response = web.StreamResponse(headers={"Content-Type": CAR_TYPE if car else RAW_TYPE})
        await response.prepare(request)
        try:
            if self.mode == "drip":
                while True:
                    await self._send(response, b"\x00")
                    await asyncio.sleep(1)
            if self.mode == "endless-car" or (self.mode == "endless-raw" and car):
                await self._send(response, car_header([CID.for_block(b"root")]))
                while True:
                    block = os.urandom(65536)
                    await self._send(response, section_head(CID.for_block(block), block) + block)
            if self.mode == "endless-raw":
                while True:
                    await self._send(response, os.urandom(65536))
            header = bytes.fromhex("a16776657273696f6e8101")  # {"version": [1]}
            await self._send(response, bytes([len(header)]) + header if car else b"\x81" * 5000 + b"\x01")
            await response.write_eof()
        except ConnectionError:
            pass
        return response

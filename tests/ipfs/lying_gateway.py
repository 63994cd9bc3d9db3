"""A gateway on 127.0.0.1 that lies in a chosen way, in front of a real ``serve`` gateway.

Modes: ``flip`` (one bit of every body flipped), ``truncate`` (body cut short), ``other`` (another block's bytes),
``stall`` (headers, then silence), ``drop`` (connection closed mid-body), ``500``, ``429`` (with Retry-After),
``honest`` (a plain proxy), ``slow`` (honest, at about 4 MB/s), ``die`` (honest for raw blocks; the first CAR
response is passed on as it comes and cut after ``DIE_AFTER`` bytes, and from then on every connection is closed
unanswered, as by a machine that died). Real HTTP, real sockets: the client code under test is the one used in
production.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from ..local_server import LocalServer

DIE_AFTER = 256 * 1024  # bytes of its first CAR response a dying gateway sends


class LyingGateway(LocalServer):
    def __init__(self, upstream: str, mode: str, retry_after: str = "1") -> None:
        self.upstream = upstream
        self.mode = mode
        self.retry_after = retry_after
        self.requests = 0
        self.paths: list[str] = []  # path and query of every request, in order
        self.dead = False
        self._session: aiohttp.ClientSession | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self.handle)

    async def __aenter__(self) -> LyingGateway:
        await super().__aenter__()
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session
        await self._session.close()
        await super().__aexit__(*exc)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.paths.append(request.path_qs)
        if self.mode == "die" and (self.dead or request.query.get("format") == "car"):
            return await self._die(request)
        if self.mode == "500":
            return web.Response(status=500, text="internal error")
        if self.mode == "429":
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        assert self._session
        async with self._session.get(self.upstream + request.path_qs, headers={
                k: v for k, v in request.headers.items() if k.lower() in ("accept", "range")}) as upstream:
            status, ctype = upstream.status, upstream.headers.get("Content-Type", "application/octet-stream")
            if status == 200 and self.mode in ("honest", "flip"):
                return await self._pass_on(request, upstream, ctype)
            body = await upstream.read()
        if status != 200 or self.mode in ("slow", "die"):
            if self.mode == "slow" and status == 200:
                return await self._trickle(request, body, ctype)
            return web.Response(status=status, body=body, content_type=ctype.split(";")[0])
        if self.mode == "truncate":
            body = body[: max(len(body) // 2, 1)]
        elif self.mode == "other":
            body = b"\x0a\x04\x08\x02\x18\x00" if not body.startswith(b"\x0a\x04") else b"hello world\n"
        response = web.StreamResponse(headers={"Content-Type": ctype})
        await response.prepare(request)
        if self.mode == "stall":
            await response.write(body[:10])
            await asyncio.sleep(3600)
        if self.mode == "drop":
            await response.write(body[: len(body) // 2])
            request.transport.close()
            return response
        await response.write(body)
        await response.write_eof()
        return response

    async def _pass_on(self, request: web.Request, upstream: aiohttp.ClientResponse,
                       ctype: str) -> web.StreamResponse:
        """The upstream's body passed on as it comes, in ``flip`` mode with its last byte flipped. (A gateway that
        read a whole stripe before its first byte would be silent for as long as the upstream takes, and on a busy
        machine the stall timer would drop it, whatever its mode.)"""
        response = web.StreamResponse(headers={"Content-Type": ctype})
        response.content_length = upstream.content_length
        await response.prepare(request)
        held = b""  # the last chunk is held back until the body's end is known
        async for chunk in upstream.content.iter_any():
            if held:
                await response.write(held)
            held = chunk
        if self.mode == "flip" and held:
            held = held[:-1] + bytes([held[-1] ^ 0x01])
        await response.write(held)
        await response.write_eof()
        return response

    @staticmethod
    async def _trickle(request: web.Request, body: bytes, ctype: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": ctype})
        await response.prepare(request)
        for i in range(0, len(body), 64 * 1024):
            await response.write(body[i:i + 64 * 1024])
            await asyncio.sleep(0.015)
        await response.write_eof()
        return response

    async def _die(self, request: web.Request) -> web.StreamResponse:
        assert self._session
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.ipld.car"})
        if not self.dead:
            self.dead = True
            async with self._session.get(self.upstream + request.path_qs,
                                         headers={"Accept": request.headers.get("Accept", "")}) as upstream:
                await response.prepare(request)
                sent = 0
                async for chunk in upstream.content.iter_any():  # passed on as it comes: no pause before dying
                    await response.write(chunk[: DIE_AFTER - sent])
                    sent += len(chunk)
                    if sent >= DIE_AFTER:
                        break
        request.transport.close()
        return response

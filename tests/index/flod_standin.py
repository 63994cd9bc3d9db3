"""A stand-in for a FLO node's JSON-RPC on 127.0.0.1 (no flod can run here).

It follows bitcoind/flod's JSON-RPC 1.0 wire format: POST ``{"jsonrpc": "1.0", "id", "method", "params"}`` with
HTTP basic auth; answers ``{"result", "error": null, "id"}`` or ``{"result": null, "error": {"code", "message"},
"id"}``. Implemented: ``getblockcount``, ``getblockhash <height>``, ``getblock <hash> 2`` (verbosity 2: full
transactions, each with ``txid`` and ``floData``). Transactions carry real signed OIP floData. Heights in ``broken``
answer ``getblock`` with an error (a node failing part-way through a scan).
"""

from __future__ import annotations

import base64
import hashlib

from aiohttp import web

from ..local_server import LocalServer


class FlodStandIn(LocalServer):
    def __init__(self, user: str = "rpc", password: str = "secret") -> None:
        self.blocks: list[list[dict]] = []  # height → transactions
        self.auth = (user, password)
        self.calls: list[str] = []
        self.broken: set[int] = set()

    def add_block(self, flodatas: list[str]) -> list[str]:
        """Append a block whose transactions carry ``flodatas``; returns their txids."""
        height = len(self.blocks)
        txs = [{"txid": hashlib.sha256(f"{height}:{i}:{fd}".encode()).hexdigest(), "floData": fd}
               for i, fd in enumerate(flodatas)]
        self.blocks.append([{"txid": hashlib.sha256(f"coinbase {height}".encode()).hexdigest(), "floData": ""}, *txs])
        return [t["txid"] for t in txs]

    def block_hash(self, height: int) -> str:
        return hashlib.sha256(f"block {height}".encode()).hexdigest()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/", self.rpc)

    async def rpc(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="")
        call = await request.json()
        method, params, rid = call["method"], call.get("params", []), call.get("id")
        self.calls.append(method)

        def ok(result: object) -> web.Response:
            return web.json_response({"result": result, "error": None, "id": rid})

        def fail(code: int, message: str) -> web.Response:
            return web.json_response({"result": None, "error": {"code": code, "message": message}, "id": rid},
                                     status=500)

        if method == "getblockcount":
            return ok(len(self.blocks) - 1)
        if method == "getblockhash":
            height = params[0]
            return ok(self.block_hash(height)) if 0 <= height < len(self.blocks) else fail(
                -8, "Block height out of range")
        if method == "getblock":
            heights = [h for h in range(len(self.blocks)) if self.block_hash(h) == params[0]]
            if not heights:
                return fail(-5, "Block not found")
            h = heights[0]
            if h in self.broken:
                return fail(-1, f"block {h} unreadable")
            return ok({"hash": params[0], "height": h, "tx": self.blocks[h]})
        return fail(-32601, "Method not found")

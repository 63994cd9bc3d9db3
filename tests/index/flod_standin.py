"""A stand-in for a FLO node's JSON-RPC on 127.0.0.1 (no flod can run here).

It follows flod's JSON-RPC 1.0 wire format (bitcoind's, with FLO's floData): POST ``{"jsonrpc": "1.0", "id",
"method", "params"}`` with HTTP basic auth; answers ``{"result", "error": null, "id"}`` or ``{"result": null,
"error": {"code", "message"}, "id"}`` with HTTP 500, as flod does. Methods, with flod's parameters and errors:

- reading the chain: ``getblockcount``, ``getblockhash <height>`` (-8 out of range), ``getblock <hash> 2``
  (verbosity 2: full transactions, each with ``txid`` and ``floData``; -5 not found);
- the wallet, as go-etdb used it: ``settxfee <amount>`` (true), ``sendtoaddress`` with positional parameters
  (``address amount comment comment_to subtractfeefromamount replaceable conf_target estimate_mode floData``) or
  named ones (``{"address", "amount", "floData"}``); floData over 1040 bytes is -8 "Flo data too long", a balance
  below the amount -6 "Insufficient funds", and errors queued in ``fail_next`` (e.g. ``(-4, "Error: This
  transaction requires a transaction fee of at least 0.001")``) are answered in turn without sending;
- finding the wallet's transactions again: ``listtransactions "*" count skip`` (oldest first within the newest
  ``count`` after skipping ``skip``; ``txid``, ``category``, ``time``, ``confirmations``), ``gettransaction
  <txid>`` (``confirmations``, ``hex``; -5 "Invalid or non-wallet transaction id") and ``decoderawtransaction
  <hex>`` (with ``floData``; -22 "TX decode failed"). The ``hex`` is the stand-in's own encoding of the
  transaction, not FLO's serialization: clients only hand it back to ``decoderawtransaction``, as with flod.

Transactions accepted by ``sendtoaddress`` wait in the mempool until ``mine()`` puts them into a block (or at once,
with ``automine``). ``ledger`` lists every floData the wallet ever sent, in order: what the crash tests count.
``hook(method)`` runs when a call arrives (a true result drops the call unprocessed: a test kills the client there);
``hook_after`` runs after a ``sendtoaddress`` is accepted, before its answer leaves (killing the client there
leaves a transaction sent whose txid the client never learnt).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable

from aiohttp import web

from ..local_server import LocalServer

MAX_FLO_DATA = 1040


class FlodStandIn(LocalServer):
    def __init__(self, user: str = "rpc", password: str = "secret", *, automine: bool = False,
                 balance: float = 1000.0) -> None:
        self.blocks: list[list[dict]] = []  # height → transactions
        self.auth = (user, password)
        self.calls: list[str] = []
        self.broken: set[int] = set()
        self.automine = automine
        self.balance = balance
        self.fee_rate: float | None = None
        self.fail_next: list[tuple[int, str]] = []
        self.mempool: list[dict] = []
        self.wallet: list[dict] = []  # every transaction sent, in order
        self.hook: Callable[[str], None] | None = None
        self.hook_after: Callable[[str], None] | None = None

    @property
    def ledger(self) -> list[str]:
        return [tx["floData"] for tx in self.wallet]

    def add_block(self, flodatas: list[str]) -> list[str]:
        """Append a block whose transactions carry ``flodatas``; returns their txids."""
        height = len(self.blocks)
        txs = [{"txid": hashlib.sha256(f"{height}:{i}:{fd}".encode()).hexdigest(), "floData": fd}
               for i, fd in enumerate(flodatas)]
        self._append_block(txs)
        return [t["txid"] for t in txs]

    def _append_block(self, txs: list[dict]) -> None:
        height = len(self.blocks)
        self.blocks.append([{"txid": hashlib.sha256(f"coinbase {height}".encode()).hexdigest(), "floData": ""},
                            *[{"txid": t["txid"], "floData": t["floData"]} for t in txs]])

    def mine(self) -> None:
        """Put the mempool's transactions into a new block."""
        for tx in self.mempool:
            tx["height"] = len(self.blocks)
        self._append_block(self.mempool)
        self.mempool = []

    def block_hash(self, height: int) -> str:
        return hashlib.sha256(f"block {height}".encode()).hexdigest()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/", self.rpc)

    def _send(self, params: list | dict) -> tuple[str | None, tuple[int, str] | None]:
        if isinstance(params, dict):
            address, amount, flodata = params.get("address"), params.get("amount"), params.get("floData", "")
        else:
            address, amount = params[0], params[1]
            flodata = params[8] if len(params) > 8 else ""
        if not isinstance(address, str) or not isinstance(amount, (int, float)):
            return None, (-1, "JSON value is not of expected type")
        if len(flodata.encode("utf-8")) > MAX_FLO_DATA:
            return None, (-8, "Flo data too long")
        if amount <= 0:
            return None, (-3, "Invalid amount for send")
        if self.fail_next:
            return None, self.fail_next.pop(0)
        if amount > self.balance:
            return None, (-6, "Insufficient funds")
        self.balance -= (self.fee_rate or 0.001) * (226 + len(flodata)) / 1000
        tx = {"txid": hashlib.sha256(f"tx {len(self.wallet)} {flodata}".encode()).hexdigest(), "floData": flodata,
              "address": address, "time": int(time.time()), "height": None}
        self.wallet.append(tx)
        self.mempool.append(tx)
        if self.automine:
            self.mine()
        return tx["txid"], None

    def _confirmations(self, tx: dict) -> int:
        return 0 if tx["height"] is None else len(self.blocks) - tx["height"]

    async def rpc(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="")
        call = await request.json()
        method, params, rid = call["method"], call.get("params", []), call.get("id")
        self.calls.append(method)
        if self.hook is not None and self.hook(method):
            return web.Response(status=503, text="")  # the call is dropped unanswered and unprocessed

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
        if method == "settxfee":
            self.fee_rate = float(params[0])
            return ok(True)
        if method == "sendtoaddress":
            txid, error = self._send(params)
            if error:
                return fail(*error)
            if self.hook_after is not None:
                self.hook_after(method)
            return ok(txid)
        if method == "listtransactions":
            count, skip = (params[1] if len(params) > 1 else 10), (params[2] if len(params) > 2 else 0)
            newest_first = self.wallet[::-1][skip:skip + count]
            return ok([{"address": tx["address"], "category": "send", "amount": -0.1, "txid": tx["txid"],
                        "time": tx["time"], "confirmations": self._confirmations(tx)} for tx in newest_first[::-1]])
        if method == "gettransaction":
            tx = next((t for t in self.wallet if t["txid"] == params[0]), None)
            if tx is None:
                return fail(-5, "Invalid or non-wallet transaction id")
            raw = json.dumps({"txid": tx["txid"], "floData": tx["floData"]}).encode().hex()
            return ok({"txid": tx["txid"], "confirmations": self._confirmations(tx), "time": tx["time"], "hex": raw})
        if method == "decoderawtransaction":
            try:
                decoded = json.loads(bytes.fromhex(params[0]))
            except ValueError:
                return fail(-22, "TX decode failed")
            return ok({"txid": decoded["txid"], "vin": [], "vout": [], "floData": decoded["floData"]})
        return fail(-32601, "Method not found")

"""A FLO node's JSON-RPC (flod) as an index source: scan blocks, read floData, rebuild the ETDB from the chain.

Blocks are scanned from ``start_height`` with ``getblockcount``, ``getblockhash`` and ``getblock <hash> 2`` (full
transactions, each with its ``floData``); OIP 0.42 messages are parsed, multipart messages reassembled from parts in
any order, and edits and deactivations applied in block order. The scan is incremental: the last scanned height,
the messages found and the parts still waiting for their siblings are kept in ``state_path`` (JSON, replaced
atomically), and the next harvest scans only new blocks. Reorganisations are not followed (deep blocks only).
:class:`FlodRpc` (the endpoint, its credentials, one JSON-RPC call) is shared with publishing
(:mod:`etdb_explore.publish.broadcast`).
"""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from etdb_explore.errors import EtdbError, RecordError, SourceError
from etdb_explore.index.sources.base import Harvest, Rejection
from etdb_explore.records import (
    Message,
    MultipartAssembler,
    is_multipart,
    parse_message,
    parse_part,
)
from etdb_explore.records.history import apply_messages
from etdb_explore.records.multipart import group_key
from etdb_explore.records.safejson import loads
from etdb_explore.util.files import atomic_write


class RpcError(SourceError):
    """A JSON-RPC error answer of a FLO node; ``code`` is flod's error code (-6 insufficient funds, -4 wallet error,
    -5 not found, …)."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class FlodRpc:
    """A FLO node's JSON-RPC endpoint (``url``, credentials in it or as ``user``/``password``; HTTP basic auth).

    ``calls`` counts the calls made; ``timeout`` bounds each one (seconds).
    """

    def __init__(self, url: str = "http://127.0.0.1:7313/", user: str | None = None, password: str | None = None,
                 timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        self.user = user or parts.username
        self.password = password or parts.password
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.netloc
        self.url = urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
        self.timeout = timeout
        self.name = f"flod {self.url}"
        self.calls = 0

    def session(self) -> aiohttp.ClientSession:
        """A new HTTP session for this endpoint (its credentials and timeout); the caller closes it.

        Returns:
            The session (use it in ``async with``).
        """
        headers = {}
        if self.user:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def call(self, session: aiohttp.ClientSession, method: str, params: list[Any] | dict[str, Any] = ()
                   ) -> Any:
        """One JSON-RPC 1.0 call (``params`` positional, or named as flod also takes them).

        Returns:
            The ``result`` member.

        Raises:
            RpcError: the node answered an error (its code and message kept).
            SourceError: the node cannot be reached, timed out, or answered something else than JSON-RPC.
        """
        self.calls += 1
        payload = {"jsonrpc": "1.0", "id": self.calls, "method": method,
                   "params": params if isinstance(params, dict) else list(params)}
        try:
            async with session.post(self.url, json=payload) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(f"{self.name}: {method} failed: {exc}") from exc
        try:
            body = loads(text, f"{self.name}: {method}")
        except RecordError as exc:
            raise SourceError(f"{exc} (HTTP {response.status}: {text[:80]!r})") from None
        if not isinstance(body, dict):
            raise SourceError(f"{self.name}: {method}: HTTP {response.status}, not a JSON-RPC answer: {text[:80]!r}")
        if body.get("error"):
            error = body["error"]
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
            raise RpcError(f"{self.name}: {method} error {code}: {str(message)[:200]}",
                           code if isinstance(code, int) else None)
        return body.get("result")


class FlodSource:
    """Records rebuilt from a FLO node's JSON-RPC (``url``, credentials in it or as ``user``/``password``).

    Args:
        start_height: the first block scanned.
        state_path: where the scan state is kept between harvests (JSON); None scans from ``start_height`` each
            time.
        timeout: seconds for each JSON-RPC call.

    ``rpc`` is the node's :class:`FlodRpc` (``rpc.calls`` counts the calls made).
    """

    def __init__(self, url: str = "http://127.0.0.1:7313/", user: str | None = None, password: str | None = None,
                 start_height: int = 0, state_path: str | Path | None = None, timeout: float = 60.0) -> None:
        self.rpc = FlodRpc(url, user, password, timeout)
        self.start_height = start_height
        self.state_path = Path(state_path) if state_path else None
        self.name = self.rpc.name

    def _load_state(self) -> dict[str, Any]:
        if not (self.state_path and self.state_path.exists()):
            return {"height": self.start_height - 1, "messages": [], "parts": [], "rejected": []}
        try:
            state = loads(self.state_path.read_bytes(), f"{self.state_path}")
        except (OSError, RecordError) as exc:
            raise SourceError(f"{self.name}: unreadable scan state {self.state_path} ({exc}); delete it to rescan"
                              ) from exc
        if not isinstance(state, dict) or not isinstance(state.get("height"), int) or not all(
                isinstance(state.get(k), list) for k in ("messages", "parts", "rejected")):
            raise SourceError(f"{self.name}: {self.state_path} is not a scan state; delete it to rescan")
        return state

    def _save_state(self, state: dict[str, Any]) -> None:
        """Keep the scan state; a state file that cannot be written costs a warning (the next scan starts over)."""
        if self.state_path is None:
            return
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.state_path, json.dumps(state))
        except OSError as exc:
            warnings.warn(f"{self.name}: could not save the scan state in {self.state_path}: {exc}", stacklevel=3)

    def _take(self, state: dict[str, Any], assembler: MultipartAssembler, flodata: str, txid: str,
              height: int) -> None:
        where = f"block {height} tx {txid}"
        try:
            if is_multipart(flodata):
                part = parse_part(flodata, txid)
                done = assembler.add(part)
                state["parts"].append([flodata, txid, height, group_key(part)])
                if done is not None:
                    first_txid, whole = done
                    state["parts"] = [p for p in state["parts"] if p[3] != group_key(part)]
                    parse_message(whole, first_txid, height)
                    state["messages"].append([whole, first_txid, height])
            elif flodata.startswith("json:") and "oip042" in flodata[:40]:
                parse_message(flodata, txid, height)
                state["messages"].append([flodata, txid, height])
        except EtdbError as exc:
            state["rejected"].append([where, txid, str(exc)])

    async def _scan(self, state: dict[str, Any], assembler: MultipartAssembler) -> None:
        """Scan the blocks after ``state["height"]``, updating ``state`` block by block."""
        async with self.rpc.session() as session:
            tip = await self.rpc.call(session, "getblockcount")
            if isinstance(tip, bool) or not isinstance(tip, int):
                raise SourceError(f"{self.name}: getblockcount answered {tip!r:.80}")
            for height in range(state["height"] + 1, tip + 1):
                block_hash = await self.rpc.call(session, "getblockhash", [height])
                block = await self.rpc.call(session, "getblock", [block_hash, 2])
                txs = block.get("tx") if isinstance(block, dict) else None
                if not isinstance(txs, list):
                    raise SourceError(f"{self.name}: getblock {height} answered no transaction list")
                for tx in txs:
                    flodata = tx.get("floData") if isinstance(tx, dict) else None
                    if flodata and isinstance(flodata, str) and isinstance(tx.get("txid"), str):
                        self._take(state, assembler, flodata, tx["txid"], height)
                state["height"] = height

    def _messages(self, state: dict[str, Any]) -> tuple[list[Message], list[Rejection]]:
        """The messages kept in the scan state, parsed again (the state file is not trusted)."""
        messages, rejected = [], []
        for entry in state["messages"]:
            try:
                flodata, txid, height = entry
                messages.append(parse_message(flodata, txid, height))
            except (ValueError, TypeError) as exc:  # RecordError is a ValueError
                rejected.append(Rejection(f"{self.name} scan state", None, f"unreadable message: {exc}"))
        return messages, rejected

    async def harvest(self) -> Harvest:
        """Scan the new blocks and rebuild the ETDB's records from every message found so far.

        The scan state is saved even when the scan fails part-way (as of the last whole block), so the next
        harvest goes on from there; a message that does not parse is a rejection, never a failure.

        Returns:
            The records (edits and deactivations applied) and the rejected messages and parts.

        Raises:
            SourceError: the node failed, or the scan state file is unreadable.
        """
        state = self._load_state()
        assembler = MultipartAssembler()
        waiting = []
        for entry in state["parts"]:  # parts still waiting for their siblings
            try:
                part = parse_part(entry[0], entry[1])
                assembler.add(part)
            except (IndexError, TypeError, KeyError, EtdbError):
                continue  # a part the state should not hold: dropped
            waiting.append([entry[0], entry[1], entry[2], group_key(part)])
        state["parts"] = waiting
        try:
            await self._scan(state, assembler)
        finally:
            self._save_state(state)
        messages, rejected = self._messages(state)
        records, problems = apply_messages(messages)
        rejected += [Rejection(*entry) for entry in state["rejected"] if isinstance(entry, list) and len(entry) == 3]
        rejected += [Rejection(f"{self.name} history", t, r) for t, r in problems]
        return Harvest(list(records), rejected)

"""A FLO node's JSON-RPC (flod) as an index source: scan blocks, read floData, rebuild the ETDB from the chain.

Blocks are scanned from ``start_height`` with ``getblockcount``, ``getblockhash`` and ``getblock <hash> 2`` (full
transactions, each with its ``floData``); OIP 0.42 messages are parsed, multipart messages reassembled from parts in
any order, and edits and deactivations applied in block order. The scan is incremental: the last scanned height,
the messages found and the parts still waiting for their siblings are kept in ``state_path`` (JSON, replaced
atomically), and the next harvest scans only new blocks. Reorganisations are not followed (deep blocks only).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from etdb_explore.errors import EtdbError, SourceError
from etdb_explore.index.sources.base import Harvest, Rejection
from etdb_explore.records import (
    MultipartAssembler,
    is_multipart,
    parse_message,
    parse_part,
)
from etdb_explore.records.history import apply_messages
from etdb_explore.util.files import atomic_write


class FlodSource:
    def __init__(self, url: str = "http://127.0.0.1:7313/", user: str | None = None, password: str | None = None,
                 start_height: int = 0, state_path: str | Path | None = None, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        self.user = user or parts.username
        self.password = password or parts.password
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.netloc
        self.url = urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
        self.start_height = start_height
        self.state_path = Path(state_path) if state_path else None
        self.timeout = timeout
        self.name = f"flod {self.url}"
        self.calls = 0

    async def _rpc(self, session: aiohttp.ClientSession, method: str, *params: Any) -> Any:
        self.calls += 1
        payload = {"jsonrpc": "1.0", "id": self.calls, "method": method, "params": list(params)}
        try:
            async with session.post(self.url, json=payload) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(f"{self.name}: {method} failed: {exc}") from exc
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            raise SourceError(f"{self.name}: {method}: HTTP {response.status}, not JSON: {text[:80]!r}") from None
        if body.get("error"):
            error = body["error"]
            raise SourceError(f"{self.name}: {method} error {error.get('code')}: {error.get('message')}")
        return body.get("result")

    def _load_state(self) -> dict[str, Any]:
        if self.state_path and self.state_path.exists():
            return json.loads(self.state_path.read_text())
        return {"height": self.start_height - 1, "messages": [], "parts": [], "rejected": []}

    def _save_state(self, state: dict[str, Any]) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.state_path, json.dumps(state))

    def _take(self, state: dict[str, Any], assembler: MultipartAssembler, flodata: str, txid: str,
              height: int) -> None:
        where = f"block {height} tx {txid}"
        try:
            if is_multipart(flodata):
                part = parse_part(flodata, txid)
                done = assembler.add(part)
                state["parts"].append([flodata, txid, height, txid[:10] if part.part == 0 else part.reference[:10]])
                if done is not None:
                    first_txid, whole = done
                    state["parts"] = [p for p in state["parts"] if p[3] != first_txid[:10]]
                    parse_message(whole, first_txid, height)
                    state["messages"].append([whole, first_txid, height])
            elif flodata.startswith("json:") and "oip042" in flodata[:40]:
                parse_message(flodata, txid, height)
                state["messages"].append([flodata, txid, height])
        except EtdbError as exc:
            state["rejected"].append([where, txid, str(exc)])

    async def harvest(self) -> Harvest:
        state = self._load_state()
        assembler = MultipartAssembler()
        for flodata, txid, _, _ in state["parts"]:  # parts still waiting for their siblings
            assembler.add(parse_part(flodata, txid))
        headers = {}
        if self.user:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            tip = await self._rpc(session, "getblockcount")
            for height in range(state["height"] + 1, tip + 1):
                block_hash = await self._rpc(session, "getblockhash", height)
                block = await self._rpc(session, "getblock", block_hash, 2)
                for tx in block.get("tx", []):
                    flodata = tx.get("floData") or ""
                    if flodata:
                        self._take(state, assembler, flodata, tx["txid"], height)
                state["height"] = height
        self._save_state(state)
        messages = [parse_message(f, t, h) for f, t, h in state["messages"]]
        records, problems = apply_messages(messages)
        rejected = [Rejection(w, t, r) for w, t, r in state["rejected"]]
        rejected += [Rejection(f"{self.name} history", t, r) for t, r in problems]
        return Harvest(list(records), rejected)

"""A stand-in for oipd's REST API on 127.0.0.1 (no oipd can run here).

It follows oipd's documented wire format: ``GET /oip/artifact/search?q=<ES query_string>&limit=&after=``, answers
``{"count", "total", "results": [{"artifact", "meta"}], "next"}`` where ``next`` is the URL-encoded JSON sort cursor
of the last hit, and errors ``{"error": "invalid search request"}`` (400) or ``{"error": "unable to execute
search"}`` (500). Failures can be injected: a number of 500s, a stall, a non-JSON body, and results given as
:class:`RawJSON` text spliced into the page as they are (a hostile oipd: JSON no encoder here would write).

Given a ``chain`` (the flod stand-in), it serves what that chain carries, as a real oipd indexes the FLO chain: every
block's floData read in order, multipart parts verified and joined (grouped by the first 10 characters of their
reference, the record's txid its part 0's), OIP 0.42 publish/edit/deactivate messages applied, deactivated records
left out, each result ``{"artifact", "meta": {"block_hash", "txid", "originalTxid", "block", "time", "type":
"oip042"}}`` (oipd's envelope; ../shared/spec/oip042.md). The indexing reuses etdb-explore's parsers of the same
formats; it is re-read on each search, so records mined meanwhile show up.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote, unquote

from aiohttp import web

from etdb_explore.errors import EtdbError
from etdb_explore.records import is_multipart
from etdb_explore.records.history import apply_messages
from etdb_explore.records.multipart import MultipartAssembler, parse_part
from etdb_explore.records.record import Message, parse_message

from ..local_server import LocalServer
from .flod_standin import FlodStandIn

EXPECTED = "artifact.type:research AND artifact.subtype:tomogram"


class RawJSON(str):
    """A result sent as this exact JSON text."""


def _page_text(body: dict) -> str:
    results = ",".join(r if isinstance(r, RawJSON) else json.dumps(r) for r in body["results"])
    rest = json.dumps({k: v for k, v in body.items() if k != "results"})
    return rest[:-1] + ', "results": [' + results + "]}"


class OipdStandIn(LocalServer):
    url_path = "/oip"

    def __init__(self, records: list | None = None, fail_500: int = 0, stall: float = 0.0, garbage: bool = False,
                 chain: FlodStandIn | None = None) -> None:
        self.records = records or []
        self.chain = chain
        self.fail_500 = fail_500
        self.stall = stall
        self.garbage = garbage
        self.requests: list[dict[str, str]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/oip/artifact/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.fail_500:
            self.fail_500 -= 1
            return web.json_response({"error": "unable to execute search"}, status=500)
        if self.garbage:
            return web.Response(text="<html>bad gateway</html>", content_type="text/html")
        q = request.query.get("q", "")
        if not q.startswith(EXPECTED):
            return web.json_response({"error": "invalid search request"}, status=400)
        publisher = q.split("artifact.floAddress:")[1] if "artifact.floAddress:" in q else None
        records = self.records + (self._index_chain() if self.chain is not None else [])
        hits = [r for r in records if not isinstance(r, dict) or publisher is None
                or not isinstance(r.get("artifact"), dict) or r["artifact"].get("floAddress") == publisher]
        limit = min(int(request.query.get("limit", 10)), 1000)
        start = json.loads(unquote(request.query["after"]))[0] if "after" in request.query else 0
        page = hits[start:start + limit]
        body = {"count": len(page), "total": len(hits), "results": page}
        if page:
            body["next"] = quote(json.dumps([start + len(page), "cursor"]))
        return web.Response(text=_page_text(body), content_type="application/json")

    def _index_chain(self) -> list[dict]:
        """The Research-Tomogram records the chain carries, in oipd's result form (as oipd's indexer makes them)."""
        assert self.chain is not None
        assembler = MultipartAssembler()
        messages: list[Message] = []
        where: dict[str, tuple[int, str]] = {}
        for height, txs in enumerate(self.chain.blocks):
            for tx in txs:
                flodata, txid = tx["floData"], tx["txid"]
                try:
                    if is_multipart(flodata):
                        done = assembler.add(parse_part(flodata, txid))
                        if done is None:
                            continue
                        txid, flodata = done
                    elif not flodata.startswith("json:"):
                        continue
                    messages.append(parse_message(flodata, txid, height))
                    where[txid] = (height, self.chain.block_hash(height))
                except EtdbError:
                    continue  # oipd skips what it cannot parse or verify
        records, _ = apply_messages(messages)
        return [{"artifact": r.artifact, "meta": {"block_hash": where[r.txid][1], "txid": r.txid,
                                                  "originalTxid": r.txid, "block": where[r.txid][0],
                                                  "time": r.timestamp, "type": "oip042"}}
                for r in records if not r.deactivated and r.is_tomogram()]

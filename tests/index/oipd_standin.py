"""A stand-in for oipd's REST API on 127.0.0.1 (no oipd can run here).

It follows oipd's documented wire format: ``GET /oip/artifact/search?q=<ES query_string>&limit=&after=``, answers
``{"count", "total", "results": [{"artifact", "meta"}], "next"}`` where ``next`` is the URL-encoded JSON sort cursor
of the last hit, and errors ``{"error": "invalid search request"}`` (400) or ``{"error": "unable to execute
search"}`` (500). Failures can be injected: a number of 500s, a stall, a non-JSON body, and results given as
:class:`RawJSON` text spliced into the page as they are (a hostile oipd: JSON no encoder here would write).
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote, unquote

from aiohttp import web

from ..local_server import LocalServer

EXPECTED = "artifact.type:research AND artifact.subtype:tomogram"


class RawJSON(str):
    """A result sent as this exact JSON text."""


def _page_text(body: dict) -> str:
    results = ",".join(r if isinstance(r, RawJSON) else json.dumps(r) for r in body["results"])
    rest = json.dumps({k: v for k, v in body.items() if k != "results"})
    return rest[:-1] + ', "results": [' + results + "]}"


class OipdStandIn(LocalServer):
    url_path = "/oip"

    def __init__(self, records: list, fail_500: int = 0, stall: float = 0.0, garbage: bool = False) -> None:
        self.records = records
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
        hits = [r for r in self.records if not isinstance(r, dict) or publisher is None
                or not isinstance(r.get("artifact"), dict) or r["artifact"].get("floAddress") == publisher]
        limit = min(int(request.query.get("limit", 10)), 1000)
        start = json.loads(unquote(request.query["after"]))[0] if "after" in request.query else 0
        page = hits[start:start + limit]
        body = {"count": len(page), "total": len(hits), "results": page}
        if page:
            body["next"] = quote(json.dumps([start + len(page), "cursor"]))
        return web.Response(text=_page_text(body), content_type="application/json")

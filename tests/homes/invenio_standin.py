"""A stand-in for an InvenioRDM repository's REST API (CaltechDATA) on 127.0.0.1 (none can run here).

It follows InvenioRDM's documented wire format for what etdb-explore reads:

- ``GET /api/records`` and ``GET /api/communities/<id>/records`` with ``q``, ``size`` (default 25), ``page``,
  ``sort`` (``oldest``/``newest``): ``{"hits": {"hits": [...], "total": N}, "links": {"self", "next"?, "prev"?},
  "sortBy": …}``. ``page × size`` beyond the result window (10,000 by default) is a 400
  ``{"status": 400, "message": "Invalid pagination parameters."}``, as invenio-records-resources answers.
  The queries understood are the empty query and ``metadata.identifiers.identifier:<prefix>*`` (a query string
  prefix search on the identifier keyword field); others are a 400 "Invalid query string syntax.".
- ``GET /api/records/<id>`` and ``GET /api/records/<id>/files``: ``{"enabled", "entries": [{"key", "size",
  "checksum": "md5:…", "links": {"content"}, "transfer": {"type": "L"|"R"}}]}``; a remote file's ``content`` link
  answers 302 to its remote URL (InvenioRDM's remote transfer, type "R").
- Rate limiting: the first ``throttle`` requests get 429 with ``Retry-After`` (seconds).

Records are given as InvenioRDM record JSON (see :func:`invenio_record`); search hits carry ``files`` with
``enabled`` and ``count`` but no entries, so clients use the files API.
"""

from __future__ import annotations

import fnmatch
import hashlib
from typing import Any

from aiohttp import web

from ..local_server import LocalServer


def invenio_record(recid: str, tiltid: str | None, *, title: str = "", subjects: tuple[str, ...] = (),
                   collected: str | None = None, publication_date: str = "2023-06-23", technical: str | None = None,
                   files_description: str | None = None, description: str | None = "Electron tomography files",
                   restricted: bool = False, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An InvenioRDM record as CaltechDATA's importer writes a tomography record (``files``: files API entries,
    ``{"key", "data": bytes}`` or ``{"key", "size", "remote": url}``)."""
    metadata: dict[str, Any] = {
        "title": title, "publication_date": publication_date,
        "identifiers": [{"identifier": tiltid, "scheme": "tiltid"}] if tiltid else [],
        "subjects": [{"subject": s} for s in subjects],
        "dates": [{"date": collected, "type": {"id": "collected", "title": {"en": "Collected"}}}] if collected else [],
        "additional_descriptions": [],
        "resource_type": {"id": "dataset"},
    }
    if description is not None:
        metadata["description"] = description
    if technical is not None:
        metadata["additional_descriptions"].append(
            {"description": technical, "type": {"id": "technical-info", "title": {"en": "Technical info"}}})
    if files_description is not None:
        metadata["additional_descriptions"].append(
            {"description": files_description, "type": {"id": "files", "title": {"en": "Files"}}})
    access = {"record": "public", "files": "restricted" if restricted else "public",
              "embargo": {"active": restricted, "until": "2024-06-01" if restricted else None, "reason": None}}
    return {"id": recid, "pids": {"doi": {"identifier": f"10.22002/{recid}", "provider": "datacite"}},
            "metadata": metadata, "access": access, "created": f"2023-06-23T00:00:{len(recid):02d}+00:00",
            "_files": files or []}


class InvenioStandIn(LocalServer):
    def __init__(self, records: list[dict[str, Any]], community: str, *, window: int = 10_000,
                 throttle: int = 0, retry_after: str = "0") -> None:
        self.records = records
        self.community = community
        self.window = window
        self.throttle = throttle
        self.retry_after = retry_after
        self.requests: list[str] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/records", self.search)
        app.router.add_get("/api/communities/{community}/records", self.search)
        app.router.add_get("/api/records/{recid}", self.record)
        app.router.add_get("/api/records/{recid}/files", self.files)
        app.router.add_get("/api/records/{recid}/files/{key:.+}/content", self.content)

    def _throttled(self, request: web.Request) -> web.Response | None:
        self.requests.append(str(request.rel_url))
        if self.throttle:
            self.throttle -= 1
            return web.json_response({"status": 429, "message": "Too many requests."}, status=429,
                                     headers={"Retry-After": self.retry_after})
        return None

    def _public(self, record: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in record.items() if not k.startswith("_")}
        base = self.url
        out["links"] = {"self": f"{base}/api/records/{record['id']}", "files": f"{base}/api/records/{record['id']}/files",
                        "self_html": f"{base}/records/{record['id']}"}
        out["files"] = {"enabled": bool(record["_files"]), "count": len(record["_files"])}
        return out

    @staticmethod
    def _matches(record: dict[str, Any], query: str) -> bool:
        if not query:
            return True
        pattern = query.split(":", 1)[1]
        return any(fnmatch.fnmatchcase(i.get("identifier", ""), pattern)
                   for i in record["metadata"]["identifiers"])

    async def search(self, request: web.Request) -> web.Response:
        if (limited := self._throttled(request)) is not None:
            return limited
        if "community" in request.match_info and request.match_info["community"] != self.community:
            return web.json_response({"status": 404, "message": "The persistent identifier does not exist."},
                                     status=404)
        query = request.query.get("q", "").strip()
        if query and not (query.startswith("metadata.identifiers.identifier:") and query.endswith("*")):
            return web.json_response({"status": 400, "message": "Invalid query string syntax."}, status=400)
        try:
            size, page = int(request.query.get("size", 25)), int(request.query.get("page", 1))
        except ValueError:
            return web.json_response({"status": 400, "message": "Invalid pagination parameters."}, status=400)
        if size < 1 or page < 1 or page * size > self.window:
            return web.json_response({"status": 400, "message": "Invalid pagination parameters."}, status=400)
        hits = sorted((r for r in self.records if self._matches(r, query)), key=lambda r: (r["created"], r["id"]),
                      reverse=request.query.get("sort") == "newest")
        start = (page - 1) * size
        base = f"{self.url}{request.path}"
        args = f"q={query}&size={size}&sort={request.query.get('sort', 'bestmatch')}"
        links = {"self": f"{base}?{args}&page={page}"}
        if start + size < len(hits) and (page + 1) * size <= self.window:
            links["next"] = f"{base}?{args}&page={page + 1}"
        if page > 1:
            links["prev"] = f"{base}?{args}&page={page - 1}"
        return web.json_response({"hits": {"hits": [self._public(r) for r in hits[start:start + size]],
                                           "total": len(hits)}, "links": links, "sortBy": "oldest"})

    def _find(self, recid: str) -> dict[str, Any]:
        for record in self.records:
            if record["id"] == recid:
                return record
        raise web.HTTPNotFound(text='{"status": 404, "message": "The persistent identifier does not exist."}',
                               content_type="application/json")

    async def record(self, request: web.Request) -> web.Response:
        return web.json_response(self._public(self._find(request.match_info["recid"])))

    async def files(self, request: web.Request) -> web.Response:
        if (limited := self._throttled(request)) is not None:
            return limited
        record = self._find(request.match_info["recid"])
        if record["access"]["files"] == "restricted":
            return web.json_response({"status": 403, "message": "Permission denied."}, status=403)
        base = f"{self.url}/api/records/{record['id']}/files"
        entries = []
        for f in record["_files"]:
            entry = {"key": f["key"], "size": len(f["data"]) if "data" in f else f["size"],
                     "links": {"self": f"{base}/{f['key']}", "content": f"{base}/{f['key']}/content"},
                     "transfer": {"type": "R" if "remote" in f else "L"}, "status": "completed"}
            if "data" in f:
                entry["checksum"] = "md5:" + hashlib.md5(f["data"]).hexdigest()
            entries.append(entry)
        return web.json_response({"enabled": True, "entries": entries, "links": {"self": base}})

    async def content(self, request: web.Request) -> web.StreamResponse:
        record = self._find(request.match_info["recid"])
        for f in record["_files"]:
            if f["key"] == request.match_info["key"]:
                if "remote" in f:
                    raise web.HTTPFound(f["remote"])
                return web.Response(body=f["data"], content_type="application/octet-stream")
        raise web.HTTPNotFound()

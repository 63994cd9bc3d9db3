"""CaltechDATA (InvenioRDM) as an index source: the tomography community's records, one row per tilt series.

The REST API (``GET /api/communities/<id>/records`` with ``q``, ``size``, ``page``, ``sort``) answers
``{"hits": {"hits": [...], "total": N}, "links": {"next": …}}``; pages are followed by ``links.next`` (same origin
only). InvenioRDM serves at most 10,000 hits per query (``page × size`` beyond that is a 400 "Invalid pagination
parameters"), so a larger community is harvested one tilt-id prefix at a time
(``q=metadata.identifiers.identifier:<prefix>*``), prefixes lengthened until each fits; records a prefix cannot reach
are counted in a rejection, never dropped silently. 429 answers wait their ``Retry-After``.

Per record: the tilt-series id (``metadata.identifiers`` of scheme ``tiltid``), title, collection date
(``metadata.dates`` of type collected, else the publication date), DOI, species and strain (free-text subjects:
the first "Genus species" subject and a subject starting "strain"), the ``technical-info`` HTML parsed by label
(:mod:`~etdb_explore.index.sources.technical`; the raw HTML kept in ``technical_html``), the S3 folder and file
links of the ``files`` description (``mirror_url``: where the lab folder lies on the Open Storage Network), the
files API's entries with their md5 checksums, and whether the files are embargoed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from etdb_explore.errors import SourceError
from etdb_explore.index.sources.base import HomeHarvest, Rejection
from etdb_explore.index.sources.http import DEFAULT_RETRY, Retry, request_json
from etdb_explore.index.sources.technical import parse_technical_info
from etdb_explore.records.kinds import kind_from_name

DEFAULT_BASE = "https://data.caltech.edu"
TOMOGRAPHY_COMMUNITY = "0497183f-f3b1-483d-b8bb-133c731c939a"
WINDOW = 10_000  # InvenioRDM's default max result window
ID_FIELD = "metadata.identifiers.identifier"
PREFIX_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
MAX_PREFIX = 8
_HREF = re.compile(r"""href\s*=\s*["']?(https?://[^"'\s<>]{1,2000})""", re.IGNORECASE)
_SPECIES = re.compile(r"^[A-Z][a-z]+ (?:[a-z]+|sp\.)(?: [a-z]+)?$")
_MAX_FIELD = 10_000  # characters kept of any text field


def _text(value: Any, limit: int = _MAX_FIELD) -> str | None:
    return value[:limit] if isinstance(value, str) and value.strip() else None


def _seconds(value: Any) -> int | None:
    """'2014-01-14', '2014-01' or '2014' (the start of the period) as seconds since the epoch."""
    text = _text(value, 40)
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            return int(dt.datetime.strptime(text.strip()[:len(fmt) + 2], fmt)
                       .replace(tzinfo=dt.timezone.utc).timestamp())
        except ValueError:
            continue
    return None


def _items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _type_id(item: dict[str, Any]) -> str | None:
    kind = item.get("type")
    return kind.get("id") if isinstance(kind, dict) else kind if isinstance(kind, str) else None


def _tiltid(metadata: dict[str, Any]) -> str | None:
    for item in _items(metadata.get("identifiers")):
        if item.get("scheme") == "tiltid":
            return _text(item.get("identifier"), 80)
    return None


def _date(metadata: dict[str, Any]) -> int | None:
    dates = _items(metadata.get("dates"))
    for wanted in ("collected", "created"):
        for item in dates:
            if (_type_id(item) or "").lower() == wanted and (seconds := _seconds(item.get("date"))) is not None:
                return seconds
    return _seconds(metadata.get("publication_date"))


def _subjects(metadata: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _items(metadata.get("subjects")):
        subject = _text(item.get("subject"), 200)
        if not subject:
            continue
        subject = " ".join(subject.split())
        if subject.lower().startswith("strain"):
            out.setdefault("strain", subject.split(":", 1)[-1].removeprefix("strain").strip() or None)
        elif _SPECIES.match(subject):
            out.setdefault("species", subject)
    return out


def _descriptions(metadata: dict[str, Any], kind: str) -> list[str]:
    return [d for item in _items(metadata.get("additional_descriptions")) if _type_id(item) == kind
            and (d := _text(item.get("description"), 1 << 20))]


def _links(description: str) -> tuple[str | None, list[str]]:
    """The folder link (ending in /) and the file links of a ``files`` description."""
    urls = list(dict.fromkeys(_HREF.findall(html.unescape(html.unescape(description)))))
    folders = [u for u in urls if u.endswith("/")]
    return (folders[0] if folders else None), [u for u in urls if not u.endswith("/")]


def _embargoed(record: dict[str, Any]) -> bool:
    access = record.get("access") if isinstance(record.get("access"), dict) else {}
    embargo = access.get("embargo") if isinstance(access.get("embargo"), dict) else {}
    return access.get("files") == "restricted" or embargo.get("active") is True


def _file_row(key: str, row_key: str, **values: Any) -> dict[str, Any]:
    return {"txid": row_key, "fname": key, "dname": key.rpartition("/")[2], "type": None,
            "subtype": kind_from_name(key), "content": "mirror", **values}


def _entry_rows(entries: Any, row_key: str) -> list[dict[str, Any]]:
    """File rows of a files API listing (``entries`` a list, or the record's inline dict keyed by name)."""
    items = list(entries.values()) if isinstance(entries, dict) else entries if isinstance(entries, list) else []
    rows = []
    for entry in _items(items):
        key = _text(entry.get("key"), 1000)
        if not key:
            continue
        size = entry.get("size")
        checksum = _text(entry.get("checksum"), 200) or ""
        links = entry.get("links") if isinstance(entry.get("links"), dict) else {}
        rows.append(_file_row(key, row_key, fsize=size if isinstance(size, int) and size >= 0 else None,
                              md5=checksum[4:] if checksum.startswith("md5:") else None,
                              url=_text(links.get("content"), 2000)))
    return rows


def record_rows(record: dict[str, Any], base_url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The dataset row and file rows of one InvenioRDM record (files API entries not included).

    Returns:
        ``(dataset, files)``.

    Raises:
        ValueError: the record has no id.
    """
    recid = _text(record.get("id"), 100)
    if not recid:
        raise ValueError("a record without an id")
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    pids = record.get("pids") if isinstance(record.get("pids"), dict) else {}
    doi = pids.get("doi") if isinstance(pids.get("doi"), dict) else {}
    links = record.get("links") if isinstance(record.get("links"), dict) else {}
    technical = _descriptions(metadata, "technical-info")
    values = parse_technical_info(technical[0]) if technical else {}
    folder, file_links = None, []
    for description in _descriptions(metadata, "files"):
        found_folder, found_files = _links(description)
        folder = folder or found_folder
        file_links += found_files
    key = f"caltechdata:{recid}"
    subjects = _subjects(metadata)
    species = subjects.get("species")
    row = {
        "txid": key, "home_id": recid, "tiltid": _tiltid(metadata), "title": _text(metadata.get("title"), 1000),
        "species": species, "species_raw": species, "strain": subjects.get("strain"), "date": _date(metadata),
        "tilt_min": values.get("tilt_min"), "tilt_max": values.get("tilt_max"), "tilt_step": values.get("tilt_step"),
        "tilt_scheme": values.get("tilt_scheme"), "defocus": values.get("defocus"), "dosage": values.get("dosage"),
        "magnification": values.get("magnification"), "microscope": values.get("microscope"),
        "institution": "Caltech", "lab": "Jensen Lab", "notes": _text(metadata.get("description")),
        "publisher": "CaltechDATA", "published": _seconds(metadata.get("publication_date")),
        "doi": _text(doi.get("identifier"), 200), "embargoed": _embargoed(record),
        "provenance": _text(links.get("self"), 2000) or f"{base_url}/api/records/{recid}",
        "mirror_url": folder, "technical_html": technical[0] if technical else None,
    }
    files = [_file_row(urlsplit(u).path.lstrip("/"), key, url=u) for u in file_links]
    return row, files


class CaltechDataSource:
    """The tomography community of CaltechDATA (or any InvenioRDM community) as index rows.

    Args:
        base_url: the repository (``https://data.caltech.edu``; the test instance is data.caltechlibrary.dev).
        community: the community id (None: every record of the repository).
        size: hits per page. window: the repository's result window (10,000 by default in InvenioRDM).
        files_api: also list each record's files through the files API when the record does not inline them.
        concurrency: files API requests at once. timeout: seconds per request.
    """

    home = "caltechdata"

    def __init__(self, base_url: str = DEFAULT_BASE, community: str | None = TOMOGRAPHY_COMMUNITY, *,
                 size: int = 100, window: int = WINDOW, files_api: bool = True, concurrency: int = 4,
                 retry: Retry = DEFAULT_RETRY, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.community = community
        self.size = size
        self.window = window
        self.files_api = files_api
        self.concurrency = concurrency
        self.retry = retry
        self.timeout = timeout
        self.name = f"caltechdata {self.base_url}" + (f" community {community}" if community else "")

    @property
    def search_url(self) -> str:
        """The records endpoint searched (the community's, or the repository's)."""
        if self.community:
            return f"{self.base_url}/api/communities/{self.community}/records"
        return f"{self.base_url}/api/records"

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urlsplit(self.base_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    async def _get(self, session: aiohttp.ClientSession, url: str, params: dict[str, Any] | None) -> Any:
        return await request_json(session, "GET", url, params=params, retry=self.retry, max_depth=96)

    async def _search(self, session: aiohttp.ClientSession, query: str, size: int, page: int = 1) \
            -> tuple[list[Any], int, str | None]:
        params = {"q": query, "size": size, "page": page, "sort": "oldest"}
        body = await self._get(session, self.search_url, params)
        return _hits(body, self.search_url)

    async def _total(self, session: aiohttp.ClientSession, query: str) -> int:
        return (await self._search(session, query, 1))[1]

    async def _harvest_query(self, session: aiohttp.ClientSession, query: str, out: dict[str, Any]) -> None:
        page = 1
        hits, total, following = await self._search(session, query, self.size, page)
        if total > self.window:
            raise SourceError(f"{self.search_url} q={query!r}: {total} hits exceed the {self.window}-hit window")
        seen = 0
        while True:
            seen += len(hits)
            for hit in hits:
                if isinstance(hit, dict) and isinstance(hit.get("id"), str):
                    out.setdefault(hit["id"], hit)
                else:
                    out.setdefault(f"#{len(out)}", hit)
            if not hits or seen >= total:
                return
            page += 1
            if not following:  # no link although hits remain: ask for the page, so the server says why
                hits, _, following = await self._search(session, query, self.size, page)
                continue
            if not self._same_origin(following):
                raise SourceError(f"{self.search_url}: links.next leaves the repository: {following[:200]!r}")
            hits, _, following = _hits(await self._get(session, following, None), following)

    async def _split(self, session: aiohttp.ClientSession, prefix: str, out: dict[str, Any]) -> int:
        """Harvest the records whose tilt id starts with ``prefix``, lengthening it while it has too many hits.

        Returns:
            The number of hits the prefix's queries reported.
        """
        query = f"{ID_FIELD}:{prefix}*"
        total = await self._total(session, query)
        if total <= self.window:
            if total:
                await self._harvest_query(session, query, out)
            return total
        if len(prefix) >= MAX_PREFIX:
            raise SourceError(f"{self.search_url}: {total} records have tilt ids starting {prefix!r}, more than the "
                              f"{self.window}-hit window even at {MAX_PREFIX} characters")
        return sum([await self._split(session, prefix + c, out) for c in PREFIX_CHARS])

    async def _files(self, session: aiohttp.ClientSession, record: dict[str, Any], row_key: str,
                     gate: asyncio.Semaphore) -> list[dict[str, Any]]:
        files = record.get("files") if isinstance(record.get("files"), dict) else {}
        if "entries" in files:
            return _entry_rows(files["entries"], row_key)
        links = record.get("links") if isinstance(record.get("links"), dict) else {}
        url = links.get("files")
        if not (self.files_api and files.get("enabled") and files.get("count") != 0 and isinstance(url, str)):
            return []
        if not self._same_origin(url):
            raise SourceError(f"{self.name}: a files link leaves the repository: {url[:200]!r}")
        async with gate:
            body = await self._get(session, url, None)
        return _entry_rows(body.get("entries") if isinstance(body, dict) else None, row_key)

    async def harvest_rows(self) -> HomeHarvest:
        """Every record of the community: one dataset row each, its file rows, and what could not be read.

        Returns:
            The :class:`HomeHarvest`; a record that is not an object or has no id, and the hits no tilt-id prefix
            reached, are rejections.

        Raises:
            SourceError: naming the URL – the repository failed or refused (a 400 says InvenioRDM's reason, e.g.
                "Invalid pagination parameters"), no answer after the retries, a malformed envelope, a link that
                leaves the repository.
        """
        harvest = HomeHarvest()
        hits: dict[str, Any] = {}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            total = await self._total(session, "")
            if total <= self.window:
                await self._harvest_query(session, "", hits)
            else:
                reached = sum([await self._split(session, c, hits) for c in PREFIX_CHARS])
                if reached < total:
                    harvest.rejected.append(Rejection(self.name, None, f"{total - reached} of {total} records have "
                                                      "no tilt id the prefix split reaches; not harvested"))
            gate = asyncio.Semaphore(self.concurrency)
            jobs = []
            for position, hit in enumerate(hits.values()):
                try:
                    row, files = record_rows(hit, self.base_url) if isinstance(hit, dict) else (None, [])
                except ValueError as exc:
                    row, files = None, []
                    reason = str(exc)
                else:
                    reason = f"a hit that is a {type(hit).__name__}, not an object"
                if row is None:
                    harvest.rejected.append(Rejection(f"{self.name} hit {position}", None, reason))
                    continue
                harvest.datasets.append(row)
                harvest.files += files
                jobs.append(self._files(session, hit, row["txid"], gate))
            for rows in await asyncio.gather(*jobs):
                harvest.files += rows
        return harvest


def _hits(body: Any, url: str) -> tuple[list[Any], int, str | None]:
    """``(hits, total, links.next)`` of a search answer.

    Raises:
        SourceError: the body is not InvenioRDM's ``hits``/``links`` envelope.
    """
    hits = body.get("hits") if isinstance(body, dict) else None
    if not isinstance(hits, dict) or not isinstance(hits.get("hits"), list):
        raise SourceError(f"{url}: the answer has no hits.hits list")
    total = hits.get("total")
    if isinstance(total, dict):  # Elasticsearch 7 style {"value": N, "relation": "eq"}
        total = total.get("value")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise SourceError(f"{url}: hits.total is not a count")
    links = body.get("links") if isinstance(body.get("links"), dict) else {}
    following = links.get("next")
    return hits["hits"], total, following if isinstance(following, str) else None

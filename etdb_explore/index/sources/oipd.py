"""The oipd REST API as an index source: every Research-Tomogram record, by deep paging.

``GET {base}/artifact/search?q=artifact.type:research AND artifact.subtype:tomogram[ AND artifact.floAddress:X]
&limit=1000``, then ``&after=<next>`` with the ``next`` cursor of each page until a page is short or has no cursor.
5xx answers, 429s, connection errors and time-outs are retried as :mod:`~etdb_explore.index.sources.http` does for
every index source; a page is read up to 64 MiB; an ``{"error": …}`` body or a non-JSON body is a SourceError naming
the URL.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from etdb_explore.errors import RecordError, SourceError
from etdb_explore.index.sources.base import Harvest, Rejection
from etdb_explore.index.sources.http import DEFAULT_RETRY, Retry, request_body
from etdb_explore.records.safejson import MAX_DEPTH, array_items, describe, loads

DEFAULT_BASE = "https://api.oip.io/oip"
QUERY = "artifact.type:research AND artifact.subtype:tomogram"
PAGE_DEPTH = 2  # the page object and its results array, around each result


class OipdSource:
    """Records from an oipd instance (default the public OIP API), optionally of one ``publisher`` only.

    Args:
        limit: results per page (at most 1000, oipd's maximum).
        retry: attempts after the first on 5xx and 429 answers, connection errors and time-outs, and the waits.
        timeout: seconds for one page.
    """

    def __init__(self, base_url: str = DEFAULT_BASE, publisher: str | None = None, limit: int = 1000, *,
                 retry: Retry = DEFAULT_RETRY, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.publisher = publisher
        self.limit = min(limit, 1000)
        self.retry = retry
        self.timeout = timeout
        self.name = f"oipd {self.base_url}" + (f" publisher {publisher}" if publisher else "")

    @property
    def query(self) -> str:
        """The oipd search query: Research-Tomogram artifacts (of the publisher, if one is given)."""
        return QUERY + (f" AND artifact.floAddress:{self.publisher}" if self.publisher else "")

    async def _page(self, session: aiohttp.ClientSession, params: dict[str, Any]) -> dict[str, Any]:
        """One page, retried as :func:`~etdb_explore.index.sources.http.request_body` does."""
        url = f"{self.base_url}/artifact/search"
        status, data = await request_body(session, "GET", url, params=params, retry=self.retry)
        body = _parse_page(data.decode("utf-8", "replace"), f"{url}: HTTP {status}")
        if isinstance(body, dict) and "error" in body:
            raise SourceError(f"{url}: oipd error {describe(body['error'])} (HTTP {status})")
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise SourceError(f"{url}: HTTP {status} without a results list")
        return body

    async def harvest(self) -> Harvest:
        """Page through every matching record.

        Returns:
            The :class:`Harvest`: the results that are JSON objects, and a rejection for each one that is not (or
            cannot be parsed within the limits of :mod:`~etdb_explore.records.safejson`).

        Raises:
            SourceError: naming the URL – no answer after the retries, an ``{"error": …}`` body, or a body that is
                not a JSON object with a results list.
        """
        harvest = Harvest()
        params: dict[str, Any] = {"q": self.query, "limit": self.limit}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            page = 1
            while True:
                body = await self._page(session, params)
                for i, item in enumerate(body["results"]):
                    if isinstance(item, dict):
                        harvest.records.append(item)
                    else:
                        reason = str(item) if isinstance(item, RecordError) else \
                            f"result is a {type(item).__name__}, not an object"
                        harvest.rejected.append(Rejection(f"{self.name} page {page} item {i}", None, reason))
                cursor = body.get("next")
                if not cursor or not isinstance(cursor, str) or len(body["results"]) < self.limit:
                    return harvest
                params = {"q": self.query, "limit": self.limit, "after": cursor}
                page += 1


def _parse_page(text: str, what: str) -> Any:
    """A page's JSON, a result that cannot be parsed standing in its list as the RecordError saying why.

    A page that cannot be parsed whole within the limits of :mod:`~etdb_explore.records.safejson` (a result nested
    too deep, a number out of range) is split into its results, each parsed alone.

    Raises:
        SourceError: the body is not a JSON object with a results array.
    """
    try:
        return loads(text, what, MAX_DEPTH + PAGE_DEPTH)
    except RecordError:
        try:
            outer, items = array_items(text, "results")
            body = loads(outer, what)
        except RecordError:
            raise SourceError(f"{what} with a body that is not JSON: {text[:80]!r}") from None
    if isinstance(body, dict):
        body["results"] = [_parse_result(item, f"result {i}") for i, item in enumerate(items)]
    return body


def _parse_result(text: str, what: str) -> Any:
    try:
        return loads(text, what)
    except RecordError as exc:
        return exc

"""The oipd REST API as an index source: every Research-Tomogram record, by deep paging.

``GET {base}/artifact/search?q=artifact.type:research AND artifact.subtype:tomogram[ AND artifact.floAddress:X]
&limit=1000``, then ``&after=<next>`` with the ``next`` cursor of each page until a page is short or has no cursor.
5xx answers, connection errors and time-outs are retried with exponential backoff; an ``{"error": …}`` body or a
non-JSON body is a SourceError naming the URL.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from etdb_explore.errors import SourceError
from etdb_explore.index.sources.base import Harvest, Rejection

DEFAULT_BASE = "https://api.oip.io/oip"
QUERY = "artifact.type:research AND artifact.subtype:tomogram"


class OipdSource:
    """Records from an oipd instance (default the public OIP API)."""

    def __init__(self, base_url: str = DEFAULT_BASE, publisher: str | None = None, limit: int = 1000, *,
                 retries: int = 4, backoff: float = 0.5, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.publisher = publisher
        self.limit = min(limit, 1000)
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.name = f"oipd {self.base_url}" + (f" publisher {publisher}" if publisher else "")

    @property
    def query(self) -> str:
        return QUERY + (f" AND artifact.floAddress:{self.publisher}" if self.publisher else "")

    async def _page(self, session: aiohttp.ClientSession, params: dict[str, Any]) -> dict[str, Any]:
        """One page; 5xx, connection errors and time-outs are retried with exponential backoff."""
        url = f"{self.base_url}/artifact/search"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                async with session.get(url, params=params) as response:
                    status, text = response.status, await response.text()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if status >= 500:
                last = f"HTTP {status}: {text[:120]}"
                continue
            try:
                body = json.loads(text)
            except json.JSONDecodeError:
                raise SourceError(f"{url}: HTTP {status} with a body that is not JSON: {text[:80]!r}") from None
            if isinstance(body, dict) and "error" in body:
                raise SourceError(f"{url}: oipd error {body['error']!r} (HTTP {status})")
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise SourceError(f"{url}: HTTP {status} without a results list")
            return body
        raise SourceError(f"{url}: no answer after {self.retries + 1} attempts ({last})")

    async def harvest(self) -> Harvest:
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
                        harvest.rejected.append(Rejection(f"{self.name} page {page} item {i}", None,
                                                          f"result is a {type(item).__name__}, not an object"))
                cursor = body.get("next")
                if not cursor or len(body["results"]) < self.limit:
                    return harvest
                params = {"q": self.query, "limit": self.limit, "after": cursor}
                page += 1


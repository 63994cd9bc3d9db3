"""The oipd source against a stand-in following oipd's wire format (see oipd_standin)."""

from __future__ import annotations

import pytest
from aiohttp import web

from etdb_explore import Index
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.errors import SourceError
from etdb_explore.index.sources.http import Retry
from etdb_explore.index.sources.oipd import OipdSource

from ..local_server import LocalServer
from .oipd_standin import OipdStandIn

RECORDS = synthetic_records(57, seed=11)


async def test_deep_paging_returns_every_record_once(etdb_record):
    async with OipdStandIn([etdb_record, *RECORDS, "not a record"]) as oipd:
        harvest = await OipdSource(oipd.url, limit=10).harvest()
    txids = [r["meta"]["txid"] for r in harvest.records]
    assert len(txids) == len(set(txids)) == 58
    assert len(oipd.requests) == 6 and "after" in oipd.requests[1]
    assert [r.reason for r in harvest.rejected] == ["result is a str, not an object"]
    index = Index.from_records(harvest.records, "oipd", rejected=harvest.rejected)
    assert len(index) == 58 and len(index.rejected) == 1


async def test_publisher_filter_is_in_the_query(etdb_record):
    async with OipdStandIn([etdb_record, *RECORDS]) as oipd:
        harvest = await OipdSource(oipd.url, publisher="FTSTq8xx8yWUKJA5E3bgXLzZqqG9V6dvnr").harvest()
    assert [r["meta"]["txid"] for r in harvest.records] == [etdb_record["meta"]["txid"]]
    assert oipd.requests[0]["q"].endswith("AND artifact.floAddress:FTSTq8xx8yWUKJA5E3bgXLzZqqG9V6dvnr")


async def test_retries_after_500s():
    async with OipdStandIn(RECORDS, fail_500=2) as oipd:
        harvest = await OipdSource(oipd.url, retry=Retry(backoff=0.01)).harvest()
    assert len(harvest.records) == len(RECORDS) and len(oipd.requests) == 3


async def test_persistent_errors_name_the_url():
    async with OipdStandIn(RECORDS, fail_500=99) as oipd:
        with pytest.raises(SourceError, match=r"artifact/search: no answer after 3 attempts .*unable to execute"):
            await OipdSource(oipd.url, retry=Retry(retries=2, backoff=0.01)).harvest()
    async with OipdStandIn(RECORDS, garbage=True) as oipd:
        with pytest.raises(SourceError, match="not JSON"):
            await OipdSource(oipd.url).harvest()
    async with OipdStandIn(RECORDS) as oipd:
        with pytest.raises(SourceError, match="invalid search request"):
            await _bad_query(oipd.url)


async def _bad_query(url):
    class Wrong(OipdSource):
        @property
        def query(self):
            return "artifact.type:video"

    return await Wrong(url).harvest()


async def test_time_out_is_retried_then_reported():
    async with OipdStandIn(RECORDS, stall=2.0) as oipd:
        with pytest.raises(SourceError, match="TimeoutError"):
            await OipdSource(oipd.url, retry=Retry(retries=1, backoff=0.01), timeout=0.3).harvest()


class _EndlessOipd(LocalServer):
    """An "oipd" whose first answers are 429s, then a page that never ends."""

    def __init__(self) -> None:
        self.requests = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/artifact/search", self._search)

    async def _search(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.requests <= 2:
            return web.Response(status=429, headers={"Retry-After": "0"})
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"results": [' + b" " * (1 << 20))
        try:
            while True:
                await response.write(b" " * (1 << 20))
        except ConnectionError:
            return response


async def test_429_is_retried_and_an_endless_page_is_cut_off():
    async with _EndlessOipd() as oipd:
        with pytest.raises(SourceError, match=r"artifact/search: HTTP 200 with a body over 67108864 bytes"):
            await OipdSource(oipd.url, retry=Retry(retries=3, backoff=0.01)).harvest()
    assert oipd.requests == 3

"""The CZ cryoET Data Portal as an index source: the Jensen-lab runs (datasets 10014–10300), one row per run.

The portal's GraphQL API (``POST {"query", "variables"}`` → ``{"data"}`` or ``{"errors"}``) is queried directly,
with ``limitOffset`` paging (the portal's Python client cannot page): the datasets by ``id: {_in}``, their runs by
``datasetId: {_in}`` ordered by id, then per page of runs their tilt series and tomograms by ``runId: {_in}``.
A run's name is its 3-letter tilt-series id. Rows carry organism and taxid, tilt min/max/step, total flux, pixel
and voxel spacing, microscope and tilting scheme; its files are the portal's HTTPS MRCs and OME-Zarr pyramids,
``content`` "rewritten": new files made from the lab's, never the ETDB's bytes.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from etdb_explore.errors import SourceError
from etdb_explore.index.sources.base import HomeHarvest, Rejection
from etdb_explore.index.sources.http import DEFAULT_RETRY, Retry, request_json
from etdb_explore.records.safejson import describe

DEFAULT_URL = "https://graphql.cryoetdataportal.cziscience.com/graphql"
JENSEN_DATASETS = tuple(range(10014, 10301))

DATASETS = """query($ids: [Int!], $limit: Int, $offset: Int) {
  datasets(where: {id: {_in: $ids}}, orderBy: [{id: asc}], limitOffset: {limit: $limit, offset: $offset}) {
    id title description organismName organismTaxid
  }
}"""
RUNS = """query($ids: [Int!], $limit: Int, $offset: Int) {
  runs(where: {datasetId: {_in: $ids}}, orderBy: [{id: asc}], limitOffset: {limit: $limit, offset: $offset}) {
    id name datasetId
  }
}"""
TILTSERIES = """query($ids: [Int!], $limit: Int, $offset: Int) {
  tiltseries(where: {runId: {_in: $ids}}, orderBy: [{id: asc}], limitOffset: {limit: $limit, offset: $offset}) {
    id runId tiltMin tiltMax tiltStep totalFlux pixelSpacing microscopeManufacturer microscopeModel tiltingScheme
    httpsMrcFile httpsOmezarrDir fileSizeMrc
  }
}"""
TOMOGRAMS = """query($ids: [Int!], $limit: Int, $offset: Int) {
  tomograms(where: {runId: {_in: $ids}}, orderBy: [{id: asc}], limitOffset: {limit: $limit, offset: $offset}) {
    id runId voxelSpacing httpsMrcFile httpsOmezarrDir fileSizeMrc
  }
}"""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any, limit: int = 10_000) -> str | None:
    return value[:limit] if isinstance(value, str) and value.strip() else None


def _file(row_key: str, url: Any, subtype: str, ctype: str, size: Any = None) -> dict[str, Any] | None:
    url = _text(url, 2000)
    if not url:
        return None
    path = url.split("://", 1)[-1].partition("/")[2].rstrip("/")
    size = _number(size)
    return {"txid": row_key, "fname": path, "dname": path.rpartition("/")[2], "type": "tomogram",
            "subtype": subtype, "ctype": ctype, "fsize": int(size) if size is not None else None, "url": url,
            "content": "rewritten"}


class CzPortalSource:
    """Runs of the CZ cryoET Data Portal (by default the Jensen-lab datasets 10014–10300) as index rows.

    Args:
        url: the GraphQL endpoint. datasets: the dataset ids. page: items per ``limitOffset`` page.
        timeout: seconds per request.
    """

    home = "czportal"

    def __init__(self, url: str = DEFAULT_URL, datasets: tuple[int, ...] = JENSEN_DATASETS, *, page: int = 500,
                 retry: Retry = DEFAULT_RETRY, timeout: float = 60.0) -> None:
        self.url = url
        self.datasets = tuple(datasets)
        self.page = page
        self.retry = retry
        self.timeout = timeout
        self.name = f"czportal {url}"

    async def _query(self, session: aiohttp.ClientSession, query: str, field: str, ids: list[int],
                     offset: int) -> list[Any]:
        body = await request_json(session, "POST", self.url, retry=self.retry,
                                  json_body={"query": query, "variables": {"ids": ids, "limit": self.page,
                                                                           "offset": offset}})
        if not isinstance(body, dict):
            raise SourceError(f"{self.url}: the answer is {describe(body)}, not a GraphQL response")
        if body.get("errors"):
            errors = body["errors"]
            first = errors[0] if isinstance(errors, list) and errors else errors
            message = first.get("message") if isinstance(first, dict) else first
            raise SourceError(f"{self.url}: GraphQL error on {field}: {describe(message)}")
        data = body.get("data")
        items = data.get(field) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise SourceError(f"{self.url}: the answer has no data.{field} list")
        return items

    async def _all(self, session: aiohttp.ClientSession, query: str, field: str, ids: list[int]) -> list[dict]:
        """Every item of ``field`` for ``ids``, page by page until a short page."""
        out: list[dict] = []
        offset = 0
        while True:
            items = await self._query(session, query, field, ids, offset)
            out += [item for item in items if isinstance(item, dict)]
            if len(items) < self.page:
                return out
            offset += len(items)

    async def harvest_rows(self) -> HomeHarvest:
        """Every run of the datasets, with its tilt series and tomograms.

        Returns:
            The :class:`HomeHarvest`; a run without an integer id or a name is a rejection.

        Raises:
            SourceError: naming the URL – a GraphQL error, an HTTP error, no answer after the retries, or an answer
                without the data asked for.
        """
        harvest = HomeHarvest()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            datasets = {d.get("id"): d for d in await self._all(session, DATASETS, "datasets", list(self.datasets))}
            runs = await self._all(session, RUNS, "runs", [i for i in datasets if isinstance(i, int)])
            for start in range(0, len(runs), self.page):
                chunk = runs[start:start + self.page]
                ids = [r["id"] for r in chunk if isinstance(r.get("id"), int) and not isinstance(r["id"], bool)]
                tilts = await self._all(session, TILTSERIES, "tiltseries", ids)
                tomos = await self._all(session, TOMOGRAMS, "tomograms", ids)
                self.add_rows(harvest, chunk, datasets, tilts, tomos)
        return harvest

    def add_rows(self, harvest: HomeHarvest, runs: list[dict], datasets: dict[Any, dict], tilts: list[dict],
                 tomos: list[dict]) -> None:
        """Add to ``harvest`` a dataset row per run and the file rows of its tilt series and tomograms, from the
        objects the GraphQL API answers (``datasets`` by id); a run without an integer id or a name is a rejection.
        """
        by_run: dict[Any, tuple[list[dict], list[dict]]] = {}
        for item in tilts:
            by_run.setdefault(item.get("runId"), ([], []))[0].append(item)
        for item in tomos:
            by_run.setdefault(item.get("runId"), ([], []))[1].append(item)
        for run in runs:
            run_id, name = run.get("id"), _text(run.get("name"), 80)
            if not isinstance(run_id, int) or isinstance(run_id, bool) or not name:
                harvest.rejected.append(Rejection(f"{self.name} run {describe(run_id)}", None,
                                                  "a run without an integer id or a name"))
                continue
            dataset = datasets.get(run.get("datasetId")) or {}
            run_tilts, run_tomos = by_run.get(run_id, ([], []))
            tilt = run_tilts[0] if run_tilts else {}
            tomo = run_tomos[0] if run_tomos else {}
            key = f"czportal:{run_id}"
            species = _text(dataset.get("organismName"), 200)
            taxid = dataset.get("organismTaxid")
            scope = " ".join(filter(None, (_text(tilt.get("microscopeManufacturer"), 40),
                                           _text(tilt.get("microscopeModel"), 80)))) or None
            harvest.datasets.append({
                "txid": key, "home_id": str(run_id), "tiltid": name, "title": _text(dataset.get("title"), 1000),
                "species": species, "species_raw": species,
                "ncbi_taxid": taxid if isinstance(taxid, int) and not isinstance(taxid, bool) and taxid > 0 else None,
                "tilt_min": _number(tilt.get("tiltMin")), "tilt_max": _number(tilt.get("tiltMax")),
                "tilt_step": _number(tilt.get("tiltStep")), "total_flux": _number(tilt.get("totalFlux")),
                "pixel_spacing": _number(tilt.get("pixelSpacing")), "voxel_spacing": _number(tomo.get("voxelSpacing")),
                "microscope": scope, "tilting_scheme": _text(tilt.get("tiltingScheme"), 80),
                "notes": _text(dataset.get("description")), "publisher": "CZ cryoET Data Portal",
                "institution": "Caltech", "lab": "Jensen Lab",
                "provenance": f"{self.url}#dataset={run.get('datasetId')}&run={run_id}",
            })
            for item in run_tilts:
                harvest.files += filter(None, (
                    _file(key, item.get("httpsMrcFile"), "tiltseries", "mrc", item.get("fileSizeMrc")),
                    _file(key, item.get("httpsOmezarrDir"), "tiltseries", "ome-zarr")))
            for item in run_tomos:
                harvest.files += filter(None, (
                    _file(key, item.get("httpsMrcFile"), "reconstruction", "mrc", item.get("fileSizeMrc")),
                    _file(key, item.get("httpsOmezarrDir"), "reconstruction", "ome-zarr")))

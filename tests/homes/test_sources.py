"""CaltechDATA and CZ portal index sources against their stand-ins."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from etdb_explore.errors import SourceError
from etdb_explore.index.loading import load_home
from etdb_explore.index.sources.caltechdata import CaltechDataSource
from etdb_explore.index.sources.czportal import CzPortalSource
from etdb_explore.index.sources.http import Retry
from etdb_explore.index.sources.technical import parse_technical_info

from .fixture import COMMUNITY, MESSY_TECHNICAL, TILTID
from .invenio_standin import InvenioStandIn, invenio_record
from .portal_standin import PortalStandIn

FAST = Retry(retries=3, backoff=0.01, max_wait=2.0)


def test_technical_info_is_read_by_label_from_messy_html():
    values = parse_technical_info(MESSY_TECHNICAL)
    assert values == {"tilt_min": -54.0, "tilt_max": 54.0, "tilt_step": 3.0, "dosage": 180.0, "defocus": -10.0,
                      "magnification": 22500.0, "microscope": "Caltech Polara", "tilt_scheme": "single"}


async def test_caltechdata_rows(homes):
    async with InvenioStandIn(homes.caltech("http://127.0.0.1:9"), COMMUNITY) as server:
        idx = await asyncio.to_thread(load_home, CaltechDataSource(server.url, COMMUNITY, size=2, retry=FAST))
    ds = idx.datasets.set_index("tiltid")
    assert len(ds) == 6 and set(ds["source"]) == {"caltechdata"}
    assert ds["signature_valid"].isna().all()
    row = ds.loc[TILTID]
    assert (row["species"], row["strain"], row["doi"]) == ("Sulfolobus solfataricus", "P2", "10.22002/rc4m6-8qj12")
    assert (row["tilt_min"], row["tilt_max"], row["tilt_step"], row["dosage"]) == (-54, 54, 3, 180)
    assert row["microscope"] == "Caltech Polara" and "Tilt Series Settings" in row["technical_html"]
    assert row["date"] == pd.Timestamp("2014-01-14")
    assert row["mirror_url"] == f"https://renc.osn.xsede.org/ini210004tommorrell/tomography_archive/{TILTID}/"
    assert row["provenance"] == f"{server.url}/api/records/rc4m6-8qj12"
    assert ds.loc["gca2021-09-10-347", "embargoed"] and not row["embargoed"]
    assert pd.isna(ds.loc["ycw2012-12-05-10", "notes"])
    files = idx.files[idx.files["txid"] == "caltechdata:rc4m6-8qj12"].set_index("fname")
    assert files.loc["keyimg_rr2014-01-14-5.jpg", "md5"] and files.loc["keyimg_rr2014-01-14-5.jpg", "subtype"] == \
        "keyimg"
    assert files.loc["rawdata/rr2014-01-14-5.rawtlt", "url"].endswith("/content")
    sdsc = idx.files[idx.files["txid"] == "caltechdata:2c61m-8fs76"].iloc[0]
    assert sdsc["url"].startswith("https://sdsc.osn.xsede.org/") and sdsc["subtype"] == "tiltseries"


def _many(n: int, prefixes: str) -> list[dict]:
    return [invenio_record(f"r{i:05d}", f"{prefixes[i % len(prefixes)]}a2010-01-01-{i}", title=f"t{i}")
            for i in range(n)] + [invenio_record("noid-00000", None, title="no tilt id")]


async def test_caltechdata_splits_the_harvest_past_the_window():
    records = _many(60, "abd")
    async with InvenioStandIn(records, COMMUNITY, window=25) as server:
        idx = await asyncio.to_thread(load_home, CaltechDataSource(server.url, COMMUNITY, size=10, window=25, retry=FAST))
        assert any("identifier%3Aa" in r or "identifier:a" in r for r in server.requests)
    assert len(idx.datasets) == 60 and idx.datasets["tiltid"].is_unique
    assert "1 of 61 records have no tilt id" in idx.rejected["reason"].iloc[0]


async def test_caltechdata_pagination_error_is_clear():
    async with InvenioStandIn(_many(30, "a"), COMMUNITY, window=25) as server:
        source = CaltechDataSource(server.url, COMMUNITY, size=10, window=1000, retry=FAST)  # misconfigured window
        with pytest.raises(SourceError, match="Invalid pagination parameters"):
            await asyncio.to_thread(load_home, source)


async def test_caltechdata_backs_off_on_429():
    async with InvenioStandIn(_many(3, "a"), COMMUNITY, throttle=2, retry_after="1") as server:
        idx = await asyncio.to_thread(load_home, CaltechDataSource(server.url, COMMUNITY, retry=FAST))
        assert len(idx.datasets) == 4
    async with InvenioStandIn(_many(3, "a"), COMMUNITY, throttle=10, retry_after="0") as server:
        with pytest.raises(SourceError, match="429"):
            await asyncio.to_thread(load_home, CaltechDataSource(server.url, COMMUNITY, retry=FAST))


async def test_czportal_rows(homes):
    async with PortalStandIn(homes.portal("http://files.invalid"), homes.portal_files) as server:
        idx = await asyncio.to_thread(load_home, CzPortalSource(server.graphql_url, (10112, 10113), page=1, retry=FAST))
        assert all("limitOffset" in q["query"] for q in server.queries)
    ds = idx.datasets.set_index("tiltid")
    assert list(ds.index) == [TILTID, "gca2021-09-10-347"] and ds["signature_valid"].isna().all()
    row = ds.loc[TILTID]
    assert (row["species"], row["ncbi_taxid"], row["total_flux"], row["tilt_step"]) == \
        ("Sulfolobus solfataricus", 273057, 150.0, 3.0)
    assert (row["microscope"], row["tilting_scheme"], row["voxel_spacing"]) == ("FEI Polara", "min to max tilt", 10.0)
    files = idx.files[idx.files["txid"] == "czportal:5001"]
    assert sorted(zip(files["subtype"], files["ctype"])) == [("reconstruction", "mrc"), ("reconstruction", "ome-zarr"),
                                                           ("tiltseries", "mrc")]
    assert set(files["content"]) == {"rewritten"}


async def test_czportal_graphql_errors_name_the_url(homes):
    async with PortalStandIn(homes.portal("http://files.invalid"), homes.portal_files) as server:
        source = CzPortalSource(server.graphql_url, retry=FAST)
        from etdb_explore.index.sources import czportal

        bad = czportal.RUNS.replace("datasetId", "datasetIdentifier", 1)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(czportal, "RUNS", bad)
            with pytest.raises(SourceError, match="GraphQL error on runs"):
                await asyncio.to_thread(load_home, source)

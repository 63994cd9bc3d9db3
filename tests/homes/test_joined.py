"""The joined index of the three homes."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from etdb_explore.index.joined import canon_tiltid, join_homes, loose_key
from etdb_explore.index.loading import load_home
from etdb_explore.index.sources.caltechdata import CaltechDataSource
from etdb_explore.index.sources.czportal import CzPortalSource

from .fixture import COMMUNITY, SID, TILTID
from .invenio_standin import InvenioStandIn
from .portal_standin import PortalStandIn


async def harvest(homes):
    async with InvenioStandIn(homes.caltech("http://127.0.0.1:9"), COMMUNITY) as invenio, \
            PortalStandIn(homes.portal("http://files.invalid"), homes.portal_files) as portal:
        caltech = await asyncio.to_thread(load_home, CaltechDataSource(invenio.url, COMMUNITY))
        cz = await asyncio.to_thread(load_home, CzPortalSource(portal.graphql_url, (10112,)))
    return caltech, cz


def test_ids():
    assert canon_tiltid(" RRA2014-01-14-5 ") == "rra2014-01-14-5"
    assert loose_key("rra2014-01-14-5") == loose_key("rr2014-01-14-5") == "rr2014-01-14-5"
    assert loose_key("not an id") is None


async def test_join_matches_and_flags(homes):
    caltech, cz = await harvest(homes)
    idx = join_homes(homes.etdb, caltech, cz)
    ds = idx.datasets.set_index("canonical_id")
    assert ds.index.is_unique
    row = ds.loc[TILTID]
    assert row["match"] == "letters+date+number" and row["homes"] == "etdb caltechdata czportal"
    assert row["aliases"] == f"{SID}, {TILTID}" and row["source"] == "etdb" and bool(row["signature_valid"])
    assert "dosage: etdb 180 vs czportal total_flux 150" in row["conflicts"]
    assert ds.loc["ycw2012-12-05-10", "match"] == "exact"
    assert ds.loc["lga2007-08-11-14", "match"] == "letters+date+number"
    assert ds.loc["sca2011-03-02-1", "match"].startswith("tie-break (") and "species" in ds.loc["sca2011-03-02-1",
                                                                                                 "match"]
    assert pd.isna(ds.loc["scb2011-03-02-1", "etdb_txid"])
    assert ds.loc["zz2010-01-01-1", "match"] == "etdb only"
    alone = ds.loc["gca2021-09-10-347"]
    assert alone["match"] == "archive only" and alone["homes"] == "caltechdata czportal"
    assert pd.isna(alone["signature_valid"]) and alone["source"] == "caltechdata" and alone["embargoed"]
    assert len(ds) == 7
    files = idx.files[idx.files["txid"] == row["txid"]]
    assert set(files["home"]) == {"etdb", "caltechdata", "czportal"}

    sel = idx.filter(species="Sulfolobus", tilt_range=(-50, 50))
    assert list(sel.datasets["canonical_id"]) == [TILTID]
    where = idx.homes(SID)
    assert list(where["home"]) == ["etdb", "caltechdata", "czportal"]
    assert list(where["content"]) == ["ipfs", "mirror", "rewritten"]
    assert where.iloc[0]["where"] == homes.location and where.iloc[1]["where"].endswith(f"/{TILTID}/")
    assert idx.homes("czportal:5001").equals(where) and idx.homes(row["txid"]).equals(where)
    with pytest.raises(KeyError, match="0 tilt series"):
        idx.homes("nothing")


def test_join_tie_without_evidence_is_ambiguous(homes):
    from etdb_explore.index.homeframe import home_index

    caltech = home_index("caltechdata", [{"txid": f"caltechdata:{i}", "tiltid": t}
                                         for i, t in enumerate(("sca2011-03-02-1", "scb2011-03-02-1"))], [])
    idx = join_homes(homes.etdb, caltech, None)
    row = idx.datasets.set_index("sid").loc["sc2011-03-02-1"]
    assert row["match"] == "ambiguous" and "sca2011-03-02-1, scb2011-03-02-1" in row["conflicts"]
    assert pd.isna(row["caltechdata_key"]) and len(idx.datasets) == 7

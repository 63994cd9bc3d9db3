"""The three homes of one tilt series, built once per session (see fixture.py); servers start per test."""

from __future__ import annotations

import asyncio

import pytest

from etdb_explore.index.joined import join_homes
from etdb_explore.index.loading import load_home
from etdb_explore.index.sources.caltechdata import CaltechDataSource
from etdb_explore.index.sources.czportal import CzPortalSource

from .fixture import COMMUNITY, Homes, build_homes
from .invenio_standin import InvenioStandIn
from .portal_standin import PortalStandIn
from .s3_standin import S3StandIn


@pytest.fixture(scope="session")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Homes:
    return build_homes(tmp_path_factory.mktemp("homes"))


@pytest.fixture
async def stands(homes):
    """The OSN, CaltechDATA and portal stand-ins running; yields (osn, joined index, portal index)."""
    async with S3StandIn(homes.osn_root) as osn, \
            InvenioStandIn(homes.caltech("http://127.0.0.1:9"), COMMUNITY) as invenio, \
            PortalStandIn({}, homes.portal_files) as portal:
        portal.tables = homes.portal(portal.files_url)
        caltech = await asyncio.to_thread(load_home, CaltechDataSource(invenio.url, COMMUNITY))
        cz = await asyncio.to_thread(load_home, CzPortalSource(portal.graphql_url, (10112,)))
        yield osn, join_homes(homes.etdb, caltech, cz), cz

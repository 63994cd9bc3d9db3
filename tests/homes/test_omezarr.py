"""The portal's OME-Zarr pyramids, read lazily over HTTP (zarr + fsspec) from the stand-in's file server."""

from __future__ import annotations

import asyncio

import mrcfile
import numpy as np
import pytest

from etdb_explore.errors import EtdbError
from etdb_explore.index.loading import load_home
from etdb_explore.index.sources.czportal import CzPortalSource
from etdb_explore.volumes.omezarr import open_pyramid

from .fixture import SID
from .portal_standin import PortalStandIn


async def test_pyramid_coarsest_level_first(homes):
    path = next((homes.folder / "lab" / SID).rglob("*_full.rec"))
    with mrcfile.open(path) as mrc:
        full = np.asarray(mrc.data, dtype=np.float32)
    async with PortalStandIn({}, homes.portal_files) as portal:
        portal.tables = homes.portal(portal.files_url)
        cz = await asyncio.to_thread(load_home, CzPortalSource(portal.graphql_url, (10112,)))
        row = cz.datasets[cz.datasets["tiltid"] == "rra2014-01-14-5"].iloc[0]
        pyramid = await asyncio.to_thread(open_pyramid, row)
        assert pyramid.paths == ["0", "1", "2"] and pyramid.scales[2] == (40.0, 40.0, 40.0)
        assert "[rewritten]" in repr(pyramid)
        preview = await asyncio.to_thread(pyramid.preview)
        z = full.shape[0] // 4 // 2
        binned = full.reshape(full.shape[0] // 4, 4, full.shape[1] // 4, 4, full.shape[2] // 4, 4).mean((1, 3, 5))
        assert preview.shape == (full.shape[1] // 4, full.shape[2] // 4)
        assert np.allclose(preview, binned[z], rtol=1e-4)
        level0 = await asyncio.to_thread(lambda: np.asarray(pyramid.level(0)[3]))
        assert np.array_equal(level0, full[3])
        with pytest.raises(EtdbError, match="no level 7"):
            pyramid.level(7)
        with pytest.raises(EtdbError, match="no OME-Zarr multiscales|not a readable"):
            await asyncio.to_thread(open_pyramid, portal.files_url + "/10112")

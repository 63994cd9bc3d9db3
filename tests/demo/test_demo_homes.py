"""The demo's other homes: one demo tilt series on an OSN (S3) endpoint and the portal's file server on 127.0.0.1,
its rows read by the sources' own parsers, every home readable on its own with its label."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest

from etdb_explore.demo.homes import DemoHomes
from etdb_explore.volumes.homes import HOMES
from etdb_explore.volumes.omezarr import open_pyramid
from etdb_explore.volumes.open import open_tiltseries, open_tomogram


def test_one_tilt_series_in_three_homes_each_read_on_its_own(demo, tmp_path):
    with DemoHomes(demo, folder=tmp_path / "homes") as homes:
        idx = homes.joined()
        row = idx.datasets[idx.datasets["canonical_id"] == homes.tiltid.lower()].iloc[0]
        assert row["homes"] == "etdb caltechdata czportal" and row["match"] == "exact"
        assert f"dosage: etdb {homes.row['dosage']:g} vs czportal total_flux" in row["conflicts"]
        assert list(idx.homes(homes.tiltid)["content"]) == ["ipfs", "mirror", "rewritten"]
        assert homes.caltechdata.datasets.iloc[0]["doi"] == "10.22002/demo1-00001"

        vols = {home: open_tomogram(row, homes=[home], reader=homes.reader) for home in HOMES}
        labels = {home: (v.metadata["read_from"]["home"], v.metadata["read_from"]["content"])
                  for home, v in vols.items()}
        assert labels == {"etdb": ("etdb", "ipfs-verified"), "caltechdata": ("caltechdata", "mirror-verified"),
                          "czportal": ("czportal", "rewritten")}
        data = {home: np.asarray(v, dtype=np.float32) for home, v in vols.items()}
        assert np.array_equal(data["etdb"], data["caltechdata"]) and np.array_equal(data["etdb"], data["czportal"])
        assert any(r[0] == "GET" and r[2] for r in homes.osn.requests)  # ranged reads from OSN
        ts = open_tiltseries(row, homes=["czportal"], reader=homes.reader)
        assert ts.metadata["read_from"]["content"] == "rewritten" and len(ts.angles) == ts.shape[0]
        preview = open_pyramid(row).preview()
        assert preview.shape == tuple(s // 4 for s in data["etdb"].shape[1:])
        with pytest.raises(ValueError, match="unknown home 'osn'"):
            open_tomogram(row, homes=["osn"], reader=homes.reader)
        served = homes.osn.url
    with pytest.raises(urllib.error.URLError):  # closed: nothing listens any more
        urllib.request.urlopen(served, timeout=5)

    marker = tmp_path / "homes" / "homes.json"
    built = {p: p.stat().st_mtime_ns for p in (tmp_path / "homes").rglob("*") if p.is_file()}
    DemoHomes(demo, folder=tmp_path / "homes").build()  # built once: nothing is rewritten
    assert {p: p.stat().st_mtime_ns for p in built} == built and marker in built

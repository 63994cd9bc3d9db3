"""Downloads of joined rows: IPFS first, the OSN folder when IPFS cannot give a file (CID recomputed), the portal's
rewritten files for a portal-only index; the labels in the manifest and the report."""

from __future__ import annotations

import asyncio
import csv

from etdb_explore.content.client import Client
from etdb_explore.content.homes import HomeReader
from etdb_explore.datasets.download import download

from .fixture import SID, TILTID
from .s3_standin import dead_url
from .test_content import dag_only_store


def manifest(dest):
    with open(dest / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


async def test_download_from_the_mirror_with_labels(homes, stands, tmp_path):
    osn, idx, cz = stands
    sel = idx.select(idx.datasets["canonical_id"] == TILTID)
    reader = HomeReader([dead_url(), osn.url])
    lab = homes.folder / "lab" / SID
    with Client(store=dag_only_store(homes.store, tmp_path / "dag"), gateways=False) as client:
        report = await asyncio.to_thread(download, sel, None, tmp_path / "verified", client=client, reader=reader,
                                         progress=False)
    assert report.ok and not report.unverified and len(report.fetched) == 5
    rows = manifest(tmp_path / "verified")
    assert {r["content"] for r in rows} == {"mirror-verified"}
    for r in rows:
        fname = r["path"].split("/", 1)[1]
        assert (tmp_path / "verified" / r["path"]).read_bytes() == (lab / fname).read_bytes()

    with Client(store=tmp_path / "empty", gateways=False) as client:
        report = await asyncio.to_thread(download, sel, ["reconstruction"], tmp_path / "unverified", client=client,
                                         reader=reader, progress=False)
    assert report.ok and list(report.unverified.values()) == ["mirror-unverified"]
    assert [r["content"] for r in manifest(tmp_path / "unverified")] == ["mirror-unverified"]

    with Client(store=homes.store, gateways=False) as client:
        report = await asyncio.to_thread(download, sel, ["reconstruction"], tmp_path / "ipfs", client=client,
                                         reader=reader, progress=False)
        assert [r["content"] for r in manifest(tmp_path / "ipfs")] == ["ipfs-verified"]
        report = await asyncio.to_thread(download, cz, None, tmp_path / "portal", client=client, reader=reader,
                                         progress=False)
    rows = manifest(tmp_path / "portal")
    assert report.ok and {r["content"] for r in rows} == {"rewritten"} and len(rows) == 2
    assert all(r["path"].startswith("czportal/5001/") for r in rows) and set(report.unverified.values()) == \
        {"rewritten"}
    await reader.close()

"""Benchmark sets of rows from any home: each file frozen from its best home with its label (verified CID,
mirror-unverified with size/md5, rewritten portal file), re-checked on materialising, named in Croissant."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from etdb_explore.content.client import Client
from etdb_explore.content.homes import HomeReader
from etdb_explore.datasets.benchmark_set import BenchmarkSet, BenchmarkSetError
from etdb_explore.index.loading import load_home
from etdb_explore.index.sources.caltechdata import CaltechDataSource

from .fixture import COMMUNITY, SID, TILTID
from .invenio_standin import InvenioStandIn
from .s3_standin import S3StandIn, dead_url
from .test_content import dag_only_store, expected_tomogram, tampered_osn


def run(fn, *args, **kw):
    return asyncio.to_thread(fn, *args, **kw)


async def test_a_set_of_joined_rows_pins_ipfs_files_and_checks_the_mirror_against_them(homes, stands, tmp_path):
    osn, idx, _ = stands
    sel = idx.select(idx.datasets["canonical_id"] == TILTID)
    reader = HomeReader([dead_url(), osn.url])
    kinds = ["reconstruction", "tiltseries"]
    with Client(store=homes.store, gateways=False) as client:
        bset = await run(BenchmarkSet.freeze, sel, kinds, name="stiv", client=client, reader=reader)
    assert {(f.home, f.content) for f in bset.files} == {("etdb", "ipfs-verified")} and not bset.unverified
    assert all(f.cid and f.mirror.endswith(f"/{TILTID}/") for f in bset.files)
    # IPFS cannot give the bytes: they come from the OSN folder, kept only because their CID is the pinned one
    with Client(store=dag_only_store(homes.store, tmp_path / "dag"), gateways=False) as client:
        async with S3StandIn(tampered_osn(homes, tmp_path / "bad")) as bad:
            bad_reader = HomeReader([bad.url])
            report = await run(bset.materialize, tmp_path / "bad-copy", client=client, reader=bad_reader,
                               progress=False)
            await bad_reader.close()
        assert len(report.failed) == 1 and "the set pins" in next(iter(report.failed.values()))
        report = await run(bset.materialize, tmp_path / "mirror", client=client, reader=reader, progress=False)
        assert report.ok and not report.unverified and len(report.fetched) == 2
        assert await run(bset.verify, tmp_path / "mirror") == {}
    rows = (tmp_path / "mirror" / "manifest.csv").read_text()
    assert rows.count("mirror-verified") == 2
    await reader.close()


async def test_a_set_from_the_mirror_and_the_portal_is_labelled_and_rechecked(homes, stands, tmp_path):
    osn, idx, cz = stands
    sel = idx.select(idx.datasets["canonical_id"] == TILTID)
    dead = dead_url()
    reader = HomeReader([dead, osn.url])
    lab = homes.folder / "lab" / SID
    with Client(store=tmp_path / "empty", gateways=False) as client:
        mirror = await run(BenchmarkSet.freeze, sel, ["reconstruction", "tiltseries"], name="stiv-osn",
                           client=client, reader=reader, checksums=True)
        portal = await run(BenchmarkSet.freeze, cz, name="stiv-portal", client=client, reader=reader)
    assert {(f.home, f.content, f.cid) for f in mirror.files} == {("caltechdata", "mirror-unverified", "")}
    assert all(f.url and f.sha256 for f in mirror.files) and set(mirror.unverified.values()) == {"mirror-unverified"}
    assert {(f.home, f.content) for f in portal.files} == {("czportal", "rewritten")} and len(portal.files) == 2
    assert "2 not content-addressed" in repr(portal) and "not content-addressed" in portal._repr_html_()
    assert mirror.unsigned == {} and list(portal.unsigned) == ["czportal:5001"]
    assert portal.unsigned["czportal:5001"]["details"]["speciesName"] == "Sulfolobus solfataricus"

    mirror.save(tmp_path / "stiv-osn.json")
    again = BenchmarkSet.load(tmp_path / "stiv-osn.json")
    assert again.files == mirror.files

    report = await run(again.materialize, tmp_path / "osn-copy", reader=reader, progress=False)
    assert report.ok and set(report.unverified.values()) == {"mirror-unverified"}
    assert set(report.checked.values()) == {"size, sha256"}
    for f in mirror.files:
        assert (tmp_path / "osn-copy" / f.path).read_bytes() == (lab / f.path.split("/", 2)[2]).read_bytes()
    manifest = (tmp_path / "osn-copy" / "manifest.csv").read_text()
    assert manifest.count("mirror-unverified") == 2
    assert await run(again.verify, tmp_path / "osn-copy") == {}
    rerun = await run(again.materialize, tmp_path / "osn-copy", reader=reader, progress=False)
    assert rerun.ok and len(rerun.skipped) == 2 and not rerun.fetched

    # a mirror whose bytes changed since the set was frozen fails the file, and a changed local copy is caught
    async with S3StandIn(tampered_osn(homes, tmp_path / "bad")) as bad:
        bad_reader = HomeReader([dead, bad.url])  # the frozen URLs are on the first host, which is down
        report = await run(again.materialize, tmp_path / "bad-copy", reader=bad_reader, progress=False)
        await bad_reader.close()
    assert len(report.failed) == 1 and "sha256" in next(iter(report.failed.values()))
    rec = next(f for f in mirror.files if f.subtype == "reconstruction")
    local = tmp_path / "osn-copy" / rec.path
    local.write_bytes(local.read_bytes()[:-1] + b"\0")
    assert "differs from the set's" in (await run(again.verify, tmp_path / "osn-copy"))[rec.path]

    # the portal's rewritten files: materialised, then described by Croissant that mlcroissant validates
    report = await run(portal.materialize, tmp_path / "portal-copy", reader=reader, progress=False)
    assert report.ok and set(report.unverified.values()) == {"rewritten"}
    doc = portal.croissant()
    assert "2 of its 2 files are not content-addressed (rewritten" in doc["description"]
    assert all(d["contentUrl"].startswith("http://127.0.0.1") and "identifier" not in d
               for d in doc["distribution"])
    import mlcroissant as mlc

    path = tmp_path / "croissant.json"
    path.write_text(json.dumps(doc))
    dataset = mlc.Dataset(jsonld=str(path))
    assert not dataset.metadata.ctx.issues.errors
    records = [{k: v.decode() if isinstance(v, bytes) else v for k, v in r.items()}
               for r in dataset.records(record_set="files")]
    assert {r["files/content"] for r in records} == {"rewritten"} and len(records) == 2
    assert {r["files/species"] for r in records} == {"Sulfolobus solfataricus"}

    (meta, vol), = await run(lambda: list(portal.volumes(reader=reader)))
    assert meta["content"] == "rewritten" and vol.metadata["read_from"]["content"] == "rewritten"
    assert np.array_equal(await run(np.asarray, vol), expected_tomogram(homes))
    await reader.close()


async def test_caltechdata_files_keep_their_md5_and_are_checked_against_it(homes, stands, tmp_path):
    osn, _, _ = stands
    reader = HomeReader([osn.url])
    async with InvenioStandIn(homes.caltech(osn.url), COMMUNITY) as invenio:
        caltech = await run(load_home, CaltechDataSource(invenio.url, COMMUNITY))
        sel = caltech.select(caltech.datasets["tiltid"] == TILTID)
        with Client(store=tmp_path / "empty", gateways=False) as client:
            bset = await run(BenchmarkSet.freeze, sel, name="keyimg", client=client, reader=reader, checksums=True)
        by_name = {f.path.rsplit("/", 1)[-1]: f for f in bset.files}
        keyimg = by_name[f"keyimg_{SID}.jpg"]
        assert keyimg.md5 and keyimg.content == "mirror-unverified" and keyimg.home == "caltechdata"
        report = await run(bset.materialize, tmp_path / "copy", reader=reader, progress=False)
        assert report.ok and report.checked[keyimg.path] == "size, md5, sha256"
        data = bset.to_dict()
        data["files"] = [dict(f, md5="0" * 32, sha256="") if f["path"] == keyimg.path else f for f in data["files"]]
        (tmp_path / "wrong-md5.json").write_text(json.dumps(data))
        wrong = BenchmarkSet.load(tmp_path / "wrong-md5.json")
        report = await run(wrong.materialize, tmp_path / "copy2", reader=reader, progress=False)
        assert "md5" in report.failed[keyimg.path]
        assert "md5" in (await run(wrong.verify, tmp_path / "copy"))[keyimg.path]
    data["files"][0] = dict(data["files"][0], url="", cid="")
    (tmp_path / "nowhere.json").write_text(json.dumps(data))
    with pytest.raises(BenchmarkSetError, match="neither a CID nor a URL"):
        BenchmarkSet.load(tmp_path / "nowhere.json")
    await reader.close()

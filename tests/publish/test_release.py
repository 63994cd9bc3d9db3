"""A lab's release: table validation, file typing, dry run, offline signing into the publish log, resuming, reading
the log back as an index source and opening a tomogram from it; edits and deactivations of the lab's own records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import etdb_explore as etdb
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.publish import (
    PublishLog,
    PublishLogBusy,
    PublishLogSource,
    Release,
    ReleaseProblems,
    deactivate,
    edit,
    validate,
)
from etdb_explore.publish.estimate import estimate
from etdb_explore.publish.filetypes import dataset_files, kind_of
from etdb_explore.records import parse_message, parse_part
from etdb_explore.records.kinds import KindError

from .conftest import LAB_KEY


def test_validation_names_each_row_and_field(lab_table):
    bad = lab_table.astype(object)
    bad.loc[0, "species"] = None
    bad.loc[1, "defocus"] = -4.5e-6 * 1e9  # nanometres, not µm
    bad.loc[1, "dosage"] = "lots"
    bad.loc[2, "ncbi_taxid"] = 66.6
    bad.loc[2, "tilt_min"] = 70.0  # above tilt_max
    bad.loc[0, "date"] = "not a date"
    problems = validate(bad)
    got = set(zip(problems["row"], problems["field"]))
    assert got == {(0, "species"), (1, "defocus"), (1, "dosage"), (2, "ncbi_taxid"), (2, "tilt_min"), (0, "date")}
    assert "µm" in problems.set_index("field").loc["defocus", "problem"]
    assert "mandatory" in problems.set_index("field").loc["species", "problem"]
    assert validate(lab_table).empty
    release = Release(bad)
    with pytest.raises(ReleaseProblems) as caught:
        release.dry_run(LAB_KEY)
    assert len(caught.value.problems) == 6 and "row 1: defocus is outside" in str(caught.value)
    assert "6 problems" in release._repr_html_()


def test_column_mapping_and_defaults(lab_table):
    table = lab_table.rename(columns={"species": "Organism", "defocus": "Defocus (um)"}).drop(columns=["lab"])
    with pytest.raises(etdb.EtdbError, match="'Organsm'"):
        Release(table, columns={"Organsm": "species"})
    with pytest.raises(etdb.EtdbError, match="not a Research-Tomogram field"):
        Release(table, columns={"Organism": "organism"})
    release = Release(table, columns={"Organism": "species", "Defocus (um)": "defocus"},
                      defaults={"lab": "Jensen Lab", "tags": "etdb,tomogram"})
    record = release.record(0, "bafyfake", LAB_KEY, timestamp=1700000000)
    assert record.details["speciesName"] == lab_table.loc[0, "species"]
    assert record.details["defocus"] == lab_table.loc[0, "defocus"] and record.details["lab"] == "Jensen Lab"
    assert record.artifact["info"]["tags"] == "etdb,tomogram" and record.verify()
    assert record.details["date"] == int(lab_table.loc[0, "date"].timestamp())


def test_file_kinds_follow_the_etdb_layout(tmp_path):
    for rel in ("rawdata/a.mrc", "rawdata/a.rawtlt", "3dimage_1/a_full.rec", "AutoCaps/x.png", "keyimg_a.jpg",
                "keyimg_a_s.jpg", "keymov_a.mp4", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x" * len(rel))
    assert [kind_of(r) for r in ("rawdata/a.mrc", "rawdata/a.rawtlt", "3dimage_1/a_full.rec", "AutoCaps/x.png",
                                 "keyimg_a.jpg", "keyimg_a_s.jpg", "keymov_a.mp4", "notes.txt")] == [
        "tiltseries", "other", "reconstruction", "snapshot", "keyimg", "thumbnail", "keymov", "other"]
    files = {f["fname"]: f for f in dataset_files(tmp_path, {"notes.txt": "subvolume"})}
    assert files["rawdata/a.mrc"]["subtype"] == "tiltSeries" and files["rawdata/a.mrc"]["fsize"] == 13
    assert files["keyimg_a_s.jpg"]["type"] == "image" and files["notes.txt"]["subtype"] == "subvolume"
    with pytest.raises(KindError, match="group"):
        dataset_files(tmp_path, {"notes.txt": "images"})
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        dataset_files(tmp_path, {"missing.txt": "other"})


def test_dry_run_estimates_without_touching_anything(lab_table, tmp_path):
    release = Release(lab_table)
    plan = release.dry_run(LAB_KEY)
    assert list(plan.records["n_files"]) == [5, 5, 5]
    assert plan.estimate.messages == 3 and plan.estimate.transactions >= 3
    assert "transactions" in str(plan) and plan.estimate.fee > 0
    assert not (tmp_path / "release.sqlite").exists()
    # the estimate counts multipart headers: 3 records of 2,600 bytes need 3 × 4 transactions
    sizes = estimate(["json:" + "x" * 2595] * 3, LAB_KEY.address)
    assert sizes.transactions == 12 and sizes.flodata_bytes > 3 * 2600


def test_offline_release_reads_back_from_the_log_and_opens(lab_table, tmp_path):
    store = LocalStore(tmp_path / "store")
    log = tmp_path / "release.sqlite"
    lab_table.loc[1, "notes"] = "long notes " * 200  # a record that needs several transactions
    release = Release(lab_table)
    status = release.publish(log, LAB_KEY, store=store, offline=True, car_dir=tmp_path / "cars", progress=False)
    assert list(status["state"]) == ["signed"] * 3 and status["txid"].isna().all()
    assert len(list((tmp_path / "cars").glob("*.car"))) == 3
    assert list((store.path / "refs").rglob("*")), "no-copy references"
    with PublishLog(log) as plog:
        parts = plog.parts()
        assert next(p.state for p in parts if p.record == 2) == "signed"
        assert {p.state for p in parts if p.record == 2 and p.part > 0} == {"waiting"}
        assert parse_part(next(p.flodata for p in parts if p.record == 2)).verify()
        assert isinstance(parse_message(plog.messages()[0][3]), etdb.Record)
    # running again changes nothing: same signatures, nothing added twice
    before = PublishLogSource(log)
    again = release.publish(log, LAB_KEY, store=store, offline=True, progress=False)
    assert again.equals(status)
    index = etdb.load_index(before)
    assert len(index) == 3 and index.datasets["signature_valid"].all()
    assert set(index.datasets["publisher"]) == {LAB_KEY.address}
    assert list(index.datasets["species"].astype(str)) == list(lab_table["species"].astype(str))
    row = index.datasets.iloc[0]
    assert row["location"].startswith("bafy")
    with etdb.Client(store=store, gateways=False) as client, etdb.Client(gateways=False) as demo_client:
        vol = etdb.open_tomogram(row, client=client)
        demo_vol = etdb.open_tomogram(lab_table.loc[0, "folder"].rsplit("/", 1)[1] + "/" + next(
            f for f in index.files["fname"] if f.startswith("3dimage_")), client=demo_client)
        assert vol.shape == demo_vol.shape and np.array_equal(np.asarray(vol[20]), np.asarray(demo_vol[20]))


def test_edit_and_deactivate_own_records(lab_table, tmp_path):
    store = LocalStore(tmp_path / "store")
    log = tmp_path / "release.sqlite"
    Release(lab_table.head(2)).publish(log, LAB_KEY, store=store, offline=True, progress=False)
    index = etdb.load_index(PublishLogSource(log))
    first, second = (index.record(t) for t in index.datasets["txid"])
    edit(log, first, LAB_KEY, changes={"details.defocus": -6.25, "info.title": "corrected"}, offline=True,
         timestamp=first.timestamp + 5)
    deactivate(log, second, LAB_KEY, offline=True, timestamp=second.timestamp + 5)
    stranger = etdb.PrivateKey.from_seed("someone else", "testnet")
    with pytest.raises(etdb.RecordError, match="its own records"):
        deactivate(log, first, stranger, offline=True)
    with pytest.raises(etdb.EtdbError, match="offline=True"):
        deactivate(log, first, LAB_KEY)
    after = etdb.load_index(PublishLogSource(log))
    edited = after.datasets.set_index("txid")
    assert edited.loc[first.txid, "title"] == "corrected" and edited.loc[first.txid, "defocus"] == -6.25
    assert edited.loc[second.txid, "deactivated"] and not edited.loc[first.txid, "deactivated"]
    assert after.record(first.txid).verify() and after.rejected.empty
    with PublishLog(log) as plog:
        assert list(plog.records()["kind"]) == ["publish", "publish", "edit", "deactivate"]


def test_one_run_at_a_time(tmp_path):
    with PublishLog(tmp_path / "log.sqlite"), pytest.raises(PublishLogBusy, match="in use by another run"):
        PublishLog(tmp_path / "log.sqlite")
    PublishLog(tmp_path / "log.sqlite").close()


def test_problem_table_shows_missing_folders(lab_table, tmp_path):
    table = lab_table.copy()
    table.loc[2, "folder"] = str(tmp_path / "nowhere")
    table.loc[0, "folder"] = None  # never the table's own folder
    problems = Release(table, root=tmp_path).problems
    assert problems[["row", "field", "problem"]].values.tolist() == [[0, "folder", "is missing (mandatory)"],
                                                                     [2, "folder", "is not a folder"]]
    assert isinstance(problems, pd.DataFrame) and json.dumps(problems.astype(str).to_dict())


async def test_folders_through_a_kubo_daemon(lab_table, tmp_path):
    """With a Kubo daemon configured, folders are added through its RPC API (the Kubo stand-in), CIDv1 raw leaves:
    the location is the CID the importer computes for the folder."""
    import asyncio

    from etdb_explore.ipfs.build.importer import KUBO_CIDV1, add_directory
    from etdb_explore.ipfs.sources.kubo import KuboSource

    from ..ipfs.kubo_standin import KuboStandIn

    daemon_store = LocalStore(tmp_path / "daemon")
    async with KuboStandIn(daemon_store) as daemon:
        kubo = KuboSource(daemon.url)
        try:
            status = await asyncio.to_thread(Release(lab_table.head(2)).publish, tmp_path / "log.sqlite", LAB_KEY,
                                             kubo=kubo, nocopy=False, offline=True, progress=False)
        finally:
            await kubo.close()
    expected = [str(add_directory(folder, KUBO_CIDV1).cid) for folder in lab_table["folder"].head(2)]
    assert list(status["location"]) == expected
    assert all(daemon_store.has_cid_text(location) for location in expected)

"""The DataFrame model, filters, rejected records and snapshots, on real and synthetic signed records."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from etdb_explore import Index, load_index
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.records import flo, parse_record


@pytest.fixture(scope="module")
def raws() -> list[dict]:
    return synthetic_records(600, seed=7)


@pytest.fixture(scope="module")
def index(raws) -> Index:
    return Index.from_records(json.loads(json.dumps(raws)))


def test_real_record_row(etdb_record):
    idx = Index.from_records([etdb_record])
    row = idx.datasets.iloc[0]
    assert row.species == "Sulfolobus solfataricus" and row.species_raw == "Sulfolobus solfataricus "
    assert row.ncbi_taxid == 273057 and row.tilt_scheme == "single" and row.signature_valid
    assert row.date == pd.Timestamp("2014-01-14") and row.defocus == -10 and row.microscope == "Caltech Polara"
    assert row.n_files == 10 and row.total_bytes == sum(f["fsize"] for f in etdb_record["artifact"]["storage"]["files"])
    files = idx.files
    rec = files[files.subtype == "reconstruction"].iloc[0]
    assert rec.ipfs_path == "Qmat8i2pn4WnnMiPQcKsKJZahr1scUbuUyXjgSuCPBcsYY/3dimage_37677/stiv10h3_0004_full.rec"
    assert rec.dname == "stiv10h3_0004_full.rec" and rec.software == "Raptor" and rec.fsize == 623617024
    assert set(files.subtype.cat.categories) >= {"tiltseries", "keyimg", "thumbnail", "snapshot", "keymov"}


def test_typed_columns(index):
    ds = index.datasets
    assert str(ds.species.dtype) == "category" and str(ds.ncbi_taxid.dtype) == "Int64"
    assert str(ds.tilt_min.dtype) == "Float64" and str(ds.date.dtype).startswith("datetime64")
    assert str(index.files.fsize.dtype) == "Int64"
    assert len(index) == 600 and ds.signature_valid.all()
    assert set(index.files.txid) == set(ds.txid)


def _expected(raws, predicate) -> set[str]:
    return {r["meta"]["txid"] for r in raws if predicate(r["artifact"]["details"])}


def test_filters_agree_with_a_plain_python_reading(index, raws):
    sel = index.filter(species="vibrio CHOLERAE", tilt_range=(-60, 60), defocus=(-8, -4),
                       microscope="caltech polara", date=("2010", "2015"))

    def wanted(d):
        year = pd.Timestamp(d["date"], unit="s").year
        return (d["speciesName"].strip().lower() == "vibrio cholerae" and d["tiltMin"] <= -60 and d["tiltMax"] >= 60
                and -8 <= d["defocus"] <= -4 and d["scopeName"] == "Caltech Polara" and 2010 <= year <= 2015)

    assert set(sel.datasets.txid) == _expected(raws, wanted)
    assert len(sel) > 0
    assert set(sel.files.txid) == set(sel.datasets.txid)


def test_species_by_taxid_genus_and_list(index, raws):
    by_taxid = index.filter(species=666)
    assert set(by_taxid.datasets.txid) == _expected(raws, lambda d: d["NCBItaxID"] == 666)
    assert set(index.filter(species="666").datasets.txid) == set(by_taxid.datasets.txid)
    genus = index.filter(species="Vibrio")
    assert set(genus.datasets.txid) == set(by_taxid.datasets.txid)
    both = index.filter(species=["Escherichia coli", 666])
    assert len(both) == len(by_taxid) + len(index.filter(species="Escherichia coli"))


def test_text_scheme_and_open_ranges(index, raws):
    text = index.filter(text="FLAGELLAR motor")
    assert set(text.datasets.txid) == _expected(raws, lambda d: "flagellar motor" in d["artNotes"])
    dual = index.filter(tilt_scheme="dual")
    assert set(dual.datasets.txid) == _expected(raws, lambda d: d["tiltSingleDual"] == 2)
    deep = index.filter(defocus=(None, -12))
    assert set(deep.datasets.txid) == _expected(raws, lambda d: d["defocus"] <= -12)
    assert len(index.filter(defocus=(-4, -8))) == len(index.filter(defocus=(-8, -4)))


def test_masks_combine_into_the_same_selection_as_filter(index, raws):
    vc = index.mask(species="Vibrio cholerae")
    wide = index.mask(tilt_range=(-60, 60))
    assert vc.dtype == bool and vc.shape == (len(index),)
    assert set(index.select(vc & wide).datasets.txid) == set(
        index.filter(species="Vibrio cholerae", tilt_range=(-60, 60)).datasets.txid)
    assert set(index.datasets.txid[vc | wide]) == _expected(
        raws, lambda d: d["speciesName"].strip() == "Vibrio cholerae" or (d["tiltMin"] <= -60 and d["tiltMax"] >= 60))
    assert index.mask().all()
    with pytest.raises(TypeError):
        index.mask(specie="Vibrio cholerae")
    with pytest.raises(TypeError):
        index.filter(specie="Vibrio cholerae")


def test_plain_pandas_keeps_working(index):
    q = index.datasets.query("tilt_max >= 65 and dosage < 100")
    assert len(q) == int(((index.datasets.tilt_max >= 65) & (index.datasets.dosage < 100)).sum())
    sel = index.select(index.datasets.microscope == "Caltech CM300")
    assert (sel.datasets.microscope == "Caltech CM300").all()


def test_one_bad_record_never_sinks_the_load(etdb_record, raws):
    bad_sig = copy.deepcopy(raws[0])
    bad_sig["artifact"]["timestamp"] += 1
    no_title = copy.deepcopy(raws[1])
    del no_title["artifact"]["info"]["title"]
    other_type = copy.deepcopy(raws[2])
    other_type["artifact"]["subtype"] = "video"
    items = [etdb_record, "json:{broken", bad_sig, no_title, other_type, 42, raws[3], {"meta": {"txid": "zz"}}]
    idx = Index.from_records(items, source="mixed")
    assert sorted(idx.datasets.txid) == sorted([etdb_record["meta"]["txid"], raws[3]["meta"]["txid"]])
    reasons = dict(zip(idx.rejected.origin, idx.rejected.reason))
    assert len(idx.rejected) == 6
    assert "malformed JSON" in reasons["mixed item 1"]
    assert "missing mandatory fields: info.title" in reasons["mixed item 3"]
    assert "not a Research-Tomogram" in reasons["mixed item 4"]
    assert "expected a JSON object" in reasons["mixed item 5"]
    assert any("signature does not verify" in r for r in idx.rejected.reason)
    assert bad_sig["meta"]["txid"] in set(idx.rejected.txid)
    unverified = Index.from_records(items, verified_only=False)
    assert len(unverified) == 3 and unverified.datasets.signature_valid.sum() == 2


def test_snapshot_round_trip(index, tmp_path):
    index.to_snapshot(tmp_path / "snap")
    again = Index.from_snapshot(tmp_path / "snap")
    pd.testing.assert_frame_equal(again.datasets, index.datasets)
    pd.testing.assert_frame_equal(again.files, index.files)
    record = again.record(index.datasets.txid[5][:12])
    assert record.verify() and record.txid == index.datasets.txid[5]
    verified = Index.from_snapshot(tmp_path / "snap", verify=True)
    pd.testing.assert_frame_equal(verified.datasets, index.datasets)


def test_tampered_snapshot_is_caught_by_verify(index, tmp_path):
    folder = index.to_snapshot(tmp_path / "snap")
    lines = (folder / "records.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace('"timestamp":', '"timestamp":9', 1)
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n")
    verified = Index.from_snapshot(folder, verify=True)
    assert len(verified) == len(index) - 1 and len(verified.rejected) == 1


def test_summaries(index):
    counts = index.counts("species")
    assert counts.sum() == len(index) and counts.is_monotonic_decreasing
    fig = index.plot_tilt_coverage()
    assert fig.axes[0].get_xlabel() == "tilt angle (°)"
    hist = index.plot_defocus()
    heights = [p.get_height() for p in hist.axes[0].patches]
    assert np.isclose(sum(heights), index.datasets.defocus.notna().sum())


def test_signed_by_publisher_filter(index):
    address = flo.PrivateKey.from_seed("etdb-explore demo ETDB 7", "testnet").address
    assert len(index.filter(publisher=address)) == len(index)
    assert len(index.filter(publisher="FTSTq8xx8yWUKJA5E3bgXLzZqqG9V6dvnr")) == 0


def test_record_lookup(index):
    txid = index.datasets.txid[0]
    assert index.record(txid[:16]) is index.records[txid]
    assert parse_record(index.records[txid].to_flodata()).verify()
    with pytest.raises(KeyError):
        index.record("")


class ListSource:
    """An in-process index source (the IndexSource contract) that counts its harvests."""

    name = "list source"

    def __init__(self, records):
        self.records = records
        self.harvests = 0

    async def harvest(self):
        from etdb_explore.index.sources.base import Harvest, Rejection

        self.harvests += 1
        return Harvest(list(self.records), [Rejection("list source page 1", None, "HTTP 404 on page 1")])


def test_remote_sources_are_cached_until_refresh(raws):
    source = ListSource(raws[:20])
    first = load_index(source)
    assert source.harvests == 1 and len(first) == 20
    assert list(first.rejected.reason) == ["HTTP 404 on page 1"]
    source.records = raws[:25]
    cached = load_index(source)
    assert source.harvests == 1 and len(cached) == 20
    fresh = load_index(source, refresh=True)
    assert source.harvests == 2 and len(fresh) == 25
    assert len(load_index(source)) == 25


def test_rows_and_selections_remember_their_index(index, tmp_path):
    from etdb_explore.index.registry import (
        ATTR,
        index_holding,
        live_indexes,
        tagged_index,
    )

    ds = index.datasets
    first = ds.txid.iloc[0]
    for taken in (ds.iloc[0], ds.loc[0], ds[ds.n_files > 0], ds.query("n_files > 0").iloc[0], ds.head(3),
                  ds.sort_values("date").iloc[0], index.files.iloc[0], ds["txid"]):
        assert tagged_index(taken) is index
    sub = index.filter(species="Vibrio cholerae")
    assert tagged_index(sub.datasets.iloc[0]) is sub and tagged_index(sub.files) is sub
    assert live_indexes()[0] is sub and index_holding(first[:8]) is index and index_holding("zz") is None
    index.to_snapshot(tmp_path / "snap")
    again = Index.from_snapshot(tmp_path / "snap")
    assert tagged_index(again.datasets.iloc[0]) is again and again.datasets.attrs[ATTR] != ds.attrs[ATTR]
    assert b"etdb_index" not in (tmp_path / "snap" / "datasets.parquet").read_bytes()  # no process token on disk
    assert tagged_index(pd.DataFrame({"txid": [first]}).iloc[0]) is None


def test_files_of_speaks_the_one_vocabulary(index):
    from etdb_explore.records.kinds import KindError

    recs = index.files_of("reconstruction")
    assert len(recs) and (recs.subtype == "reconstruction").all()
    assert index.files_of("reconstructions").equals(recs) and index.files_of(["Reconstruction"]).equals(recs)
    assert index.files_of("tilt-series").equals(index.files_of("tiltSeries")) and len(index.files_of("tiltSeries"))
    assert set(index.files_of("images").subtype) <= {"keyimg", "snapshot", "thumbnail"}
    with pytest.raises(KindError, match="'tomograms'.*tiltseries, reconstruction"):
        index.files_of("tomograms")

"""Benchmark sets: provenance that cannot lie, loads that name the file, failures with their reasons, re-runs that
read only the local bytes, and Croissant that the real ``mlcroissant`` validates and reads offline."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest

from etdb_explore.content.client import Client
from etdb_explore.datasets.benchmark_set import BenchmarkSet, BenchmarkSetError, EmptySelectionError
from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.build.importer import Profile
from etdb_explore.ipfs.sources.store import LocalStore
from tests.lab import lab_index

VIBRIO = {"species": "Vibrio cholerae", "tilt_range": (-57, 57)}


def test_freeze_applies_the_filters_it_records(demo, remote):
    bset = BenchmarkSet.freeze(demo, ["reconstructions", "tilt-series"], client=remote, **VIBRIO)
    expected = demo.filter(**VIBRIO)
    assert bset.txids == list(expected.datasets.txid) and bset.txids
    assert bset.filters == {"species": "Vibrio cholerae", "tilt_range": [-57, 57]}
    assert (bset.source, bset.searched) == (demo.source, len(demo))
    assert {f.subtype for f in bset.files} == {"reconstruction", "tiltseries"}
    assert len(bset.files) == 2 * len(expected)
    same = BenchmarkSet.freeze(demo, ["reconstructions", "tilt-series"], filters=dict(VIBRIO), client=remote)
    assert same.files == bset.files and same.filters == bset.filters


def test_filters_that_do_not_describe_the_selection_cannot_be_frozen(demo, remote):
    vibrio = demo.filter(species="Vibrio cholerae")
    with pytest.raises(EmptySelectionError, match="nothing to freeze.*Homo sapiens"):
        BenchmarkSet.freeze(vibrio, filters={"species": "Homo sapiens"}, client=remote)
    with pytest.raises(EmptySelectionError, match="no files of kinds"):
        BenchmarkSet.freeze(demo, ["keymov"], client=remote)  # the demo has no movies
    with pytest.raises(BenchmarkSetError, match="unknown filter 'organism'.*species, tilt_range"):
        BenchmarkSet.freeze(demo, organism="Vibrio cholerae", client=remote)
    with pytest.raises(BenchmarkSetError, match="'species' given twice"):
        BenchmarkSet.freeze(demo, filters={"species": "Vibrio"}, species="Escherichia", client=remote)


def test_load_names_the_file_that_is_not_a_set(demo, remote, tmp_path):
    cases = {"not-json.json": b"\x89PNG\r\n", "list.json": b"[1, 2]", "other.json": b'{"format": "croissant"}',
             "truncated.json": b'{"format": "etdb-explore-benchmark-set/1", "name": "x"'}
    bset = BenchmarkSet.freeze(demo, ["reconstructions"], species="Escherichia coli", client=remote)
    data = bset.to_dict()
    del data["txids"]
    cases["no-txids.json"] = json.dumps(data).encode()
    data = bset.to_dict()
    data["files"][0]["size"] = "big"
    cases["bad-size.json"] = json.dumps(data).encode()
    data = bset.to_dict()
    data["files"][0]["cid"] = "QmNotACid"
    cases["bad-cid.json"] = json.dumps(data).encode()
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(BenchmarkSetError, match=name.replace(".", r"\.")) as caught:
            BenchmarkSet.load(tmp_path / name)
        assert isinstance(caught.value, EtdbError)
    assert BenchmarkSet.load(bset.save(tmp_path / "good.json")).files == bset.files


def test_short_repr_and_html(demo, remote):
    bset = BenchmarkSet.freeze(demo, name="everything", client=remote)
    text = repr(bset)
    assert text.startswith("<BenchmarkSet 'everything': 12 datasets, ") and "no filter" in text
    assert len(text) < 120 and not any(t in text for t in bset.txids)
    page = bset._repr_html_()
    assert "everything" in page and "<table>" in page and "reconstruction" in page
    assert f"and {len(bset.files) - 10} more files" in page
    assert "Vibrio" not in repr(BenchmarkSet.freeze(demo, species="Escherichia coli", client=remote)).split(";")[0]


def test_materialize_reports_the_real_reason_a_file_failed(demo, remote, tmp_path):
    bset = BenchmarkSet.freeze(demo, ["reconstructions"], species="Helicobacter pylori", client=remote)
    offline = Client(tmp_path / "empty-store", False)
    report = bset.materialize(tmp_path / "data", client=offline, progress=False)
    assert set(report.failed) == {f.path for f in bset.files}
    for reason in report.failed.values():
        assert reason != "missing" and "not found" in reason and "local store" in reason


def test_a_no_op_rerun_reads_only_the_local_bytes(demo, remote, tmp_path):
    bset = BenchmarkSet.freeze(demo, ["reconstructions", "keyimg"], species="Caulobacter", client=remote)
    first = bset.materialize(tmp_path / "data", client=remote, progress=False)
    assert first.ok and sorted(first.fetched) == sorted(f.path for f in bset.files)
    for f in bset.files:  # noted from the verified download
        assert f.sha256 == hashlib.sha256((tmp_path / "data" / f.path).read_bytes()).hexdigest()
    offline = Client(tmp_path / "empty-store", False)  # no block anywhere: only the local files can answer
    again = bset.materialize(tmp_path / "data", client=offline, progress=False)
    assert again.ok and sorted(again.skipped) == sorted(f.path for f in bset.files) and again.bytes == 0
    victim = tmp_path / "data" / bset.files[0].path
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 1
    victim.write_bytes(bytes(raw))
    repaired = bset.materialize(tmp_path / "data", client=remote, progress=False)
    assert repaired.fetched == [bset.files[0].path] and bset.verify(tmp_path / "data") == {}


def test_verify_notes_and_checks_sha256(demo, remote, tmp_path):
    bset = BenchmarkSet.freeze(demo, ["thumbnail"], species="Escherichia coli", client=remote)
    assert bset.materialize(tmp_path / "data", client=remote, progress=False).ok
    fresh = BenchmarkSet.load(bset.save(tmp_path / "set.json"))
    fresh.files = [type(f)(f.txid, f.path, f.cid, f.size, f.subtype) for f in fresh.files]  # no sha256 known
    assert fresh.verify(tmp_path / "data") == {} and [f.sha256 for f in fresh.files] == [f.sha256 for f in bset.files]
    data = bset.to_dict()
    data["files"][0]["sha256"] = "0" * 64
    (tmp_path / "tampered.json").write_text(json.dumps(data))
    problems = BenchmarkSet.load(tmp_path / "tampered.json").verify(tmp_path / "data")
    assert "differs from the set's" in problems[bset.files[0].path]
    (tmp_path / "data" / bset.files[0].path).unlink()
    assert bset.verify(tmp_path / "data") == {bset.files[0].path: "missing"}


def test_croissant_validates_and_reads_offline_under_mlcroissant(demo, remote, tmp_path):
    import mlcroissant as mlc  # a dev dependency: the real validator and reader
    bset = BenchmarkSet.freeze(demo, ["reconstructions", "tilt-series", "images"], name="vc-motors",
                               license="https://creativecommons.org/licenses/by/4.0/", checksums=True,
                               client=remote, species=["Vibrio cholerae", "Escherichia coli"])
    doc = bset.croissant()
    path = tmp_path / "croissant.json"
    path.write_text(json.dumps(doc))
    dataset = mlc.Dataset(jsonld=str(path))  # raises ValidationError on any error
    assert not dataset.metadata.ctx.issues.errors
    assert dataset.metadata.license == ["https://creativecommons.org/licenses/by/4.0/"]
    assert doc["url"] == f"ipfs://{bset.cid}" and doc["@context"]["@language"] == "en"
    records = list(dataset.records(record_set="files"))
    assert len(records) == len(bset.files)
    by_path = {r["files/path"].decode() if isinstance(r["files/path"], bytes) else r["files/path"]: r
               for r in records}
    for f in bset.files:
        record = by_path[f.path]
        text = {k: v.decode() if isinstance(v, bytes) else v for k, v in record.items()}
        assert (text["files/cid"], text["files/sha256"], text["files/size"]) == (f.cid, f.sha256, f.size)
        assert text["files/species"] == bset.records[f.txid]["details"]["speciesName"].strip()
    by_id = {d["@id"]: d for d in doc["distribution"]}
    assert all(by_id[f.path]["sha256"] == f.sha256 and by_id[f.path]["identifier"] == f"ipfs://{f.cid}"
               for f in bset.files)
    other = bset.croissant("http://127.0.0.1:8080/ipfs/", url="https://lab.example/sets/vc", license="CC0-1.0")
    assert other["license"] == "CC0-1.0" and other["url"] == "https://lab.example/sets/vc"
    assert other["distribution"][0]["contentUrl"].startswith("http://127.0.0.1:8080/ipfs/Qm")


def test_croissant_needs_every_sha256(demo, remote):
    bset = BenchmarkSet.freeze(demo, ["reconstructions"], species="Escherichia coli", client=remote)
    with pytest.raises(BenchmarkSetError, match="no sha256 yet for 1 files"):
        bset.croissant()
    assert "license" not in BenchmarkSet.freeze(demo, ["thumbnail"], species="Escherichia coli", client=remote,
                                                checksums=True).croissant()


def test_a_manifest_cut_short_by_a_kill_is_read_and_rewritten(demo, remote, tmp_path):
    from etdb_explore.datasets.download import read_manifest

    bset = BenchmarkSet.freeze(demo, ["thumbnail"], species=["Escherichia coli", "Vibrio cholerae"], client=remote)
    assert bset.materialize(tmp_path / "data", client=remote, progress=False).ok
    manifest = tmp_path / "data" / "manifest.csv"
    whole = manifest.read_text()
    manifest.write_text(whole[: whole.rindex(",")])  # the last row stops before its sha256, as a kill mid-append
    assert len(read_manifest(tmp_path / "data")) == len(bset.files) - 1
    assert bset.materialize(tmp_path / "data", client=remote, progress=False).ok
    assert manifest.read_text() == whole


MIB_CHUNKS = Profile(raw_leaves=True, chunk_size=1 << 20)  # ipfs add --chunker=size-1048576 --raw-leaves


def _volume(ds, folder):
    """A 1.5 MiB reconstruction of random bytes."""
    (folder / "3dimage").mkdir(parents=True)
    (folder / "3dimage" / f"{ds.sid}.rec").write_bytes(np.random.default_rng(ds.seed).bytes(3 << 19))
    return [{"fname": f"3dimage/{ds.sid}.rec", "fsize": 3 << 19, "type": "tomogram", "subtype": "reconstruction"}]


def test_verify_after_materialize_checks_each_file_by_its_proven_sha256(remote, tmp_path, tmp_path_factory):
    """Files added with 1 MiB chunks, which neither Kubo's default profiles nor go-etdb's rebuild from the bytes:
    once materialize has checked their bytes against the CIDs, verify checks each file by the sha256 of those bytes,
    in one pass, and still finds a byte changed on disk."""
    store = LocalStore(tmp_path_factory.getbasetemp() / "data" / "etdb-explore" / "store")  # what gateway serves
    lab = lab_index(store, tmp_path / "lab", _volume, count=2, profile=MIB_CHUNKS)
    bset = BenchmarkSet.freeze(lab, client=remote)
    assert all(f.cid.startswith("Qm") for f in bset.files) and len(bset.files) == 2
    assert bset.materialize(tmp_path / "data", client=remote, progress=False).ok
    assert bset.verify(tmp_path / "data", workers=2) == {}
    victim = bset.files[1]
    raw = bytearray((tmp_path / "data" / victim.path).read_bytes())
    raw[len(raw) // 2] ^= 1  # same size, one bit
    (tmp_path / "data" / victim.path).write_bytes(bytes(raw))
    assert bset.verify(tmp_path / "data") == {victim.path: f"content does not match CID {victim.cid}"}
    forged = BenchmarkSet.load(bset.save(tmp_path / "set.json"))  # sha256s read from a file prove nothing
    forged.files = [replace(f, sha256=hashlib.sha256(bytes(raw)).hexdigest()) if f.path == victim.path else f
                    for f in forged.files]
    assert victim.path in forged.verify(tmp_path / "data")

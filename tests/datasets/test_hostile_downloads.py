"""Downloads against hostile input: tampered files on disk, planted symlinks, colliding names, lying DAGs."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest

from etdb_explore.content.client import Client
from etdb_explore.datasets.download import download, read_manifest
from etdb_explore.ipfs.formats import dagpb, unixfs
from etdb_explore.ipfs.formats.cid import CID, DAG_PB, RAW
from etdb_explore.ipfs.sources.store import LocalStore

LEAF = 262144


@pytest.fixture
def local(demo, tmp_path_factory) -> Client:
    """A client over the session store holding the demo ETDB (no network)."""
    return Client(tmp_path_factory.getbasetemp() / "data" / "etdb-explore" / "store", False)


def _one_reconstruction(demo):
    selection = demo.filter(species="Vibrio cholerae")
    return selection, selection.files[selection.files.subtype == "reconstruction"]


def test_tampered_part_is_checked_against_the_cid_and_refetched(demo, local, tmp_path):
    selection, _ = _one_reconstruction(demo)
    dest = tmp_path / "dl"
    assert download(selection, ["reconstructions"], dest, client=local, progress=False).ok
    rel = sorted(read_manifest(dest))[0]
    good = (dest / rel).read_bytes()
    (dest / rel).unlink()
    tampered = bytearray(good[: 3 * LEAF + 1000])  # three whole leaves and a bit; a byte flipped in leaf 1
    tampered[LEAF + 17] ^= 0xFF
    (dest / (rel + ".part")).write_bytes(bytes(tampered))
    again = download(selection, ["reconstructions"], dest, client=local, progress=False)
    assert again.ok and again.fetched == [rel]
    assert (dest / rel).read_bytes() == good
    assert again.bytes == len(good) - LEAF  # leaf 0 kept, everything from the changed leaf fetched again


def test_tampered_finished_file_is_not_skipped(demo, local, tmp_path):
    """The manifest is on the same disk as the data: a file changed together with its manifest row is caught too."""
    selection, _ = _one_reconstruction(demo)
    dest = tmp_path / "dl"
    download(selection, ["reconstructions"], dest, client=local, progress=False)
    rel = sorted(read_manifest(dest))[0]
    good = (dest / rel).read_bytes()
    changed = bytearray(good)
    changed[-5] ^= 1
    (dest / rel).write_bytes(bytes(changed))
    manifest = (dest / "manifest.csv").read_text()
    (dest / "manifest.csv").write_text(manifest.replace(hashlib.sha256(good).hexdigest(),
                                                        hashlib.sha256(changed).hexdigest()))
    again = download(selection, ["reconstructions"], dest, client=local, progress=False)
    assert again.ok and again.fetched == [rel] and (dest / rel).read_bytes() == good
    assert len(again.skipped) == len(read_manifest(dest)) - 1


def test_planted_part_symlink_never_writes_outside_dest(demo, local, tmp_path):
    selection, recs = _one_reconstruction(demo)
    dest = tmp_path / "dl"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    row = recs.iloc[0]
    location = selection.datasets.set_index("txid").loc[row["txid"], "location"]
    part = dest / location / (row["fname"] + ".part")
    part.parent.mkdir(parents=True)
    part.symlink_to(victim)
    report = download(selection, ["reconstructions"], dest, client=local, progress=False)
    assert victim.read_bytes() == b"precious"
    assert "symbolic link" in report.failed[f"{location}/{row['fname']}"]
    assert len(report.fetched) == len(recs) - 1  # the others still arrive


def test_same_path_twice_is_fetched_once_with_the_right_size(demo, remote, tmp_path):
    selection, recs = _one_reconstruction(demo)
    selection.files.loc[len(selection.files) + 1000] = recs.iloc[0]  # a second record naming the same file
    report = download(selection, ["reconstructions"], tmp_path / "dl", client=remote, progress=False)
    assert report.ok and len(report.fetched) == len(recs)
    for rel, row in read_manifest(tmp_path / "dl").items():
        assert (tmp_path / "dl" / rel).stat().st_size == int(row["size"])


def test_names_equal_after_unicode_normalisation_are_refused_up_front(demo, local, tmp_path):
    selection, recs = _one_reconstruction(demo)
    first, second = recs.index[:2]
    same = selection.datasets.location.iloc[0]
    selection.datasets.loc[selection.datasets.txid.isin(recs.loc[[first, second], "txid"]), "location"] = same
    selection.files.loc[first, "fname"] = unicodedata.normalize("NFC", "é.rec")
    selection.files.loc[second, "fname"] = unicodedata.normalize("NFD", "é.rec")
    report = download(selection, ["reconstructions"], tmp_path / "dl", client=local, progress=False)
    collided = [reason for reason in report.failed.values() if "name collision" in reason]
    assert len(collided) == 2 and len(report.fetched) == len(recs) - 2
    assert not list((tmp_path / "dl").rglob("*.rec.part"))


def _lying_file(store: LocalStore) -> CID:
    """A directory holding ``lie.bin``: a file node whose blocksizes say 2×50 bytes over two 75-byte raw leaves."""
    leaves = [bytes([i]) * 75 for i in (1, 2)]
    links = []
    for leaf in leaves:
        cid = CID.for_block(leaf, RAW, 1)
        store.put(cid, leaf)
        links.append(dagpb.Link(cid, "", len(leaf)))
    root = dagpb.PBNode(tuple(links), unixfs.UnixFSData(unixfs.FILE, None, 100, (50, 50)).encode()).encode()
    root_cid = CID.for_block(root, DAG_PB, 1)
    store.put(root_cid, root)
    folder = dagpb.PBNode((dagpb.Link(root_cid, "lie.bin", len(root) + 150),),
                          unixfs.UnixFSData(unixfs.DIRECTORY).encode()).encode()
    folder_cid = CID.for_block(folder, DAG_PB, 1)
    store.put(folder_cid, folder)
    return folder_cid


def test_lying_blocksizes_fail_the_file_not_the_download(demo, tmp_path):
    store = LocalStore(tmp_path / "store")
    folder = _lying_file(store)
    selection, recs = _one_reconstruction(demo)
    victim = recs.index[0]
    selection.datasets.loc[selection.datasets.txid == recs.loc[victim, "txid"], "location"] = str(folder)
    selection.files.loc[selection.files.txid == recs.loc[victim, "txid"], "fname"] = "lie.bin"
    selection.files.loc[victim, "fsize"] = 100
    client = Client(store, False, sources=[store, LocalStore()])  # the demo's files are in the default store
    report = download(selection, ["reconstructions"], tmp_path / "dl", client=client, progress=False)
    reason = report.failed[f"{folder}/lie.bin"]
    assert "holds 75 bytes" in reason and "says 50" in reason
    assert not (tmp_path / "dl" / str(folder) / "lie.bin").exists()
    assert len(report.fetched) == len(recs) - 1


def test_report_survives_a_disk_that_refuses_metadata(demo, local, tmp_path):
    selection, recs = _one_reconstruction(demo)
    dest = tmp_path / "dl"
    (dest / "metadata.json").mkdir(parents=True)  # writing it fails with an OSError, as on a full disk
    report = download(selection, ["reconstructions"], dest, client=local, progress=False)
    assert len(report.fetched) == len(recs) and "could not write metadata.json" in report.failed["metadata.json"]

"""Tomograms, tilt-series, downloads, benchmark sets and fsspec on the demo ETDB, served over real HTTP."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time

import fsspec
import mrcfile
import numpy as np
import pytest

from etdb_explore.content.client import Client
from etdb_explore.datasets.benchmark_set import BenchmarkSet
from etdb_explore.datasets.download import download, read_manifest
from etdb_explore.errors import UnsafePathError
from etdb_explore.index.index import Index
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util import bridge
from etdb_explore.volumes.open import open_tiltseries, open_tomogram

from ..ipfs.lying_gateway import LyingGateway
from ..lab import lab_index
from ..subprocesses import finish, start_python


def test_open_tomogram_reads_header_then_only_needed_slices(demo, demo_shape, remote):
    row = demo.datasets.iloc[2]
    vol = open_tomogram(row, index=demo, client=remote)
    assert vol.shape == demo_shape and vol.voxel_size == pytest.approx((12.0, 12.0, 12.0))
    assert vol.metadata["species"] == row["species"] and "WBP" in " ".join(vol.labels)
    gateway_bytes = remote.source.sources[1].bytes_received
    assert gateway_bytes < 300_000 < vol.source.size  # the header: root node and the first leaves, not the file
    middle = vol[demo_shape[0] // 2]
    assert middle.shape == demo_shape[1:] and middle.std() > 0
    path = demo.files[(demo.files.txid == row["txid"]) & (demo.files.subtype == "reconstruction")].ipfs_path.iloc[0]
    with mrcfile.open(_materialize(remote, path)) as ref:
        np.testing.assert_array_equal(np.asarray(vol), ref.data)
        np.testing.assert_array_equal(vol[10:20:3, 40:90, ::7], ref.data[10:20:3, 40:90, ::7])


def test_opening_a_remote_tomogram_costs_one_round_trip(demo, gateway, tmp_path):
    """Path resolution, the file's root and its header arrive in one CAR; a section then needs one more request."""
    proxy = LyingGateway(gateway, "honest")
    bridge.run(proxy.__aenter__())
    try:
        client = Client(tmp_path / "empty-store", [proxy.url])
        row = demo.datasets.iloc[3]
        path = demo.files[(demo.files.txid == row["txid"]) & (demo.files.subtype == "reconstruction")].ipfs_path
        vol = open_tomogram("/ipfs/" + path.iloc[0], client=client)
        vol.readahead = 0
        assert proxy.requests == 1
        assert vol[:2].std() > 0 and proxy.requests == 1  # the first sections came with the header
        vol[vol.shape[0] // 2]
        assert proxy.requests == 2
    finally:
        bridge.run(proxy.__aexit__(None, None, None))


def _materialize(client, path):
    import tempfile

    target = os.path.join(tempfile.mkdtemp(), "copy.mrc")
    with open(target, "wb") as fh:
        fh.write(client.read(path))
    return target


def test_tiltseries_angles_from_rawtlt_and_by_txid(demo, demo_shape, remote):
    row = demo.datasets.iloc[5]
    ts = open_tiltseries(row["txid"][:12], index=demo, client=remote)
    expected = np.arange(row.tilt_min, row.tilt_max + row.tilt_step / 2, row.tilt_step)
    np.testing.assert_allclose(ts.angles, expected)
    assert ts.angle_source.endswith(".rawtlt") and ts.shape[0] == len(expected)
    assert ts.index_of(0.4) == int(np.argmin(np.abs(expected - 0.4)))
    assert ts.at_angle(0).shape == demo_shape[1:]


def test_open_by_ipfs_path_and_bad_txid(demo, demo_shape, remote):
    path = demo.files[demo.files.subtype == "reconstruction"].ipfs_path.iloc[0]
    assert open_tomogram("/ipfs/" + path, client=remote).shape == demo_shape
    with pytest.raises(Exception, match="0 datasets match"):
        open_tomogram("ffffffffff", index=demo, client=remote)


def test_download_progress_goes_to_a_tqdm_class_given(demo, remote, tmp_path):
    """``progress=`` a tqdm subclass: the download's byte and file bars are of that class (a widget's own)."""
    from tqdm.std import tqdm

    bars = []

    class Recorded(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, file=open(os.devnull, "w"))  # noqa: SIM115 - closed in close()
            bars.append(self)

        def close(self):
            super().close()
            self.fp.close()

    selection = demo.filter(species="Vibrio cholerae")
    report = download(selection, "images", tmp_path / "dl", client=remote, progress=Recorded)
    assert report.ok and len(report.fetched) == 2 * len(selection)
    by_desc = {bar.desc: bar for bar in bars}
    assert set(by_desc) == {"bytes", "files"} and len(bars) == 2
    assert by_desc["files"].n == by_desc["files"].total == len(report.fetched)
    assert by_desc["bytes"].n == by_desc["bytes"].total == report.planned_bytes == report.bytes


def test_download_is_verified_resumable_and_atomic(demo, remote, tmp_path):
    selection = demo.filter(species=["Vibrio cholerae", "Escherichia coli"])
    dest = tmp_path / "dl"
    dry = download(selection, dest=dest, client=remote, dry_run=True, progress=False)
    assert dry.planned_bytes == int(selection.files.fsize.sum()) and not dest.exists()
    assert sum(n for n, _ in dry.planned.values()) == len(selection.files)
    assert sum(b for _, b in dry.planned.values()) == dry.planned_bytes and "reconstruction" in dry.planned
    first = download(selection, ["reconstructions", "images"], dest, client=remote, progress=False)
    assert first.ok and len(first.fetched) == len(selection) * 3
    manifest = read_manifest(dest)
    some = sorted(manifest)[0]
    # simulate a kill: one finished file lost its tail and is back to a .part, one file is gone
    full = dest / some
    data = full.read_bytes()
    full.unlink()
    (dest / (some + ".part")).write_bytes(data[: len(data) // 2])
    second = download(selection, ["reconstructions", "images"], dest, client=remote, progress=False)
    assert second.ok and second.fetched == [some] and len(second.skipped) == len(first.fetched) - 1
    # the .part is checked leaf by leaf against the CID: only the partly written leaf is fetched again
    leaf = 262144
    assert second.bytes == len(data) - len(data) // 2 // leaf * leaf and full.read_bytes() == data
    assert not list(dest.rglob("*.part"))
    meta = json.loads((dest / "metadata.json").read_text())
    assert {m["txid"] for m in meta} == set(selection.datasets.txid)
    for rel, row in manifest.items():
        assert (dest / rel).stat().st_size == int(row["size"])


def test_download_refuses_hostile_names(demo, remote, tmp_path):
    evil = demo.filter(species="Vibrio cholerae")
    first_rec = evil.files.index[evil.files.subtype == "reconstruction"][0]
    evil.files.loc[first_rec, "fname"] = "../../outside.mrc"
    report = download(evil, ["reconstructions"], tmp_path / "dl", client=remote, progress=False)
    hostile = [k for k in report.failed if "outside" in k]
    assert len(hostile) == 1 and "'..' segment" in report.failed[hostile[0]]
    assert len(report.fetched) == len(evil) - 1  # the other files still arrive
    assert not (tmp_path / "outside.mrc").exists() and not (tmp_path / "dl" / ".." / "outside.mrc").exists()
    with pytest.raises(UnsafePathError):
        from etdb_explore.datasets.safepaths import safe_join

        safe_join(tmp_path, "../x")


def _random_tiltseries(ds, folder, size=3 << 20):
    """One tilt-series of ``size`` random bytes: several leaves, streamed over several writes."""
    (folder / "rawdata").mkdir(parents=True)
    (folder / "rawdata" / f"{ds.sid}.mrc").write_bytes(np.random.default_rng(ds.seed).bytes(size))
    return [{"fname": f"rawdata/{ds.sid}.mrc", "fsize": size, "type": "tomogram", "subtype": "tiltSeries"}]


def test_download_cli_kill_and_resume(gateway, tmp_path, tmp_path_factory):
    """A real kill (SIGKILL) mid-download, then a re-run that fetches only what is missing and resumes the .part."""
    store = LocalStore(tmp_path_factory.getbasetemp() / "data" / "etdb-explore" / "store")  # what gateway serves
    lab = lab_index(store, tmp_path / "lab", _random_tiltseries, count=3)
    lab.to_snapshot(tmp_path / "lab-index")
    proxy = LyingGateway(gateway, "slow")
    bridge.run(proxy.__aenter__())
    try:
        slow = proxy.url
        args = [sys.executable, "-m", "etdb_explore", "download", "--source", str(tmp_path / "lab-index"), "--dest",
                str(tmp_path / "dl"), "--store", str(tmp_path / "s"), "--gateway", slow, "--workers", "1",
                "--no-progress", "--kinds", "tilt-series"]
        victim = subprocess.Popen(args)
        deadline = time.monotonic() + 120
        parts: list = []
        while time.monotonic() < deadline and victim.poll() is None:  # kill once a file is done and one half-done
            parts = [p for p in (tmp_path / "dl").rglob("*.part") if _size(p) > 0]
            if parts and read_manifest(tmp_path / "dl"):
                break
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        parts = [p for p in (tmp_path / "dl").rglob("*.part") if _size(p) > 0]  # as the kill left them
        before = read_manifest(tmp_path / "dl")
        done_before, done_bytes = len(before), sum(int(r["size"]) for r in before.values())
        total = len(lab)
        assert len(parts) == 1 and 1 <= done_before < total, "the kill did not land mid-download"
        part_bytes = parts[0].stat().st_size
        again = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert report["skipped"] == done_before and report["fetched"] == total - done_before
        leaf = 262144  # the .part was resumed from its last whole leaf, checked against the CID
        assert report["bytes"] == report["planned_bytes"] - done_bytes - part_bytes // leaf * leaf
        assert len(read_manifest(tmp_path / "dl")) == total and not list((tmp_path / "dl").rglob("*.part"))
    finally:
        bridge.run(proxy.__aexit__(None, None, None))


INTERRUPTED = """
import json, sys, time
from pathlib import Path
from etdb_explore import Client, download, load_index

index, dest, store, gateway = sys.argv[1:]

def parts():
    return {p.name: p.stat().st_size for p in Path(dest).rglob("*.part")}

with Client(store, [gateway]) as client:
    try:
        download(load_index(Path(index)), "tiltseries", dest, workers=1, client=client, progress=False)
    except KeyboardInterrupt:
        at_interrupt = parts()
        time.sleep(1)  # a download going on in the background would grow (or finish) its .part meanwhile
        print(json.dumps([at_interrupt, parts()]), flush=True)
"""


def test_ctrl_c_stops_a_download_and_the_next_run_resumes_it(gateway, tmp_path, tmp_path_factory):
    """SIGINT to a real process downloading from a slow gateway on 127.0.0.1: the download stops at once (nothing
    goes on in the background), its .part stays, and the CLI then resumes it and exits without unclosed sessions."""
    store = LocalStore(tmp_path_factory.getbasetemp() / "data" / "etdb-explore" / "store")  # what gateway serves
    # 12 MiB take the slow gateway about 3 s: a busy machine cannot finish the file between seeing its .part and the
    # interrupt, which would leave no .part to check
    lab = lab_index(store, tmp_path / "lab", functools.partial(_random_tiltseries, size=12 << 20), count=2, seed=7)
    lab.to_snapshot(tmp_path / "lab-index")
    proxy = LyingGateway(gateway, "slow")
    bridge.run(proxy.__aenter__())
    try:
        dest = tmp_path / "dl"
        victim = start_python(INTERRUPTED, tmp_path / "lab-index", dest, tmp_path / "s", proxy.url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(_size(p) for p in dest.rglob("*.part")):
            time.sleep(0.02)
        victim.send_signal(signal.SIGINT)
        code, out, err = finish(victim, 30)
        assert code == 0 and err == "", err
        at_interrupt, a_second_later = json.loads(out)
        assert at_interrupt and a_second_later == at_interrupt
        done = sum(int(row["size"]) for row in read_manifest(dest).values())
        again = subprocess.run([sys.executable, "-m", "etdb_explore", "download", "--source", str(tmp_path / "lab-index"),
                                "--dest", str(dest), "--store", str(tmp_path / "s"), "--gateway", gateway, "--json",
                                "--kinds", "tilt-series"], capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "Unclosed" not in again.stderr, again.stderr
        report = json.loads(again.stdout)
        leaf = 262144  # each .part resumed from its last whole leaf
        parts = sum(size // leaf * leaf for size in at_interrupt.values())
        assert report["bytes"] == report["planned_bytes"] - done - parts and not list(dest.rglob("*.part"))
    finally:
        bridge.run(proxy.__aexit__(None, None, None))


def _size(path) -> int:
    """A file's size, 0 when it is gone (a .part renamed as it completes)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_benchmark_set_round_trip(demo, remote, tmp_path):
    selection = demo.filter(species="Helicobacter pylori")
    bset = BenchmarkSet.freeze(selection, ["reconstructions"], name="hp", filters={"species": "Helicobacter pylori"},
                               client=remote)
    again = BenchmarkSet.load(bset.save(tmp_path / "hp.json"))
    assert again.files == bset.files and again.txids == list(selection.datasets.txid)
    report = again.materialize(tmp_path / "a", client=remote, progress=False)
    assert report.ok and again.verify(tmp_path / "a") == {}
    other = Client(tmp_path / "other-store", [remote.config.gateways[0]])
    assert again.materialize(tmp_path / "b", client=other, progress=False).ok
    for f in again.files:  # bit-identical copies
        assert (tmp_path / "a" / f.path).read_bytes() == (tmp_path / "b" / f.path).read_bytes()
    victim = tmp_path / "a" / again.files[0].path
    raw = bytearray(victim.read_bytes())
    raw[5000] ^= 1
    victim.write_bytes(bytes(raw))
    assert "does not match CID" in again.verify(tmp_path / "a")[again.files[0].path]
    means = again.map(lambda meta, vol: (meta["speciesName"], float(vol[20].mean())), "reconstructions",
                      client=remote)
    assert len(means) == len(selection) and all(m[0] == "Helicobacter pylori" for m in means)
    crate = again.croissant()
    assert crate["@type"] == "sc:Dataset" and len(crate["distribution"]) == len(again.files)
    assert all(d["identifier"].startswith("ipfs://Qm") for d in crate["distribution"])


def test_benchmark_set_map_on_dask(demo, demo_shape, remote):
    distributed = pytest.importorskip("distributed")
    bset = BenchmarkSet.freeze(demo.filter(species="Escherichia coli"), ["reconstructions"], client=remote)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0") as dask:
        shapes = bset.map(lambda meta, vol: (meta["txid"], vol.shape), dask_client=dask, client=remote)
        with pytest.raises(TypeError, match="dask_client="):
            bset.map(lambda meta, vol: None, client=dask)  # client= is always the content Client
    assert sorted(t for t, _ in shapes) == sorted(f.txid for f in bset.files)
    assert all(s == demo_shape for _, s in shapes)


def test_fsspec_reads_by_path(demo, demo_shape, remote):
    path = demo.files[demo.files.subtype == "reconstruction"].ipfs_path.iloc[3]
    fs = fsspec.filesystem("etdb", client=remote)
    info = fs.info(path)
    assert info["type"] == "file" and info["CID"].startswith("Qm")
    assert path.split("/")[1] in [p.split("/")[-1] for p in fs.ls(path.split("/")[0], detail=False)]
    nz, ny, nx = demo_shape
    with fs.open(path) as fh:
        header = mrcfile.mrcinterpreter.MrcInterpreter(fh, permissive=True, header_only=True).header
        assert (int(header.nx), int(header.nz)) == (nx, nz)
        fh.seek(1024 + ny * nx * 2 * (nz // 2))
        middle = np.frombuffer(fh.read(ny * nx * 2), dtype=np.int16)
    np.testing.assert_array_equal(middle.reshape(ny, nx), open_tomogram("/ipfs/" + path, client=remote)[nz // 2])
    with pytest.raises(FileNotFoundError):
        fs.info(path.split("/")[0] + "/nope.mrc")


def test_snapshot_index_helpers(demo):
    assert isinstance(demo, Index) and len(demo.files_of("reconstruction")) == len(demo)

"""Reading a joined row's files from the best home: verified IPFS, the OSN mirror (fail-over, sizes, CIDs
recomputed), the portal's rewritten MRCs; the choice visible."""

from __future__ import annotations

import asyncio
import shutil

import mrcfile
import numpy as np
import pytest

from etdb_explore.content.client import Client
from etdb_explore.content.homes import HomeReader
from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.formats.cid import RAW
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.volumes.open import open_tiltseries, open_tomogram

from .fixture import ARCHIVE, BUCKET, SID, TILTID
from .s3_standin import S3StandIn, dead_url


def dag_only_store(full: LocalStore, folder) -> LocalStore:
    """The ETDB DAG without its leaves: directories and file nodes resolve, no data block can be read."""
    store = LocalStore(folder)
    for cid in full.iter_cids():
        if cid.codec != RAW:
            store.put(cid, full.get_sync(cid))
    return store


def tampered_osn(homes, folder):
    """A copy of the OSN folder whose tomogram has its last byte changed."""
    shutil.copytree(homes.osn_root, folder)
    rec = next(folder.rglob("*_full.rec"))
    data = bytearray(rec.read_bytes())
    data[-1] ^= 0xFF
    rec.write_bytes(bytes(data))
    return folder


def expected_tomogram(homes) -> np.ndarray:
    path = next((homes.folder / "lab" / SID).rglob("*_full.rec"))
    with mrcfile.open(path) as mrc:
        return np.asarray(mrc.data)


def opened(what, row, **kw):
    return asyncio.to_thread(what, row, **kw)


async def test_verified_ipfs_first(homes, stands):
    osn, idx, _ = stands
    with Client(store=homes.store, gateways=False) as client:
        reader = HomeReader([dead_url(), osn.url])
        vol = await opened(open_tomogram, idx.datasets[idx.datasets["canonical_id"] == TILTID].iloc[0],
                           client=client, reader=reader)
        assert vol.metadata["read_from"]["home"] == "etdb" and vol.metadata["read_from"]["content"] == "ipfs-verified"
        assert "[ipfs-verified]" in repr(vol) and not osn.requests
        await reader.close()


async def test_mirror_verified_when_the_dag_gives_its_cid(homes, stands, tmp_path):
    osn, idx, _ = stands
    dead = dead_url()
    reader = HomeReader([dead, osn.url])
    with Client(store=dag_only_store(homes.store, tmp_path / "dag"), gateways=False) as client:
        row = idx.datasets[idx.datasets["canonical_id"] == TILTID].iloc[0]
        vol = await opened(open_tomogram, row, client=client, reader=reader)
        read_from = vol.metadata["read_from"]
        assert (read_from["home"], read_from["content"]) == ("caltechdata", "mirror-verified"), read_from
        assert read_from["where"].startswith(f"{dead}/{BUCKET}/{ARCHIVE}/{TILTID}/3dimage_")
        assert "etdb" in read_from["passed_over"][0] and "[mirror-verified]" in repr(vol)
        data = await asyncio.to_thread(np.asarray, vol)
        assert np.array_equal(data, expected_tomogram(homes))
        assert any(r[0] == "LIST" for r in osn.requests) and any(r[2] for r in osn.requests if r[0] == "GET")
        ts = await opened(open_tiltseries, row, client=client, reader=reader)
        assert ts.metadata["read_from"]["content"] == "mirror-verified" and len(ts.angles) == ts.shape[0]
    await reader.close()


async def test_mirror_unverified_without_a_dag_and_when_bytes_differ(homes, stands, tmp_path):
    osn, idx, _ = stands
    reader = HomeReader([osn.url])
    row = idx.datasets[idx.datasets["canonical_id"] == TILTID].iloc[0]
    with Client(store=tmp_path / "empty", gateways=False) as client:
        vol = await opened(open_tomogram, row, client=client, reader=reader)
        assert vol.metadata["read_from"]["content"] == "mirror-unverified"
        assert vol.metadata["read_from"]["check"] == "no ETDB CID to check against"
    async with S3StandIn(tampered_osn(homes, tmp_path / "osn")) as bad:
        bad_reader = HomeReader([bad.url])
        with Client(store=dag_only_store(homes.store, tmp_path / "dag"), gateways=False) as client:
            vol = await opened(open_tomogram, row, client=client, reader=bad_reader)
        assert vol.metadata["read_from"]["content"] == "mirror-unverified"
        assert vol.metadata["read_from"]["check"].startswith("CID differs from the ETDB DAG's")
        await bad_reader.close()
    await reader.close()


async def test_portal_when_ipfs_and_osn_fail(homes, stands, tmp_path):
    _, idx, _ = stands
    reader = HomeReader([dead_url()])
    row = idx.datasets[idx.datasets["canonical_id"] == TILTID].iloc[0]
    with Client(store=tmp_path / "empty", gateways=False) as client:
        vol = await opened(open_tomogram, row, client=client, reader=reader)
        assert vol.metadata["read_from"]["content"] == "rewritten" and "[rewritten]" in repr(vol)
        assert len(vol.metadata["read_from"]["passed_over"]) == 2
        assert np.array_equal(await asyncio.to_thread(np.asarray, vol), expected_tomogram(homes))
        vol = await opened(open_tomogram, "czportal:5001", client=client, reader=reader)
        assert vol.metadata["read_from"]["home"] == "czportal"
        with pytest.raises(EtdbError, match="no home can give a reconstruction"):
            await opened(open_tomogram, "czportal:5002", client=client, reader=reader)
    await reader.close()


async def test_large_mirror_files_are_checked_leaf_by_leaf_as_they_are_read(homes, stands, tmp_path):
    """A file larger than verify_bytes whose DAG nodes can be fetched: ranged reads from OSN, each leaf they touch
    checked against the DAG (no whole-file read first), so they are labelled verified; a changed leaf is an error."""
    from etdb_explore.errors import VerificationError
    from etdb_explore.util import bridge
    from etdb_explore.volumes.homes import choose_file
    from etdb_explore.volumes.volume import Volume

    osn, idx, _ = stands
    row = idx.datasets[idx.datasets["canonical_id"] == TILTID].iloc[0]
    files = idx.files[idx.files["txid"] == row["txid"]]
    suffixes = (".rec", ".mrc", ".map")
    with Client(store=dag_only_store(homes.store, tmp_path / "dag"), gateways=False) as client:
        reader = HomeReader([osn.url])
        source, read_from = await asyncio.to_thread(bridge.run, choose_file(
            row, files, "reconstruction", suffixes, client, reader, verify_bytes=0))
        assert read_from["content"] == "mirror-verified" and "leaf by leaf" in read_from["check"]
        vol = await asyncio.to_thread(Volume.open, source)
        assert np.array_equal(await asyncio.to_thread(np.asarray, vol), expected_tomogram(homes))
        gets = [r for r in osn.requests if r[0] == "GET" and "_full.rec" in r[1]]
        assert gets and all(r[2] for r in gets)  # ranged reads only
        await reader.close()

        async with S3StandIn(tampered_osn(homes, tmp_path / "osn")) as bad:
            bad_reader = HomeReader([bad.url])
            source, read_from = await asyncio.to_thread(bridge.run, choose_file(
                row, files, "reconstruction", suffixes, client, bad_reader, verify_bytes=0))
            vol = await asyncio.to_thread(Volume.open, source)
            assert await asyncio.to_thread(lambda: vol[0]) is not None  # the first sections are intact
            with pytest.raises(VerificationError, match="do not hash to leaf"):
                await asyncio.to_thread(lambda: vol[vol.shape[0] - 1])
            await bad_reader.close()

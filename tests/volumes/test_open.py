"""Opening tomograms and tilt-series by IPFS path in any spelling, and rows of any Index from that Index."""

from __future__ import annotations

import gc
import json

import numpy as np
import pytest

from etdb_explore.content.client import Client
from etdb_explore.demo.build import make_dataset
from etdb_explore.demo.phantom import PhantomSpec
from etdb_explore.errors import EtdbError
from etdb_explore.index.index import Index
from etdb_explore.ipfs.build.importer import KUBO_CIDV1, add_directory
from etdb_explore.ipfs.formats.paths import IpfsPathError
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.volumes.open import open_tiltseries, open_tomogram

from ..lab import lab_index
from .test_volume import write_mrc


@pytest.fixture
def stored_volume(tmp_path):
    """A CIDv1 folder with ``tomo 1.rec`` (and its bare-CID file) in an offline local store."""
    data = np.random.default_rng(3).integers(-500, 500, size=(6, 20, 24), dtype=np.int16)
    (tmp_path / "src").mkdir()
    write_mrc(tmp_path / "src" / "tomo 1.rec", data)
    store = LocalStore(tmp_path / "store")
    root = add_directory(tmp_path / "src", KUBO_CIDV1, store).cid
    file_cid = Client(store, gateways=False).stat(f"{root}/tomo 1.rec").cid
    return str(root), str(file_cid), data, Client(store, gateways=False)


def test_open_by_any_path_spelling(stored_volume):
    root, file_cid, data, client = stored_volume
    for path in (f"{root}/tomo 1.rec", f"ipfs://{root}/tomo%201.rec", f"https://{root}.ipfs.dweb.link/tomo%201.rec",
                 f"http://127.0.0.1:8080/ipfs/{root}/tomo%201.rec", file_cid, f"etdb://{file_cid}"):
        np.testing.assert_array_equal(open_tomogram(path, client=client)[2], data[2])
    ts = open_tiltseries(f"ipfs://{root}/tomo%201.rec", client=client)
    assert ts.shape == data.shape and ts.angle_source == "unknown"


def test_a_string_neither_txid_nor_path_is_named(stored_volume):
    *_, client = stored_volume
    with pytest.raises(IpfsPathError, match="'not a txid/x' is neither a txid"):
        open_tomogram("not a txid/x", client=client)


TINY = PhantomSpec(shape=(12, 40, 40), ribosomes=10, filaments=1, gold=3)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A lab's own two-dataset ETDB (not the demo) in an offline store, with a data dir where no demo exists."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store = LocalStore(tmp_path / "store")
    index = lab_index(store, tmp_path / "lab", lambda ds, folder: make_dataset(ds, folder, TINY))
    yield index, Client(store, gateways=False)
    assert not (tmp_path / "data" / "etdb-explore").exists() or not any(
        p.name.startswith("demo") for p in (tmp_path / "data" / "etdb-explore").iterdir()), "the demo was loaded"


def _reconstruction_cid(index, client, txid):
    files = index.files[(index.files.txid == txid) & (index.files.subtype == "reconstruction")]
    return client.stat(files.ipfs_path.iloc[0]).cid


def test_rows_of_any_index_open_from_that_index(lab):
    index, client = lab
    ds = index.datasets
    second = ds.txid.iloc[1]
    rows = [ds.iloc[1], ds.loc[1], ds[ds.txid == second].iloc[0], ds.query("txid == @second").iloc[0],
            next(ds.iloc[1:].iterrows())[1], index.filter(species=ds.species.iloc[1]).datasets.iloc[0]]
    for row in rows:
        vol = open_tomogram(row, client=client)
        assert vol.source.cid == _reconstruction_cid(index, client, second) and vol.metadata["txid"] == second
        assert vol.shape == TINY.shape
    ts = open_tiltseries(second[:10], client=client)  # a txid prefix: found among the live indexes
    assert ts.angle_source.endswith(".rawtlt") and ts.metadata["txid"] == second


def test_a_txid_no_live_index_holds_is_named(lab):
    index, client = lab
    with pytest.raises(EtdbError, match=r"'abcdef0123'.*index="):
        open_tomogram("abcdef0123", client=client)
    record = json.loads(index.record(index.datasets.txid.iloc[0]).to_json())
    known = Index.from_records([{"artifact": record, "meta": {"txid": index.datasets.txid.iloc[0]}}]).datasets.iloc[0]
    unknown = Index.from_records([{"artifact": record, "meta": {"txid": "fe" * 32}}]).datasets.iloc[0]
    gc.collect()  # both rows' own Index objects are gone
    assert open_tomogram(known, client=client).metadata["txid"] == known["txid"]  # the lab index holds its txid
    with pytest.raises(EtdbError, match=rf"'{'fe' * 32}'.*index="):
        open_tomogram(unknown, client=client)

"""Opening tomograms and tilt-series by IPFS path in any spelling, from a local store."""

from __future__ import annotations

import numpy as np
import pytest

from etdb_explore.content.client import Client
from etdb_explore.ipfs.build.importer import KUBO_CIDV1, add_directory
from etdb_explore.ipfs.formats.paths import IpfsPathError
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.volumes.open import open_tiltseries, open_tomogram

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

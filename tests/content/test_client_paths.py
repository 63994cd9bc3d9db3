"""The content client, fsspec and the Kubo path read every spelling of an IPFS path the one parser accepts."""

from __future__ import annotations

import fsspec
import pytest

from etdb_explore.content.client import Client
from etdb_explore.ipfs.build.importer import KUBO_CIDV1, add_directory
from etdb_explore.ipfs.formats.paths import IpfsPathError
from etdb_explore.ipfs.sources.store import LocalStore

DATA = bytes(range(256)) * 40


@pytest.fixture
def folder_client(tmp_path):
    """A CIDv1 folder holding ``raw data/a b#1.mrc`` in an offline local store, and a client on it."""
    (tmp_path / "src" / "raw data").mkdir(parents=True)
    (tmp_path / "src" / "raw data" / "a b#1.mrc").write_bytes(DATA)
    store = LocalStore(tmp_path / "store")
    root = add_directory(tmp_path / "src", KUBO_CIDV1, store).cid
    return str(root), Client(store, gateways=False)


def spellings(cid: str) -> list[str]:
    return [f"{cid}/raw data/a b#1.mrc", f"/ipfs/{cid}/raw data/a b#1.mrc", f"etdb://{cid}/raw data/a b#1.mrc",
            f"ipfs://{cid}/raw%20data/a%20b%231.mrc", f"https://ipfs.io/ipfs/{cid}/raw%20data/a%20b%231.mrc?x=1",
            f"http://{cid}.ipfs.localhost:8080/raw%20data/a%20b%231.mrc"]


def test_client_reads_every_spelling(folder_client):
    cid, client = folder_client
    for path in spellings(cid):
        assert client.read(path, 100, 300) == DATA[100:300], path
        assert client.stat(path).size == len(DATA), path
    assert [e.name for e in client.listdir(f"ipfs://{cid}/raw%20data")] == ["a b#1.mrc"]
    with pytest.raises(IpfsPathError, match="ipns://"):
        client.read(f"ipns://{cid}/x")


def test_fsspec_reads_every_spelling(folder_client):
    cid, client = folder_client
    fs = fsspec.filesystem("etdb", client=client)
    for path in spellings(cid):
        assert fs.cat_file(path, 5, 25) == DATA[5:25], path
        assert fs._strip_protocol(path) == f"{cid}/raw data/a b#1.mrc"
    assert fs._strip_protocol(fs._strip_protocol(f"ipfs://{cid}/a%2520b")) == f"{cid}/a%20b"  # decoded once only
    assert fs.ls(f"etdb://{cid}", detail=False) == [f"{cid}/raw data"]
    with fsspec.open(f"etdb://{cid}/raw data/a b#1.mrc", client=client) as fh:  # fsspec's own URL handling
        assert fh.read() == DATA

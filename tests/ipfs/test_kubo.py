"""The Kubo RPC source through aioipfs, against a stand-in that follows Kubo's RPC wire format (see kubo_standin)."""

from __future__ import annotations

import pytest

from etdb_explore.errors import BlockNotFoundError, VerificationError
from etdb_explore.ipfs.build.importer import KUBO_CIDV1, KUBO_DEFAULT, add_bytes, add_file
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import parse_ipfs_path
from etdb_explore.ipfs.sources.kubo import KuboSource, api_url, discover_api
from etdb_explore.ipfs.sources.store import LocalStore

from .conftest import check_conformance_reads, import_conformance, kubo_content
from .kubo_standin import KuboStandIn

pytest.importorskip("aioipfs")

DATA = kubo_content("kubo", 3 * 262144 + 99)


@pytest.fixture
async def kubo(tmp_path):
    store = LocalStore(tmp_path / "kubo-store")
    async with KuboStandIn(store) as node:
        source = KuboSource(node.url)
        yield node, source
        await source.close()


async def test_blocks_cat_and_export(kubo, conformance_store):
    node, source = kubo
    cid = add_bytes(DATA, KUBO_DEFAULT, node.store).cid
    assert await UnixFSReader(source).read(cid, 1000, 600_000) == DATA[1000:600_000]
    where = parse_ipfs_path(f"ipfs://{cid}")  # any spelling the path parser accepts, read through Kubo
    assert await UnixFSReader(source).read(where.cid, 5, 15, path=where.path) == DATA[5:15]
    blocks = await source.dag_export(cid)
    assert blocks[0][0] == cid and len(blocks) == 5
    assert "block/get" in node.calls and "dag/export" in node.calls


async def test_add_and_pin(kubo, tmp_path):
    node, source = kubo
    folder = tmp_path / "dataset"
    (folder / "rawdata").mkdir(parents=True)
    (folder / "rawdata" / "ts.mrc").write_bytes(DATA)
    (folder / "keyimg.jpg").write_bytes(b"\xff\xd8jpeg")
    root = await source.add(folder)
    await source.pin(root)
    assert str(root) in node.pins
    assert await UnixFSReader(source).read(root, path="rawdata/ts.mrc") == DATA
    single = folder / "rawdata" / "ts.mrc"  # one file, with options sent as the RPC's own query parameters
    assert await source.add(single, cid_version=1, raw_leaves=True) == add_file(single, KUBO_CIDV1).cid


async def test_missing_and_corrupt_blocks(kubo):
    node, source = kubo
    with pytest.raises(BlockNotFoundError, match="could not find"):
        await source.get(CID.for_block(b"absent"))
    cid = add_bytes(b"hello world\n", KUBO_DEFAULT, node.store).cid
    node.store._file("blocks", cid).write_bytes(b"\x0a\x02\x08\x02")  # the daemon's datastore went bad
    with pytest.raises(VerificationError, match=str(cid)):
        await source.get(cid)


def test_api_discovery(monkeypatch, tmp_path):
    monkeypatch.delenv("IPFS_API", raising=False)
    monkeypatch.setenv("IPFS_PATH", str(tmp_path))
    assert discover_api() == "/ip4/127.0.0.1/tcp/5001"
    (tmp_path / "api").write_text("/ip4/127.0.0.1/tcp/45005\n")
    assert api_url(discover_api()) == "http://127.0.0.1:45005"
    monkeypatch.setenv("IPFS_API", "http://127.0.0.1:5999")
    assert api_url(discover_api()) == "http://127.0.0.1:5999"
    assert api_url("/ip6/::1/tcp/5001") == "http://[::1]:5001"
    with pytest.raises(Exception, match="cannot use"):
        api_url("/unix/tmp/sock")


async def test_every_conformance_file_and_many_ranges(kubo, conformance):
    """The conformance DAGs in the node's store, every file read back through KuboSource."""
    node, source = kubo
    await check_conformance_reads(UnixFSReader(source), import_conformance(node.store, conformance), conformance)

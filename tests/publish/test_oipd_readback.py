"""Read back through an oipd: publish → the FLO chain (flod stand-in) → an oipd indexing it (oipd stand-in) →
OipdSource → Index → signatures and every file's content CID verified → open_tomogram, on the demo's datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import etdb_explore as etdb
from etdb_explore.index.sources.flod import FlodRpc
from etdb_explore.index.sources.oipd import OipdSource
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.publish import Release, deactivate, edit

from ..index.flod_standin import FlodStandIn
from ..index.oipd_standin import OipdStandIn
from .conftest import LAB_KEY, read_back
from .test_broadcast import _in_thread


async def test_publish_then_read_back_through_oipd(lab_table, tmp_path):
    store = LocalStore(tmp_path / "store")
    lab_table.loc[1, "notes"] = "a long note " * 250  # three transactions
    async with FlodStandIn(automine=True) as node, OipdStandIn(chain=node) as oipd:
        rpc = FlodRpc(node.url, "rpc", "secret")
        status = await _in_thread(Release(lab_table).publish, tmp_path / "release.sqlite", LAB_KEY, store=store,
                                  node=rpc, progress=False)
        node.add_block(["json:not an oip message", "unrelated floData"])
        harvest = await OipdSource(oipd.url, publisher=LAB_KEY.address).harvest()
        assert oipd.requests[0]["q"].endswith(f"artifact.floAddress:{LAB_KEY.address}")
        index = read_back(harvest, status, "lab through oipd", long_note_at=1)
        with etdb.Client(store=store, gateways=False) as client:
            for _, row in index.datasets.iterrows():
                record = index.record(row["txid"])
                folder = Path(lab_table.loc[list(status["txid"]).index(row["txid"]), "folder"])
                for f in record.files:  # every byte read back through its CID, equal to the lab's file
                    data = client.read(f"{record.location}/{f['fname']}")
                    assert len(data) == f["fsize"] and data == (folder / f["fname"]).read_bytes()
                vol = etdb.open_tomogram(row, client=client)
                assert vol.shape == (40, 96, 96) and np.asarray(vol[vol.shape[0] // 2]).std() > 0
        # the lab edits one record and deactivates another; oipd serves the result
        await _in_thread(edit, tmp_path / "release.sqlite", index.record(status["txid"][0]), LAB_KEY,
                         changes={"info.title": "edited on chain"}, node=rpc)
        await _in_thread(deactivate, tmp_path / "release.sqlite", index.record(status["txid"][2]), LAB_KEY,
                         node=rpc)
        after = etdb.Index.from_records((await OipdSource(oipd.url).harvest()).records, "oipd after")
        assert sorted(after.datasets["txid"]) == sorted(status["txid"][:2])
        assert after.datasets.set_index("txid").loc[status["txid"][0], "title"] == "edited on chain"
        assert after.datasets["signature_valid"].all()

"""A lab's release for the publishing tests: some of the demo's datasets downloaded into plain folders (one per
dataset, as a lab keeps them) and a metadata table naming them, plus the lab's key (not the demo's)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import etdb_explore as etdb
from etdb_explore.records.flo import PrivateKey

LAB_KEY = PrivateKey.from_seed("etdb-explore publishing lab", "testnet")


def lab_folders(demo, dest: Path, count: int) -> pd.DataFrame:
    """The first ``count`` demo datasets as folders under ``dest`` and their metadata table (a ``folder`` column;
    the other columns named as the index names them, which are the publishing fields)."""
    from etdb_explore import Client, download

    selection = demo.select(demo.datasets.index < count)
    with Client(gateways=False) as client:
        report = download(selection, dest=dest, client=client, progress=False)
    assert report.ok, report.failed
    table = selection.datasets.drop(columns=["txid", "publisher", "signature_valid", "block", "location"]).copy()
    table["folder"] = [str(dest / loc) for loc in selection.datasets["location"]]
    return table.reset_index(drop=True)


@pytest.fixture
def lab_table(demo, tmp_path) -> pd.DataFrame:
    return lab_folders(demo, tmp_path / "lab", 3)


def read_back(harvest, status: pd.DataFrame, name: str, long_note_at: int) -> etdb.Index:
    """The lab's three published records as harvested from the chain or an oipd, as an Index, checked: nothing
    rejected, every signature valid, exactly the published txids, and the long note on record ``long_note_at``."""
    index = etdb.Index.from_records(harvest.records, name, rejected=harvest.rejected)
    assert index.rejected.empty and len(index) == 3 and index.datasets["signature_valid"].all()
    assert sorted(index.datasets["txid"]) == sorted(status["txid"])
    assert index.datasets.set_index("txid").loc[status["txid"][long_note_at], "notes"].startswith("a long note")
    return index

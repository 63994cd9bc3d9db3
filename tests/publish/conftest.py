"""A lab's release for the publishing tests: some of the demo's datasets downloaded into plain folders (one per
dataset, as a lab keeps them) and a metadata table naming them, plus the lab's key (not the demo's)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

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

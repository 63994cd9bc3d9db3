"""notebooks/04-publish-a-release.ipynb runs top to bottom in a real kernel (nbclient), offline on the demo data, and
the lab's key appears in none of its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from etdb_explore.records.flo import PrivateKey

from ..subprocesses import ROOT

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04-publish-a-release.ipynb"


def test_publish_notebook_runs_offline_and_never_shows_the_key(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this checkout's etdb_explore
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.nbformat_minor >= 5 and all(cell.get("id") for cell in nb.cells)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "committed with outputs"
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = json.dumps([cell.get("outputs", []) for cell in nb.cells if cell.cell_type == "code"])
    assert '"output_type": "error"' not in outputs
    key = PrivateKey.from_seed("etdb-explore notebook lab", "testnet")
    for secret in (key.to_wif(), key.secret.hex(), repr(key.secret)):
        assert secret not in outputs
    assert key.address in outputs  # the address is public and shown
    assert "signed" in outputs and "image/png" in outputs and "transactions" in outputs

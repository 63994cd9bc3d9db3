"""Notebook 02's napari hand-off where there is a screen (the session's Xvfb) and napari: run in a real kernel
(nbclient), its napari cell opens a napari window with the tomogram instead of showing what napari would receive."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[2]


def test_notebook_02_opens_napari_where_there_is_a_screen(xserver, demo, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    nb = nbformat.read(ROOT / "notebooks" / "02-stream-a-tomogram.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    cell = next(c for c in nb.cells if c.get("id") == "napari")
    text = "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")
    assert text.startswith("opened in napari: "), cell.outputs
    assert not any(out.output_type == "error" or out.get("name") == "stderr" for out in cell.outputs), cell.outputs

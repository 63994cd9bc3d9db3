"""Every notebook in notebooks/ is committed clean, and the checks of its outputs once run: the notebooks run top to
bottom in a real Jupyter kernel of the Binder environment (tests/test_binder.py) and in real JupyterLab and Chromium
(tests/widgets/test_notebooks_lab.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PLOTS = re.compile(r"\.plot_\w+\(|\bplt\.|\.imshow\(")  # a cell with these must show an image
LIVE_SETTING = re.compile(r"^LIVE = False\b", re.MULTILINE)
# notebooks that read the ETDB and switch to the live one with their LIVE setting; 04 publishes, and publishing for
# real (a funded key, a FLO node) is not a one-line switch
READ_THE_ETDB = {"01-explore-the-index.ipynb", "02-stream-a-tomogram.ipynb", "03-pull-a-benchmark-set.ipynb",
                 "05-where-the-data-live.ipynb"}


def read(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_clean(path):
    """Cell ids (nbformat >= 4.5), no outputs, and in the notebooks that read the ETDB one marked setting that
    switches to the live one."""
    nb = read(path)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: cell {cell.id} has outputs"
    settings = [cell for cell in nb.cells if cell.cell_type == "code" and LIVE_SETTING.search(cell.source)]
    wanted = 1 if path.name in READ_THE_ETDB else 0
    assert len(settings) == wanted, f"{path.name} needs {wanted} cell(s) with the LIVE = False setting"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def check_outputs(cells, name: str) -> None:
    """The outputs of executed ``cells`` of notebook ``name``: no error, nothing on stderr, and an image/png output
    in every cell that plots (a Figure's text repr is not one)."""
    for cell in cells:
        if cell.cell_type != "code":
            continue
        kinds = [set(out.get("data", {})) for out in cell.outputs]
        if PLOTS.search(cell.source):
            assert any("image/png" in k for k in kinds), f"{name}: cell {cell.id} plots but shows no image"
        assert not any(out.output_type == "error" for out in cell.outputs)
        assert not any(out.get("name") == "stderr" for out in cell.outputs), f"{name}: cell {cell.id}: stderr"

"""Every guided notebook in real JupyterLab and Chromium, on the small demo ETDB, as a visitor runs it: opened, Run →
Run All Cells from the menu, and once every cell has run: no JavaScript error, no error or stderr output, every
widget output rendered, the viewers' canvases painted and the index browser's table filled.

Notebook 01's IndexBrowser, with a dataset's tomogram opened from it, is kept as a screenshot
(``test-artifacts/widgets/notebook-01-widgets.png``); with ``ETDB_EXPLORE_WRITE_DOCS=1`` it is also written to
``docs/widgets.png``, the picture in the README, so that picture always shows the widgets as they are.
"""

from __future__ import annotations

import os
import shutil

import nbformat
import pytest

from .lab import ROOT, Lab

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WRITE_DOCS = "ETDB_EXPLORE_WRITE_DOCS"  # set to 1 to refresh docs/widgets.png
# the etdb-explore widgets each notebook shows at least (CSS selector of the widget's root: how many)
WIDGETS = {"01-explore-the-index.ipynb": {".etdb-index-browser": 1},
           "02-stream-a-tomogram.ipynb": {".etdb-slice-viewer": 2}}
STDERR = "application/vnd.jupyter.stderr"  # JupyterLab's mime type of stderr text and of tracebacks
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _run_to_the_end(lab: Lab, page, cells: int) -> None:
    """Wait until each of the ``cells`` code cells shows an execution count, then for an idle kernel."""
    prompts = "[...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim())"
    try:
        page.wait_for_function(f"n => {{ const p = {prompts}; return p.length === n && p.every(t => /^\\[\\d+\\]:$/.test(t)); }}",
                               arg=cells, timeout=300_000)
    except Exception as exc:  # say which cells did not run, and what the page shows as errors
        shown = page.evaluate(prompts)
        errors = page.locator(f".jp-OutputArea-output[data-mime-type='{STDERR}']").all_inner_texts()
        lab.screenshot(page, "notebook-timeout")
        raise AssertionError(f"not every cell ran: prompts {shown}; errors {errors}; {lab.errors}") from exc
    lab.wait_idle(page)


def _painted(canvas) -> bool:
    return canvas.evaluate(
        "c => { if (!c.width || !c.height) return false; const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; for (let i = 4; i < d.length; i += 4) "
        "if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return true; return false; }")


def _check_widgets(page, name: str) -> None:
    outputs = page.locator(f".jp-OutputArea-output[data-mime-type='{WIDGET_VIEW}']")
    for i in range(outputs.count()):
        text = outputs.nth(i).inner_text()
        assert "Error displaying widget" not in text and "Error rendering" not in text, f"{name}: {text[:300]}"
    for selector, wanted in WIDGETS.get(name, {}).items():
        assert page.locator(selector).count() >= wanted, f"{name}: fewer than {wanted} {selector}"
    viewers = page.locator(".etdb-slice-viewer")
    for i in range(viewers.count()):
        page.wait_for_function(
            f"document.querySelectorAll('.etdb-slice-viewer')[{i}].dataset.frameVersion > 0", timeout=60_000)
        assert viewers.nth(i).get_attribute("data-error") in (None, ""), name
        assert _painted(viewers.nth(i).locator("canvas.sv-canvas")), f"{name}: viewer {i} painted nothing"
    browsers = page.locator(".etdb-index-browser")
    for i in range(browsers.count()):
        assert browsers.nth(i).locator(".ib-table tbody tr").count() > 0, f"{name}: empty index browser"


def _widgets_picture(lab: Lab, page) -> None:
    """Notebook 01's IndexBrowser with a dataset selected and its tomogram opened below: the README's picture."""
    browser = page.locator(".etdb-index-browser").first
    row = browser.locator(".ib-table tbody tr").first
    txid = row.get_attribute("data-txid")
    row.click()
    page.wait_for_selector(f".etdb-index-browser canvas.ib-image[data-txid='{txid}']", timeout=60_000)
    browser.locator("button.ib-view[data-what=tomogram]").click()
    page.wait_for_function(
        "document.querySelector('.etdb-index-browser .ib-viewer .etdb-slice-viewer')?.dataset.frameVersion > 0",
        timeout=60_000)
    assert _painted(browser.locator(".ib-viewer canvas.sv-canvas"))
    page.keyboard.press("Control+b")  # the file browser closed: the notebook gets the width
    browser.evaluate("e => e.closest('.jp-Cell').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    path = lab.screenshot(page, "notebook-01-widgets")
    if os.environ.get(WRITE_DOCS) == "1":
        shutil.copyfile(path, ROOT / "docs" / "widgets.png")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_the_browser(lab, path):
    shutil.copyfile(path, lab.notebooks / path.name)
    cells = sum(cell.cell_type == "code" for cell in nbformat.read(path, as_version=4).cells)
    big = path.name.startswith("01-")
    page = lab.run_all(path.name, viewport=(1400, 1400) if big else (1400, 1000))
    try:
        _run_to_the_end(lab, page, cells)
        errors = page.locator(f".jp-OutputArea-output[data-mime-type='{STDERR}']")
        assert errors.count() == 0, f"{path.name}: {errors.first.inner_text()[:2000]}"
        _check_widgets(page, path.name)
        if big:
            _widgets_picture(lab, page)
        else:
            lab.screenshot(page, f"notebook-{path.name[:2]}")
        assert lab.errors == []
    finally:
        page.close()

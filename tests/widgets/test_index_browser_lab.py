"""IndexBrowser in real JupyterLab and Chromium, on the small demo ETDB: filters clicked in the page change the
table as ``Index.filter`` says, ``browser.selection`` in the next cell agrees, a clicked row paints its key image
(pixels compared with the JPEG decoded in Python), and the page throws no JavaScript error."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from etdb_explore.content.client import Client

CELLS = [
    "import json\nimport etdb_explore as etdb\nbrowser = etdb.IndexBrowser(etdb.load_index())\nbrowser",
    "print(json.dumps(sorted(browser.selection.datasets.txid)))",
]
BROWSER = ".etdb-index-browser"


def _rows(page) -> list[str]:
    return page.eval_on_selector_all(f"{BROWSER} .ib-table tbody tr", "rows => rows.map(r => r.dataset.txid)")


def _after_change(page, change) -> None:
    """Do ``change`` in the page and wait until the table has been drawn again."""
    version = page.get_attribute(BROWSER, "data-table-version")
    change()
    page.wait_for_function(f"document.querySelector('{BROWSER}').dataset.tableVersion !== '{version}'",
                           timeout=20_000)


def test_filters_in_the_page_drive_the_table_and_the_selection(lab, demo):
    page = lab.run(CELLS, "index_browser.ipynb")
    page.wait_for_selector(f"{BROWSER} .ib-table tbody tr", timeout=120_000)
    assert _rows(page) == list(demo.datasets.txid)  # 12 datasets, one page
    assert page.inner_text(f"{BROWSER} .ib-summary").startswith(f"{len(demo)} of {len(demo)} datasets")

    species = page.locator(f"{BROWSER} .ib-facet[data-facet=species] input[value='Vibrio cholerae']")
    _after_change(page, species.check)
    expected = demo.filter(species="Vibrio cholerae")
    assert 0 < len(expected) < len(demo)
    assert _rows(page) == list(expected.datasets.txid)
    scope = expected.datasets.microscope.iloc[0]
    _after_change(page, page.locator(f"{BROWSER} .ib-facet[data-facet=microscope] input[value='{scope}']").check)
    expected = demo.filter(species="Vibrio cholerae", microscope=scope)
    assert _rows(page) == list(expected.datasets.txid)

    output = lab.rerun_cell(page, 1)
    assert json.loads(output.strip().splitlines()[-1]) == sorted(expected.datasets.txid)

    _after_change(page, lambda: page.click(f"{BROWSER} .ib-reset"))
    _after_change(page, lambda: page.click(f"{BROWSER} .ib-table th[data-column=defocus]"))
    by_defocus = demo.datasets.sort_values("defocus", kind="stable")
    assert _rows(page) == list(by_defocus.txid)
    assert float(page.get_attribute(BROWSER, "data-update-ms")) > 0

    txid = by_defocus.txid.iloc[2]
    page.click(f"{BROWSER} .ib-table tbody tr[data-txid='{txid}']")
    page.wait_for_selector(f"{BROWSER} canvas.ib-image[data-txid='{txid}']", timeout=30_000)
    width, height, rgba = page.eval_on_selector(
        f"{BROWSER} canvas.ib-image",
        "c => [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]")
    files = demo.files[(demo.files.txid == txid) & (demo.files.subtype == "keyimg")]
    expected_image = np.asarray(Image.open(io.BytesIO(Client().read(files.ipfs_path.iloc[0]))).convert("RGBA"))
    painted = np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)
    assert painted.shape == expected_image.shape
    diff = np.abs(painted.astype(int) - expected_image.astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4, (diff.mean(), diff.max())
    assert expected_image[..., :3].std() > 10  # a real picture, not a blank canvas

    lab.screenshot(page, "index_browser")
    assert lab.errors == []

"""IndexBrowser in real JupyterLab and Chromium, on the small demo ETDB: filters clicked in the page change the
table as ``Index.filter`` says, ``browser.selection`` in the next cell agrees, a clicked row paints its key image
(pixels compared with the JPEG decoded in Python), and the page throws no JavaScript error."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from etdb_explore.content.client import Client
from etdb_explore.datasets.download import MANIFEST, read_manifest, select_files
from etdb_explore.datasets.localcheck import local_sha256
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.volumes.open import open_tomogram

from .test_slice_viewer import _expected

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


def _first_column_shown(page) -> None:
    """Every title cell lies inside the table's scroll box, whole: the first column is never clipped."""
    box = page.locator(f"{BROWSER} .ib-main").bounding_box()
    for cell in page.locator(f"{BROWSER} .ib-table tbody td:first-child").all():
        left = cell.bounding_box()["x"]
        assert box["x"] - 0.5 <= left < box["x"] + box["width"], (left, box)
        assert cell.evaluate("c => c.scrollWidth <= c.clientWidth + 1"), cell.inner_text()


def test_view_and_download_buttons(lab, demo, tmp_path):
    """The buttons clicked in the page: "View tomogram" shows a SliceViewer below the table painting the dataset's
    section as Python computes it, "Download" with "only the selected dataset" fetches its reconstructions into the
    folder typed in, byte for byte the verified IPFS files; the title column is whole after sorting by a column on
    the right (a click that used to scroll the table sideways)."""
    page = lab.run(CELLS[:1], "index_browser_buttons.ipynb")
    page.wait_for_selector(f"{BROWSER} .ib-table tbody tr", timeout=120_000)
    _after_change(page, lambda: page.click(f"{BROWSER} .ib-table th[data-column=size]"))
    _first_column_shown(page)

    row = demo.filter(species="Vibrio cholerae").datasets.iloc[0]
    page.click(f"{BROWSER} .ib-table tbody tr[data-txid='{row.txid}']")
    page.wait_for_selector(f"{BROWSER} canvas.ib-image[data-txid='{row.txid}']", timeout=30_000)
    page.click(f"{BROWSER} button.ib-view[data-what=tomogram]")
    viewer = page.locator(f"{BROWSER} .ib-viewer .etdb-slice-viewer")
    viewer.wait_for(timeout=60_000)
    page.wait_for_function(f"document.querySelector('{BROWSER} .ib-viewer .etdb-slice-viewer')?.dataset.z",
                           timeout=60_000)
    z = int(viewer.get_attribute("data-z"))
    vol = open_tomogram(row.txid, index=demo)
    width, height, rgba = viewer.locator("canvas.sv-canvas").evaluate(
        "c => [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]")
    painted = np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)
    frame = _expected(vol[z])
    assert painted.shape[:2] == frame.shape and frame.std() > 10
    assert np.abs(painted[..., 0].astype(int) - frame.astype(int)).max() <= 1
    assert row.txid[:12] in page.inner_text(f"{BROWSER} .ib-message")

    dest = tmp_path / "clicked"
    page.select_option(f"{BROWSER} select.ib-kinds", "reconstructions")
    page.fill(f"{BROWSER} input.ib-dest", str(dest))
    page.check(f"{BROWSER} input.ib-only-selected")
    page.click(f"{BROWSER} button.ib-download")
    page.wait_for_function(
        f"document.querySelector('{BROWSER} .ib-message').textContent.startsWith('downloaded to')", timeout=120_000)
    assert page.inner_text(f"{BROWSER} .ib-error").strip() == ""
    one = demo.select((demo.datasets.txid == row.txid).to_numpy())
    wanted = select_files(one, "reconstructions")
    assert len(wanted) >= 1
    landed = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")
                    if p.is_file() and p.name not in (MANIFEST, "metadata.json"))
    assert row.txid in (dest / "metadata.json").read_text()  # the signed record of the one dataset
    assert landed == sorted(f"{r.location}/{r.fname}" for r in wanted.itertuples())
    manifest = read_manifest(dest)
    for r in wanted.itertuples():
        local = dest / r.location / r.fname
        assert local.read_bytes() == Client().read(r.ipfs_path)
        entry = manifest[f"{r.location}/{r.fname}"]
        assert local_sha256(local, CID.decode(entry["cid"])) == entry["sha256"]

    lab.screenshot(page, "index_browser_buttons")
    assert lab.errors == []

"""SliceViewer in real JupyterLab and Chromium reading through a real gateway on 127.0.0.1: a corrupt block and a
vanished gateway show their error inside the widget while sections already read keep painting; no JavaScript error."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from etdb_explore.ipfs import LocalStore
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.util import bridge
from etdb_explore.volumes.open import open_tomogram
from etdb_explore.volumes.preview import finite_percentiles
from etdb_explore.widgets.frames import auto_binning, binned, to_frame

from ..ipfs.lying_gateway import LyingGateway

VIEWER = ".etdb-slice-viewer"
OPEN = "import etdb_explore as etdb\nidx = etdb.load_index()\nrow = idx.datasets.sort_values('txid').iloc[0]"


@pytest.fixture
def first(demo):
    return demo.datasets.sort_values("txid").iloc[0]


def expected_rgba(section: np.ndarray) -> np.ndarray:
    """The picture the page must show, from the numpy section: binned, 1–99 percentile window, grey."""
    small = binned(section, auto_binning(section.shape, 1024))
    grey = to_frame(small, *finite_percentiles(small, 1.0, 99.0))
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def canvas_rgba(page) -> np.ndarray:
    width, height, data = page.eval_on_selector(f"{VIEWER} canvas", """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = ''; for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode(...d.subarray(i, i + 8192));
        return [c.width, c.height, btoa(s)]; }""")
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(height, width, 4)


def wait_z(page, z: int) -> None:
    page.wait_for_selector(f"{VIEWER}[data-z='{z}']", timeout=60_000)


def test_failed_reads_show_in_the_widget_and_other_sections_keep_working(lab, first, tmp_path_factory):
    """The kernel reads through a real gateway on 127.0.0.1 that first serves honestly, then flips a bit of every
    block (the read fails verification), then is gone; sections already read keep painting."""
    vol = open_tomogram(first)
    nz = vol.shape[0]
    store = LocalStore(tmp_path_factory.getbasetemp() / "data" / "etdb-explore" / "store")
    runner, upstream = bridge.run(start_server(store))
    liar = bridge.run(LyingGateway(upstream, "honest").__aenter__())
    empty = tmp_path_factory.mktemp("empty-store")
    try:
        cell = (f"client = etdb.Client(store={str(empty)!r}, gateways=[{liar.url!r}])\n"
                "viewer = etdb.open_tomogram(row, client=client).view()\nviewer")
        page = lab.run([OPEN, cell], "failing_reads.ipynb")
        page.locator(VIEWER).scroll_into_view_if_needed(timeout=60_000)
        wait_z(page, nz // 2)
        assert page.get_attribute(VIEWER, "data-error") == ""

        liar.mode = "flip"  # from now on every block is corrupt
        page.focus(VIEWER)
        page.keyboard.press("End")  # the last section: not read yet
        page.wait_for_function(f"document.querySelector('{VIEWER}').dataset.error !== ''", timeout=60_000)
        shown = page.inner_text(f"{VIEWER} .sv-error")  # the corrupt block is refused: the error names it
        assert shown.startswith(f"section {nz - 1}: BlockNotFoundError") and liar.url in shown, shown
        lab.screenshot(page, "slice_viewer_corrupt_block")

        page.keyboard.press("Home")
        for _ in range(nz // 2):
            page.keyboard.press("ArrowRight")  # back to the section read before: it paints again
        wait_z(page, nz // 2)
        page.wait_for_function(f"document.querySelector('{VIEWER}').dataset.error === ''", timeout=60_000)
        assert np.array_equal(canvas_rgba(page), expected_rgba(vol[nz // 2]))

        bridge.run(liar.__aexit__(None, None, None))
        liar = None  # gone: the gateway's port is closed
        page.keyboard.press("End")
        page.wait_for_function(f"document.querySelector('{VIEWER}').dataset.error !== ''", timeout=60_000)
        assert page.inner_text(f"{VIEWER} .sv-error").startswith(f"section {nz - 1}")
        page.close()
    finally:
        if liar is not None:
            bridge.run(liar.__aexit__(None, None, None))
        bridge.run(runner.cleanup())

"""SliceViewer and TiltSeriesViewer in real JupyterLab and Chromium, on the small demo ETDB: the canvas holds, pixel
for pixel, the frame computed in Python from the numpy section; arrow keys and the slider move to the sections they
should; the tilt-series slider is labelled in degrees with the angles' source; no JavaScript error."""

from __future__ import annotations

import base64
import json
import os
import signal

import matplotlib
import numpy as np

from etdb_explore.volumes.open import open_tiltseries, open_tomogram

from .test_slice_viewer import _expected

CELLS = [
    "import json\nimport etdb_explore as etdb\nidx = etdb.load_index()\n"
    "viewer = etdb.open_tomogram(idx.datasets.iloc[2], index=idx).view(z=10)\nviewer",
    "print(json.dumps({'z': viewer.z, 'frame': viewer.frame_info}))",
    "tilts = etdb.open_tiltseries(idx.datasets.iloc[5], index=idx).view()\ntilts",
    ("vol = etdb.open_tomogram(idx.datasets.iloc[2], index=idx)\n"
     "said = {'home': 'caltechdata', 'content': 'mirror-unverified', 'where': 'http://127.0.0.1:9/tomo.rec'}\n"
     "etdb.Volume(vol.source, vol.header, {'read_from': said}).view(z=12, cmap='magma')"),
    "vol.view(plane='xz', y=20)",
]
VIEWER = ".etdb-slice-viewer"


def _painted(page, nth: int) -> np.ndarray:
    """The canvas of the ``nth`` viewer as an (h, w, 4) RGBA array, read with getImageData."""
    width, height, data = page.locator(f"{VIEWER} canvas.sv-canvas").nth(nth).evaluate("""c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = ''; for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode(...d.subarray(i, i + 8192));
        return [c.width, c.height, btoa(s)]; }""")
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(height, width, 4)


def _shows(page, nth: int, z: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('{VIEWER}')[{nth}]?.dataset.z === '{z}'", timeout=60_000)


def _same(painted: np.ndarray, frame: np.ndarray) -> None:
    assert painted.shape[:2] == frame.shape
    assert (painted[..., 3] == 255).all()
    for channel in range(3):
        assert np.abs(painted[..., channel].astype(int) - frame.astype(int)).max() <= 1
    assert frame.std() > 10  # a real picture, not a blank canvas


def _colours(name: str) -> np.ndarray:
    """matplotlib's colormap ``name`` as 256 RGB rows of uint8."""
    return np.round(matplotlib.colormaps[name](np.arange(256))[:, :3] * 255).astype(np.uint8)


def _same_rgb(painted: np.ndarray, expected: np.ndarray) -> None:
    assert painted.shape[:2] == expected.shape[:2] and (painted[..., 3] == 255).all()
    assert (painted[..., :3] == expected).mean() > 0.99  # a level off by one at float rounding moves a few pixels
    assert len(np.unique(expected.reshape(-1, 3), axis=0)) > 50  # a coloured picture, not a blank one


def _proportions(viewer, width: float, height: float) -> None:
    """The picture on the page has the plane's physical proportions (Å)."""
    box = viewer.locator("canvas.sv-canvas").bounding_box()
    assert abs(box["width"] / box["height"] - width / height) < 0.02 * width / height


def test_viewers_paint_the_python_frames_and_follow_keys_and_slider(lab, demo):
    vol = open_tomogram(demo.datasets.iloc[2], index=demo)
    page = lab.run(CELLS, "slice_viewer.ipynb")
    page.wait_for_selector(VIEWER, timeout=120_000)
    _shows(page, 0, 10)
    _same(_painted(page, 0), _expected(vol[10]))

    root = page.locator(VIEWER).nth(0)
    root.focus()
    page.keyboard.press("ArrowRight")
    _shows(page, 0, 11)
    _same(_painted(page, 0), _expected(vol[11]))
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    _shows(page, 0, 9)
    _same(_painted(page, 0), _expected(vol[9]))

    root.locator("input.sv-slider").evaluate(
        "s => { s.value = '30'; s.dispatchEvent(new Event('input', { bubbles: true })); }")
    _shows(page, 0, 30)
    _same(_painted(page, 0), _expected(vol[30]))
    assert float(root.get_attribute("data-paint-ms")) > 0
    state = json.loads(lab.rerun_cell(page, 1).strip().splitlines()[-1])
    assert state["z"] == 30 and state["frame"]["z"] == 30

    ts = open_tiltseries(demo.datasets.iloc[5], index=demo)
    zero = int(np.argmin(np.abs(ts.angles)))
    tilt = page.locator(VIEWER).nth(1)
    tilt.scroll_into_view_if_needed()
    _shows(page, 1, zero)
    _same(_painted(page, 1), _expected(ts[zero]))
    tilt.focus()
    page.keyboard.press("ArrowRight")
    _shows(page, 1, zero + 1)
    _same(_painted(page, 1), _expected(ts[zero + 1]))
    label = tilt.locator(".sv-position").inner_text()
    assert f"{ts.angles[zero + 1]:+.1f}°" in label and ts.angle_source in label

    magma = page.locator(VIEWER).nth(2)  # colours from the table Python sent, applied by the page
    magma.scroll_into_view_if_needed()
    _shows(page, 2, 12)
    _same_rgb(_painted(page, 2), _colours("magma")[_expected(vol[12])])
    origin = magma.locator(".sv-origin")  # bytes not verified against the ETDB: marked
    assert "sv-unverified" in origin.get_attribute("class")
    assert origin.inner_text().startswith("⚠ bytes mirror-unverified from caltechdata")
    assert root.locator(".sv-origin").inner_text() == ""  # read from IPFS by path: nothing claimed

    root.scroll_into_view_if_needed()
    before = root.get_attribute("data-frame-version")
    root.locator("select.sv-colormap").select_option("viridis")  # the page's menu recolours the shown frame
    page.wait_for_function(f"document.querySelector('{VIEWER}').dataset.frameVersion !== '{before}'")
    _same_rgb(_painted(page, 0), _colours("viridis")[_expected(vol[30])])

    planes = page.locator(VIEWER).nth(3)  # an xz plane, then a yz plane chosen in the page's menu
    planes.scroll_into_view_if_needed()
    page.wait_for_function(f"document.querySelectorAll('{VIEWER}')[3]?.dataset.position === '20'", timeout=60_000)
    _same(_painted(page, 3), _expected(vol[:, 20, :]))
    _proportions(planes, vol.shape[2] * vol.voxel_size[0], vol.shape[0] * vol.voxel_size[2])
    planes.locator("select.sv-plane").select_option("yz")
    page.wait_for_function(f"document.querySelectorAll('{VIEWER}')[3]?.dataset.plane === 'yz'", timeout=60_000)
    _same(_painted(page, 3), _expected(vol[:, :, vol.shape[2] // 2]))
    _proportions(planes, vol.shape[1] * vol.voxel_size[1], vol.shape[0] * vol.voxel_size[2])

    lab.screenshot(page, "slice_viewer")
    assert lab.errors == []


def test_neighbours_paint_from_the_page_cache_while_the_kernel_is_stopped(lab, demo, tmp_path):
    """The neighbours of the shown section are pushed to the page ahead of time: stepping to them paints while the
    kernel's process is stopped (SIGSTOP: no round trip is possible); a section never read waits for the kernel."""
    vol = open_tomogram(demo.datasets.iloc[2], index=demo)
    pid_file = tmp_path / "kernel.pid"
    cells = [("import os, pathlib\nimport etdb_explore as etdb\nidx = etdb.load_index()\n"
              f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
              "viewer = etdb.open_tomogram(idx.datasets.iloc[2], index=idx).view(z=10)\nviewer")]
    page = lab.run(cells, "slice_viewer_cache.ipynb")
    page.wait_for_selector(VIEWER, timeout=120_000)
    _shows(page, 0, 10)
    page.wait_for_function(f"Number(document.querySelector('{VIEWER}').dataset.cached) >= 5", timeout=60_000)
    root = page.locator(VIEWER).first
    root.focus()

    kernel = int(pid_file.read_text())
    os.kill(kernel, signal.SIGSTOP)
    try:
        for z in (11, 12, 11, 10, 9, 8):
            page.keyboard.press("ArrowRight" if z > int(root.get_attribute("data-z")) else "ArrowLeft")
            _shows(page, 0, z)
            _same(_painted(page, 0), _expected(vol[z]))
        page.keyboard.press("End")  # never read: only the kernel can make it
        page.wait_for_timeout(1500)
        assert root.get_attribute("data-z") == "8"
    finally:
        os.kill(kernel, signal.SIGCONT)
    _shows(page, 0, vol.shape[0] - 1)  # and it arrives once the kernel runs again
    assert lab.errors == []
    page.close()

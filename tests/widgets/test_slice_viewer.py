"""SliceViewer and TiltSeriesViewer through their traits: frames are the numpy section after contrast, NaN/constant/
one-image/very thin volumes render, the newest slider position wins while reads are slow, reads run off the
caller's loop, a section whose read fails (a lying gateway) shows its error while the next section works, and the
static display is a PNG of the section."""

from __future__ import annotations

import asyncio
import io
import time

import matplotlib
import mrcfile
import numpy as np
import pytest
from PIL import Image

from etdb_explore.content.client import Client
from etdb_explore.errors import EtdbError
from etdb_explore.util import bridge
from etdb_explore.volumes.byteranges import LocalFile
from etdb_explore.volumes.open import open_tiltseries, open_tomogram
from etdb_explore.volumes.volume import Volume
from etdb_explore.widgets.base import WIDGET_VIEW
from etdb_explore.widgets.slice_viewer import SliceViewer, TiltSeriesViewer, ViewerError

from ..datasets.conftest import gateway  # noqa: F401 - the demo served by `etdb-explore serve`
from ..ipfs.lying_gateway import LyingGateway


def _mrc(path, data, voxel=(5.0, 5.0, 5.0)):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel
    return path


def _expected(section: np.ndarray, low=1.0, high=99.0) -> np.ndarray:
    """The frame written out independently: percentiles of the section, linear to 0..255, rounded."""
    values = section.astype(np.float64)
    lo, hi = np.percentile(values, [low, high])
    return np.clip(np.floor((values - lo) * 255.0 / (hi - lo) + 0.5), 0, 255).astype(np.uint8)


def _frame(v: SliceViewer) -> np.ndarray:
    info = v.frame_info
    return np.frombuffer(v.frame, dtype=np.uint8).reshape(info["height"], info["width"])


class SlowFile(LocalFile):
    """A local file whose reads take ``delay`` seconds (a slow gateway) and are logged by first section byte."""

    def __init__(self, path, delay: float) -> None:
        super().__init__(path)
        self.delay = delay
        self.reads: list[int] = []

    async def read(self, start: int, end: int) -> bytes:
        self.reads.append(start)
        await asyncio.sleep(self.delay)
        return await super().read(start, end)


@pytest.fixture
def volume_file(tmp_path):
    rng = np.random.default_rng(7)
    data = rng.normal(100, 30, size=(12, 40, 56)).astype(np.int16)
    data[:, 3, 3] = 30000  # an outlier the percentiles ignore
    return _mrc(tmp_path / "v.mrc", data), data


def test_frames_are_the_numpy_sections_after_contrast(volume_file):
    path, data = volume_file
    v = Volume.open(LocalFile(path)).view()
    try:
        assert v.z == 6 and v.info["shape"] == [12, 40, 56] and v.info["voxel_size"] == [5.0, 5.0, 5.0]
        np.testing.assert_array_equal(_frame(v), _expected(data[6]))
        for z in (0, 11, 3):
            v.z = z
            assert v.frame_info["z"] == z
            diff = np.abs(_frame(v).astype(int) - _expected(data[z]).astype(int))
            assert diff.max() <= 1 and (diff == 0).mean() > 0.99  # float32 vs float64 rounding at .5
        v.percentiles = [10.0, 90.0]
        assert np.abs(_frame(v).astype(int) - _expected(data[3], 10, 90).astype(int)).max() <= 1
        v.contrast = "manual"
        v.window = [150.0, 50.0]  # sorted to [50, 150]
        assert v.window == [50.0, 150.0]
        manual = np.clip(np.floor((data[3].astype(np.float64) - 50) * 2.55 + 0.5), 0, 255).astype(np.uint8)
        assert np.abs(_frame(v).astype(int) - manual.astype(int)).max() <= 1
        assert v.value_at(3, 3)["value"] == 30000 and v.value_at(5, 7)["value"] == int(data[3, 7, 5])
        assert v.value_at(56, 0)["value"] is None
        v.z = 99  # clamped
        assert v.z == 11
        with pytest.raises(ViewerError, match="percentiles"):
            v.percentiles = [50.0, 20.0]
        with pytest.raises(ViewerError, match="'no-such-map'"):
            v.colormap = "no-such-map"
    finally:
        v.close()


def test_nan_constant_single_image_and_thin_volumes_render(tmp_path):
    data = np.full((3, 20, 30), 5.0, dtype=np.float32)
    data[0] = np.nan
    data[2] = np.arange(600, dtype=np.float32).reshape(20, 30)
    data[2, :5] = np.nan
    v = Volume.open(LocalFile(_mrc(tmp_path / "nan.mrc", data))).view(z=0)
    try:
        assert "error" not in v.frame_info and (_frame(v) == 0).all()  # all NaN: black, no division by zero
        v.z = 1
        assert (_frame(v) == 128).all()  # constant: mid-grey
        v.z = 2
        assert (_frame(v)[:5] == 0).all() and _frame(v)[5:].std() > 50
        assert v.value_at(0, 0)["value"] == "nan"
        v.contrast, v.window = "manual", [155.0, 155.0]  # a zero-width window is a step
        assert set(np.unique(_frame(v)[5:])) == {0, 128, 255}
    finally:
        v.close()

    image = np.arange(48 * 64, dtype=np.int16).reshape(1, 48, 64)
    one = Volume.open(LocalFile(_mrc(tmp_path / "one.mrc", image))).view()
    try:
        assert one.z == 0 and one.info["shape"][0] == 1
        np.testing.assert_array_equal(_frame(one), _expected(image[0]))
    finally:
        one.close()

    thin = np.tile(np.arange(5000, dtype=np.float32), (3, 1)).reshape(1, 3, 5000)
    strip = Volume.open(LocalFile(_mrc(tmp_path / "thin.mrc", thin, voxel=(2.0, 50.0, 1.0)))).view(max_size=1000)
    try:
        info = strip.frame_info
        assert (info["height"], info["width"], info["bin"]) == (1, 1000, [3, 5])  # the 3 rows binned into one
        binned = thin[0].reshape(1, 3, 1000, 5).mean(axis=(1, 3))
        np.testing.assert_array_equal(_frame(strip), _expected(binned))
        assert strip.info["voxel_size"] == [2.0, 50.0, 1.0]  # the page sizes the picture by these
    finally:
        strip.close()


async def test_newest_position_wins_and_reads_stay_off_the_callers_loop(volume_file):
    path, data = volume_file
    source = SlowFile(path, 0.3)
    vol = await Volume.aopen(source, readahead=0)
    shown: list[int] = []
    v = SliceViewer(vol, z=0)
    v.observe(lambda change: shown.append(change["new"].get("z")), "frame_info")
    try:
        await _until(lambda: v.frame_info.get("z") == 0)
        began = time.perf_counter()
        for z in range(1, 9):  # the slider sweeps faster than sections arrive
            v.z = z
        assert time.perf_counter() - began < 0.1  # the caller's loop was never blocked by a read
        ticks = 0
        while v.frame_info.get("z") != 8:  # meanwhile this loop keeps running
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks > 20
        assert shown == [0, 8] and v.dropped == 1  # z=1 arrived stale and was dropped; 2..7 were never read
        read_sections = {(start - vol.header.data_offset) // vol.header.slice_bytes for start in source.reads}
        assert not read_sections & {2, 3, 4, 5, 6}
        np.testing.assert_array_equal(_frame(v), _expected(data[8]))
        await _until(lambda: {7, 9} <= set(vol._cache))  # neighbours prefetched in the background
    finally:
        v.close()


async def _until(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.01)


def test_a_failing_section_shows_its_error_and_the_next_one_works(demo, gateway, tmp_path):  # noqa: F811
    proxy = LyingGateway(gateway, "honest")
    bridge.run(proxy.__aenter__())
    try:
        with Client(tmp_path / "empty-store", [proxy.url]) as client:
            row = demo.datasets.iloc[2]
            vol = open_tomogram(row, index=demo, client=client)
            vol.readahead = 0
            v = vol.view(z=1)
            try:
                assert "error" not in v.frame_info
                proxy.mode = "flip"  # a corrupt block: verification fails
                v.z = vol.shape[0] - 2
                assert v.frame_info["z"] == vol.shape[0] - 2 and "BlockNotFoundError" in v.frame_info["error"]
                assert v.frame == b""
                proxy.mode = "500"  # the gateway is gone
                v.z = vol.shape[0] // 2
                assert v.frame_info["error"]
                proxy.mode = "honest"
                v.z = vol.shape[0] // 2 + 1
                assert "error" not in v.frame_info
                np.testing.assert_array_equal(_frame(v), _expected(vol[v.z]))
            finally:
                v.close()
    finally:
        bridge.run(proxy.__aexit__(None, None, None))


def test_static_display_is_a_png_of_the_section_next_to_the_widget_view(volume_file):
    path, data = volume_file
    v = Volume.open(LocalFile(path)).view(z=4, colormap="inverted")
    try:
        bundle, _ = v._repr_mimebundle_()
        assert WIDGET_VIEW in bundle and "SliceViewer" in bundle["text/plain"]
        picture = np.asarray(Image.open(io.BytesIO(bundle["image/png"])))
        np.testing.assert_array_equal(picture, 255 - _expected(data[4]))
    finally:
        v.close()


def test_tiltseries_viewer_labels_images_with_their_angles(demo):
    ts = open_tiltseries(demo.datasets.iloc[5], index=demo)
    v = ts.view()
    try:
        assert isinstance(v, TiltSeriesViewer)
        assert v.info["kind"] == "tiltseries" and v.info["angle_source"].endswith(".rawtlt")
        assert v.info["angles"] == [round(float(a), 3) for a in ts.angles]
        assert v.z == int(np.argmin(np.abs(ts.angles))) and "+0.0°" in repr(v)
        np.testing.assert_array_equal(_frame(v), _expected(ts[v.z]))
    finally:
        v.close()


def test_index_browser_static_display_is_its_table(demo):
    from etdb_explore.widgets.index_browser import IndexBrowser

    browser = IndexBrowser(demo)
    try:
        bundle, _ = browser._repr_mimebundle_()
        assert WIDGET_VIEW in bundle and bundle["text/html"] == browser.fallback_html()
        assert "image/png" not in bundle
    finally:
        browser.close()


def test_colormaps_are_matplotlibs_sent_once_as_a_table(volume_file):
    path, data = volume_file
    v = Volume.open(LocalFile(path)).view(z=4, cmap="viridis")
    try:
        assert v.colormap == "viridis"
        table = np.frombuffer(v.lut, dtype=np.uint8).reshape(256, 3)
        viridis = np.round(matplotlib.colormaps["viridis"](np.arange(256))[:, :3] * 255).astype(np.uint8)
        np.testing.assert_array_equal(table, viridis)
        picture = np.asarray(Image.open(io.BytesIO(v._repr_mimebundle_()[0]["image/png"])))
        np.testing.assert_array_equal(picture, viridis[_expected(data[4])])  # the static PNG in colour too
        generation = v.generation
        v.colormap = "inverted"  # the page recolours the frames it has: nothing is rendered anew
        assert v.generation == generation
        np.testing.assert_array_equal(np.frombuffer(v.lut, dtype=np.uint8).reshape(256, 3)[:, 0], 255 - np.arange(256))
    finally:
        v.close()
    with pytest.raises(EtdbError, match="'nonexistent_cmap'"):
        Volume.open(LocalFile(path)).view(cmap="nonexistent_cmap")


def test_where_the_bytes_came_from_is_in_the_viewer(volume_file):
    path, _ = volume_file
    plain = Volume.open(LocalFile(path)).view()
    try:
        assert plain.info["read_from"] is None  # opened from a path: nothing to say
    finally:
        plain.close()
    for content, marked in (("ipfs-verified", False), ("mirror-verified", False), ("mirror-unverified", True),
                            ("rewritten", True)):
        said = {"home": "caltechdata", "content": content, "where": "http://127.0.0.1:9/tomo.rec", "passed_over": []}
        v = Volume.open(LocalFile(path), {"read_from": said}).view()
        try:
            assert v.info["read_from"] == {"home": "caltechdata", "content": content,
                                           "where": "http://127.0.0.1:9/tomo.rec", "unverified": marked}
        finally:
            v.close()


class CountingFile(LocalFile):
    """A local file that logs every range read."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.ranges: list[tuple[int, int]] = []

    async def read(self, start: int, end: int) -> bytes:
        self.ranges.append((start, end))
        return await super().read(start, end)


def test_xz_and_yz_planes_are_the_numpy_planes_read_with_bounded_memory(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    data = rng.normal(0, 50, size=(30, 40, 56)).astype(np.int16)
    source = CountingFile(_mrc(tmp_path / "a.mrc", data, voxel=(2.0, 2.0, 7.0)))
    vol = Volume.open(source, readahead=0)
    source.ranges.clear()  # the header
    xz = vol.view(plane="xz", y=7)
    try:
        assert (xz.plane, xz.y, xz.z, xz.x) == ("xz", 7, 15, 28)
        assert xz.frame_info["plane"] == "xz" and xz.frame_info["position"] == 7
        np.testing.assert_array_equal(_frame(xz), _expected(data[:, 7, :]))
        read = sum(end - start for start, end in source.ranges)
        assert read == 30 * 5 * 56 * 2  # rows 5..9 of each section (the plane and its neighbours), nothing else
        assert {f"{xz.generation}:xz:{y}" for y in range(5, 10)} <= set(xz._kept)
        assert xz.value_at(3, 2) == {"plane": "xz", "position": 7, "x": 3, "y": 2, "value": int(data[2, 7, 3])}
        xz.y = 8  # read along with y=7: no new read
        reads = len(source.ranges)
        np.testing.assert_array_equal(_frame(xz), _expected(data[:, 8, :]))
        assert len(source.ranges) == reads

        monkeypatch.setattr("etdb_explore.widgets.planes.CHUNK_BYTES", 8 * 40 * 56 * 2)  # 8 sections at a time
        source.ranges.clear()
        xz.plane, xz.x = "yz", 50
        np.testing.assert_array_equal(_frame(xz), _expected(data[:, :, 50]))
        assert max(end - start for start, end in source.ranges) <= 8 * 40 * 56 * 2  # never more than a chunk
        assert xz.value_at(4, 9)["value"] == int(data[9, 4, 50])
        xz.plane = "xy"
        np.testing.assert_array_equal(_frame(xz), _expected(data[15]))
        with pytest.raises(ViewerError, match="plane"):
            xz.plane = "zz"
    finally:
        xz.close()


def test_plane_reads_report_their_progress(tmp_path, monkeypatch):
    from etdb_explore.widgets.planes import read_planes

    data = np.arange(20 * 6 * 8, dtype=np.float32).reshape(20, 6, 8)
    vol = Volume.open(LocalFile(_mrc(tmp_path / "p.mrc", data)), readahead=0)
    monkeypatch.setattr("etdb_explore.widgets.planes.CHUNK_BYTES", 6 * 6 * 8 * 4)  # 6 sections at a time
    seen: list[tuple[int, int]] = []
    planes = bridge.run(read_planes(vol, "yz", 2, 5, lambda done, total: seen.append((done, total))))
    assert seen == [(6, 20), (12, 20), (18, 20), (20, 20)]
    for x in (2, 3, 4):
        np.testing.assert_array_equal(planes[x], data[:, :, x])

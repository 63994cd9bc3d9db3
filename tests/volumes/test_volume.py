"""Lazy volumes over real MRC files written by mrcfile, and every kind of bad MRC input."""

from __future__ import annotations

import asyncio
import pickle
import struct
import tracemalloc

import mrcfile
import mrcfile.dtypes
import numpy as np
import pytest

from etdb_explore.errors import EtdbError
from etdb_explore.volumes.byteranges import LocalFile
from etdb_explore.volumes.header import MrcError
from etdb_explore.volumes.preview import bin_image, finite_percentiles, preview, robust_contrast
from etdb_explore.volumes.tiltseries import (
    TiltSeries,
    angles_from_extended_header,
    angles_from_record,
    parse_tilt_file,
)
from etdb_explore.volumes.volume import Volume


class CountingFile(LocalFile):
    """A local file that records every range read (to prove only the needed bytes are fetched)."""

    def __init__(self, path):
        super().__init__(path)
        self.ranges: list[tuple[int, int]] = []

    async def read(self, start, end):
        self.ranges.append((start, end))
        return await super().read(start, end)


def write_mrc(path, data, voxel=4.5, ext=None, exttyp=None):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel
        mrc.header.origin = (1.0, 2.0, 3.0)
        mrc.add_label("etdb-explore test volume")
        if ext is not None:
            mrc.set_extended_header(ext)
            mrc.header.exttyp = exttyp
    return path


@pytest.fixture
def volume_file(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(-3000, 3000, size=(24, 40, 56), dtype=np.int16)
    return write_mrc(tmp_path / "tomo.rec", data), data


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.float32, np.uint16, np.float16, np.complex64])
def test_every_mode_reads_like_mrcfile(tmp_path, dtype):
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(5, 7, 9)) * 50).astype(dtype)
    path = write_mrc(tmp_path / "m.mrc", data)
    vol = Volume.open(LocalFile(path))
    with mrcfile.open(path) as ref:
        np.testing.assert_array_equal(np.asarray(vol), ref.data)
    assert vol.dtype == np.dtype(dtype)


def test_header_only_at_open_then_only_needed_sections(volume_file):
    path, data = volume_file
    source = CountingFile(path)
    vol = Volume.open(source, readahead=0)
    assert source.ranges == [(0, 1024)]
    assert vol.shape == (24, 40, 56) and vol.voxel_size == pytest.approx((4.5, 4.5, 4.5))
    assert vol.origin == (1.0, 2.0, 3.0) and "etdb-explore test volume" in vol.labels
    section = 40 * 56 * 2
    np.testing.assert_array_equal(vol[10], data[10])
    assert source.ranges[-1] == (1024 + 10 * section, 1024 + 11 * section)
    np.testing.assert_array_equal(vol[10, 5:9, ::3], data[10, 5:9, ::3])  # cached: no new read
    assert len(source.ranges) == 2
    np.testing.assert_array_equal(vol[2:8:2], data[2:8:2])
    assert source.ranges[2:] == [(1024 + z * section, 1024 + (z + 1) * section) for z in (2, 4, 6)]


def test_indexing_matches_numpy(volume_file):
    path, data = volume_file
    vol = Volume.open(LocalFile(path))
    for key in [5, -1, (slice(None), 3), (..., 7), (slice(3, 20, 4), slice(None, None, -1)), (1, 2, 3),
                (slice(-5, None), slice(10, 2, -2), slice(None, None, 5)), ...]:
        np.testing.assert_array_equal(vol[key], data[key], err_msg=str(key))
    with pytest.raises(IndexError):
        vol[24]
    with pytest.raises(IndexError):
        vol[[1, 2]]
    np.testing.assert_array_equal(np.asarray(vol, dtype=np.float32), data.astype(np.float32))


def test_readahead_and_bounded_cache(volume_file):
    path, data = volume_file
    source = CountingFile(path)
    vol = Volume.open(source, readahead=3, cache_bytes=6 * 40 * 56 * 2)
    section = 40 * 56 * 2
    vol[4]
    for z in (5, 6, 7):
        np.testing.assert_array_equal(vol[z], data[z])
    starts = [start for start, _ in source.ranges]
    assert (1024 + 5 * section, 1024 + 8 * section) in source.ranges  # 5..7 read ahead, in one range
    assert [starts.count(1024 + z * section) for z in (5, 6, 7)] == [1, 0, 0]  # and never read again
    for z in range(10, 24):
        vol[z]
    assert len(vol._cache) * 40 * 56 * 2 <= vol.cache_bytes


def test_async_indexing_on_a_notebooks_loop_then_plain_indexing(volume_file):
    """``await vol.aget`` starts reading ahead; that read-ahead lives on the I/O loop, so plain indexing from the
    same (blocked) notebook loop can use it."""
    path, data = volume_file
    source = CountingFile(path)
    vol = Volume.open(source, readahead=2)

    async def notebook_cell():
        first = await vol.aget(0)
        return first, vol[1], await vol.aget(slice(2, 4))

    first, second, more = asyncio.run(notebook_cell())
    np.testing.assert_array_equal(first, data[0])
    np.testing.assert_array_equal(second, data[1])
    np.testing.assert_array_equal(more, data[2:4])
    assert [start for start, _ in source.ranges].count(1024 + 40 * 56 * 2) == 1  # section 1: read ahead once


def test_pickles_and_dask(volume_file):
    path, data = volume_file
    vol = Volume.open(LocalFile(path))
    again = pickle.loads(pickle.dumps(vol))
    np.testing.assert_array_equal(again[3], data[3])
    da = pytest.importorskip("dask.array")
    arr = vol.to_dask(chunks=(5, 40, 56))
    assert isinstance(arr, da.Array) and arr.chunks[0] == (5, 5, 5, 5, 4)
    np.testing.assert_array_equal(arr[::2].mean(axis=0).compute(), data[::2].mean(axis=0))


def test_mode_101_packed_4bit(tmp_path):
    nx, ny, nz = 5, 3, 2
    values = np.random.default_rng(3).integers(0, 16, size=(nz, ny, nx), dtype=np.uint8)
    padded = np.zeros((nz, ny, nx + 1), dtype=np.uint8)
    padded[..., :nx] = values
    packed = (padded[..., 0::2] | (padded[..., 1::2] << 4)).astype(np.uint8)
    path = write_mrc(tmp_path / "p.mrc", np.zeros((nz, ny, nx), dtype=np.int8))
    raw = bytearray(path.read_bytes()[:1024])
    struct.pack_into("<i", raw, 12, 101)
    path.write_bytes(bytes(raw) + packed.tobytes())
    np.testing.assert_array_equal(np.asarray(Volume.open(LocalFile(path))), values)


def _patched(path, offset, fmt, value, tail=None):
    raw = bytearray(path.read_bytes())
    struct.pack_into(fmt, raw, offset, value)
    path.write_bytes(bytes(raw if tail is None else raw[:tail]))
    return path


@pytest.mark.parametrize("change, match", [
    (lambda p: p.write_bytes(p.read_bytes()[:-1]), "truncated"),
    (lambda p: p.write_bytes(p.read_bytes() + b"\0"), "longer than its header says"),
    (lambda p: _patched(p, 12, "<i", 7), "unknown MRC mode 7"),
    (lambda p: _patched(p, 92, "<i", 2**30), "extended header of 1073741824 bytes is impossible"),
    (lambda p: _patched(p, 0, "<i", 100000) and _patched(p, 4, "<i", 100000), "needs 480000001024 bytes"),
    (lambda p: _patched(p, 8, "<i", -3), "not positive"),
    (lambda p: p.write_bytes(p.read_bytes()[:500]), "too short"),
])
def test_bad_files_fail_before_reading_data(volume_file, change, match):
    path, _ = volume_file
    change(path)
    source = CountingFile(path)
    with pytest.raises(MrcError, match=match) as err:
        Volume.open(source)
    assert str(path) in str(err.value)
    assert all(end <= 1024 for _, end in source.ranges)


def test_terabyte_claim_is_refused_without_allocation(tmp_path):
    path = write_mrc(tmp_path / "big.mrc", np.zeros((2, 2, 2), dtype=np.float32))
    for offset, value in ((0, 2**20), (4, 2**20), (8, 2**8)):  # 2^48 voxels × 4 bytes = 1 PB
        _patched(path, offset, "<i", value)
    with pytest.raises(MrcError, match="truncated"):
        Volume.open(LocalFile(path))


def test_tilt_angles_from_every_place(tmp_path):
    assert parse_tilt_file(" -60.0\n-58\n\n  -56.5 extra\n").tolist() == [-60.0, -58.0, -56.5]
    with pytest.raises(Exception, match="line 2"):
        parse_tilt_file("1\nabc\n", "x.rawtlt")
    np.testing.assert_allclose(angles_from_record({"tiltMin": -60, "tiltMax": 60, "tiltStep": 2}, 61),
                               np.arange(-60, 61, 2))
    assert angles_from_record({"tiltMin": -60, "tiltMax": 60, "tiltStep": 2}, 60) is None
    dtype = mrcfile.dtypes.get_ext_header_dtype(b"FEI1", "<")
    ext = np.zeros(7, dtype=dtype)
    ext["Alpha tilt"] = np.linspace(-45, 45, 7)
    path = write_mrc(tmp_path / "ts.mrc", np.zeros((7, 4, 4), dtype=np.int16), ext=ext, exttyp=b"FEI1")
    vol = Volume.open(LocalFile(path))
    np.testing.assert_allclose(angles_from_extended_header(vol.header), np.linspace(-45, 45, 7))
    ts = TiltSeries(vol.source, vol.header, angles=np.linspace(-45, 45, 7), angle_source="extended header")
    assert ts.index_of(31) == 5 and ts.at_angle(-44).shape == (4, 4)
    with pytest.raises(Exception, match="6 tilt angles for 7 images"):
        TiltSeries(vol.source, vol.header, angles=np.zeros(6), angle_source="record")


def test_an_angle_outside_the_tilt_range_has_no_image(tmp_path):
    path = write_mrc(tmp_path / "ts.mrc", np.zeros((7, 4, 4), dtype=np.int16))
    vol = Volume.open(LocalFile(path))
    ts = TiltSeries(vol.source, vol.header, angles=np.linspace(-45, 45, 7), angle_source="record")  # 15° steps
    assert ts.index_of(52.5) == 6 and ts.index_of(-52.5) == 0  # half a step beyond the ends: the end images
    for angle in (200, 53, -60, float("nan"), float("inf")):
        with pytest.raises(EtdbError, match=r"covers -45° to 45°"):
            ts.index_of(angle)
    with pytest.raises(EtdbError, match="no image at 200"):
        ts.at_angle(200)


def test_preview_helpers():
    img = np.arange(64, dtype=np.int16).reshape(8, 8)
    assert bin_image(img, 2).shape == (4, 4) and bin_image(img, 2)[0, 0] == pytest.approx((0 + 1 + 8 + 9) / 4)
    spiky = np.zeros((50, 50))
    spiky[0, 0] = 1e9
    spiky[10:20] = 1.0
    out = robust_contrast(spiky)
    assert out.dtype == np.float32 and out.max() == 1.0 and out.min() == 0.0
    assert preview(np.ones((1000, 300))).shape == (500, 150)


def test_huge_extended_header_claim_is_refused_before_any_allocation(volume_file):
    """mrcfile sizes a buffer by nsymbt before looking at the file: a 2 GiB claim must fail without that buffer."""
    path, _ = volume_file
    _patched(path, 92, "<i", 2**31 - 1)
    tracemalloc.start()
    try:
        with pytest.raises(MrcError, match="extended header of 2147483647 bytes is impossible"):
            Volume.open(LocalFile(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak} bytes allocated"


@pytest.mark.parametrize("step", [1.2e-6, 1e-12, 1e-300, 0.0, -2.0, float("nan"), float("inf"), "x", None])
def test_record_tilt_step_never_sizes_an_array(step):
    tracemalloc.start()
    try:
        assert angles_from_record({"tiltMin": -60, "tiltMax": 60, "tiltStep": step}, 61) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated for tiltStep={step!r}"
    assert angles_from_record({"tiltMin": -1e308, "tiltMax": 1e308, "tiltStep": 1e-308}, 61) is None


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.float32])
def test_finite_percentiles_equal_numpy_on_finite_values(dtype):
    """The histogram path for small integers and the float path give np.percentile of the finite values."""
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    data = (rng.integers(info.min, int(info.max) + 1, (37, 41)) if info else rng.normal(0, 5, (37, 41))).astype(dtype)
    for low, high in ((0.0, 100.0), (1.0, 99.0), (0.5, 99.5), (33.3, 66.7)):
        assert finite_percentiles(data, low, high) == pytest.approx(np.percentile(data, [low, high]), rel=1e-6)
    if info is None:
        data[::3] = np.nan
        data[1, 1] = -np.inf
        expected = np.percentile(data[np.isfinite(data)], [1.0, 99.0])
        assert finite_percentiles(data, 1.0, 99.0) == pytest.approx(expected, rel=1e-6)
        assert finite_percentiles(np.full((4, 4), np.nan, np.float32), 1.0, 99.0) == (0.0, 0.0)


def test_robust_contrast_ignores_nan():
    data = np.tile(np.linspace(0, 1, 100, dtype=np.float32), (10, 1))
    data[:, :5] = np.nan
    out = robust_contrast(data)
    assert np.isfinite(out).all() and out[:, :5].max() == 0.0 and out.max() == 1.0 and out[:, 50].min() > 0.3

"""Volumes and tilt-series in a real napari viewer (under Xvfb): lazy data, pyramid, scale, labels, a drawn canvas."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest

import etdb_explore as etdb
from etdb_explore.napari import layer_data, pyramid, view
from etdb_explore.volumes import LocalFile, Volume, bin_image


def not_blank(image: np.ndarray) -> bool:
    """A screenshot shows something: many grey levels, not one flat colour."""
    rgb = image[..., :3]
    return rgb.std() > 5 and len(np.unique(rgb)) > 20


@pytest.fixture
def large_mrc(tmp_path):
    """A 30×600×520 int16 tomogram with voxels of 4.5×4.5×6 Å: large enough for a pyramid level."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:600, :520]
    data = np.stack([(1000 * np.sin(xx / 17 + z) * np.cos(yy / 23) + rng.normal(0, 50, (600, 520)))
                     for z in range(30)]).astype(np.int16)
    path = tmp_path / "large.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = (4.5, 4.5, 6.0)
    return path, data


def test_demo_tomogram_in_napari(demo, viewer):
    row = demo.datasets.iloc[0]
    volume = etdb.open_tomogram(row)
    layer = volume.to_napari(viewer)
    assert viewer.layers[-1] is layer
    data = np.asarray(layer.data[0] if layer.multiscale else layer.data)  # a small demo volume: one level
    full = np.asarray(volume)
    for z in (0, volume.shape[0] // 2, volume.shape[0] - 1):
        np.testing.assert_array_equal(np.asarray(data[z]), full[z])
    vx, vy, vz = volume.voxel_size
    assert vx > 0
    np.testing.assert_allclose(layer.scale, (vz, vy, vx))
    assert tuple(layer.axis_labels) == ("z", "y", "x") and tuple(viewer.dims.axis_labels) == ("z", "y", "x")
    assert str(layer.units[0]) == "angstrom"
    assert layer.name == f"{row['title']} (tomogram)"
    assert layer.metadata["etdb"]["txid"] == row["txid"] and layer.metadata["voxel_size"] == volume.voxel_size
    middle = (volume.shape[0] - 1) // 2
    np.testing.assert_allclose(layer.contrast_limits, np.percentile(full[middle].astype(np.float32), (0.5, 99.5)),
                               rtol=1e-5)
    assert viewer.dims.current_step[0] == middle  # the section shown first is the one the contrast came from
    assert not_blank(viewer.screenshot(canvas_only=True, flash=False))


def test_tiltseries_in_napari(demo, viewer):
    series = etdb.open_tiltseries(demo.datasets.iloc[1])
    layer = series.to_napari(viewer)
    assert tuple(layer.axis_labels) == ("angle", "y", "x")
    np.testing.assert_array_equal(layer.metadata["tilt_angles"], series.angles)
    assert layer.metadata["angle_source"] == series.angle_source
    assert layer.scale[0] == 1.0 and layer.name.endswith("(tilt-series)")
    np.testing.assert_array_equal(np.asarray(layer.data[5]), series[5])
    assert not_blank(viewer.screenshot(canvas_only=True, flash=False))


def test_pyramid_levels_are_binned_sections(large_mrc):
    path, data = large_mrc
    volume = Volume.open(LocalFile(path))
    levels = pyramid(volume)
    assert [level.shape for level in levels] == [(30, 600, 520), (30, 300, 260)]
    assert all(level.dtype == np.int16 and level.chunks[0] == (1,) * 30 for level in levels)
    np.testing.assert_array_equal(levels[1][12].compute(), np.rint(bin_image(data[12], 2)).astype(np.int16))
    assert [level.shape[1] for level in pyramid(volume, min_size=100)] == [600, 300, 150]


def test_first_frame_reads_a_small_fraction(large_mrc, viewer):
    path, data = large_mrc
    volume = Volume.open(LocalFile(path))
    layer = view(volume, viewer)
    assert layer.multiscale and len(layer.data) == 2
    np.testing.assert_allclose(layer.scale, (6.0, 4.5, 4.5))
    assert not_blank(viewer.screenshot(canvas_only=True, flash=False))
    np.testing.assert_array_equal(np.asarray(layer.data[0][29]), data[29])
    # the contrast sample and the section shown, plus read-ahead: far from all 30 sections
    assert volume.bytes_read <= 8 * volume.header.slice_bytes


def test_view_makes_a_viewer(demo, xserver):
    import napari

    layer = view(etdb.open_tomogram(demo.datasets.iloc[2]))
    made = napari.current_viewer()
    try:
        assert made is not None and layer in made.layers
    finally:
        made.close()


def test_layer_data_without_voxel_size_uses_pixels(tmp_path):
    path = tmp_path / "plain.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.arange(4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8))
    data, kwargs, kind = layer_data(Volume.open(LocalFile(path)))
    assert kind == "image" and kwargs["scale"] == (1.0, 1.0, 1.0) and kwargs["units"] == ("pixel",) * 3
    assert kwargs["name"] == "plain.mrc" and not kwargs["multiscale"]
    np.testing.assert_array_equal(np.asarray(data), np.arange(256, dtype=np.float32).reshape(4, 8, 8))


def test_contrast_limits_leave_out_nan_and_inf(tmp_path):
    """A float tomogram whose central section holds NaN and ±inf still gets finite limits from its finite values."""
    data = np.linspace(-1, 1, 3 * 20 * 20, dtype=np.float32).reshape(3, 20, 20)
    data[1, :4] = np.nan
    data[1, 4, :3] = np.inf
    data[1, 5, :3] = -np.inf
    path = tmp_path / "holes.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
    _, kwargs, _ = layer_data(Volume.open(LocalFile(path)))
    finite = data[1][np.isfinite(data[1])]
    np.testing.assert_allclose(kwargs["contrast_limits"], np.percentile(finite, (0.5, 99.5)), rtol=1e-6)
    data[1] = np.nan
    data[1, 0, 0] = 2.5
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
    _, kwargs, _ = layer_data(Volume.open(LocalFile(path)))
    assert kwargs["contrast_limits"] == (2.5, 3.5)  # one finite value: a window of width 1 at it

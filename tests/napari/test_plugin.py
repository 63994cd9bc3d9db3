"""The npe2 plugin: its manifest, the reader of etdb:// and /ipfs/ paths, and the index-browsing dock widget."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import tomllib

import etdb_explore as etdb
from etdb_explore.errors import EtdbError
from etdb_explore.napari.browser import ANY_SPECIES, IndexDock, parse_range
from etdb_explore.napari.reader import get_reader, open_path
from etdb_explore.volumes.tiltseries import TiltSeries

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest():
    """The plugin's manifest as the entry point names it, registered with npe2 (if the install has not)."""
    from npe2 import PluginManager, PluginManifest

    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["napari.manifest"]
    package, _, filename = entry["etdb-explore"].partition(":")
    manifest = PluginManifest.from_file(resources.files(package) / filename)
    manifest.validate_imports()
    manager = PluginManager.instance()
    manager.discover()
    if "etdb-explore" not in {m.name for m in manager.iter_manifests()}:  # the install predates the entry point
        manager.register(manifest)
    return manifest


def files_of(demo, subtype):
    return demo.files[demo.files["subtype"] == subtype]["ipfs_path"].tolist()


def test_manifest_declares_reader_and_widget(manifest):
    assert manifest.name == "etdb-explore"
    assert [r.command for r in manifest.contributions.readers] == ["etdb-explore.get_reader"]
    assert [w.command for w in manifest.contributions.widgets] == ["etdb-explore.browser"]


def test_reader_accepts_only_ipfs_paths(demo):
    rec = files_of(demo, "reconstruction")[0]
    assert get_reader(f"etdb://{rec}") is not None and get_reader(f"/ipfs/{rec}") is not None
    assert get_reader([f"/ipfs/{rec}", f"ipfs://{rec}"]) is not None
    for other in ("/tmp/cells.tif", "etdb://not-a-cid/x.rec", ["/ipfs/" + rec, "/tmp/x.mrc"], [], 3):
        assert get_reader(other) is None


def test_open_path_tells_tilt_series_from_tomograms(demo):
    assert isinstance(open_path("/ipfs/" + files_of(demo, "tiltseries")[0]), TiltSeries)
    tomogram = open_path("etdb://" + files_of(demo, "reconstruction")[0])
    assert type(tomogram) is etdb.Volume


def test_viewer_opens_paths_with_the_plugin(demo, manifest, viewer):
    path = files_of(demo, "reconstruction")[3]
    layers = viewer.open(f"etdb://{path}", plugin="etdb-explore")
    assert len(layers) == 1 and tuple(layers[0].axis_labels) == ("z", "y", "x")
    volume = etdb.open_tomogram(path)
    np.testing.assert_array_equal(np.asarray(layers[0].data[7]), volume[7])
    series = viewer.open("ipfs://" + files_of(demo, "tiltseries")[3], plugin="etdb-explore")
    assert tuple(series[0].axis_labels) == ("angle", "y", "x") and series[0].metadata["tilt_angles"] is not None


def test_npe2_reads_ipfs_paths(demo, manifest):
    """``/ipfs/…`` paths reach the reader through npe2 (napari's own ``open`` first wants such a path to exist, as
    on a machine with /ipfs mounted)."""
    import npe2

    path = files_of(demo, "reconstruction")[2]
    (data, kwargs, kind), = npe2.read(["/ipfs/" + path], stack=False, plugin_name="etdb-explore")
    assert kind == "image" and kwargs["axis_labels"] == ("z", "y", "x")
    np.testing.assert_array_equal(np.asarray(data[3]), etdb.open_tomogram(path)[3])


def test_parse_range():
    assert parse_range("", "tilt") is None and parse_range("  ", "tilt") is None
    assert parse_range("-60:60", "tilt") == (-60.0, 60.0)
    assert parse_range("-8, -4", "defocus") == (-8.0, -4.0)
    assert parse_range("-8 -4", "defocus") == (-8.0, -4.0)
    assert parse_range(":60", "tilt") == (None, 60.0) and parse_range("1e1:", "x") == (10.0, None)
    for bad in ("abc", "60", "1:2:3", "--1:2"):
        with pytest.raises(EtdbError, match="tilt"):
            parse_range(bad, "tilt")


def test_browser_filters_and_opens(demo, manifest, viewer, tmp_path):
    widget = IndexDock(viewer)
    viewer.window.add_dock_widget(widget, name="ETDB browser")
    assert widget.model.rowCount() == 0
    demo.to_snapshot(tmp_path / "snap")
    widget.source.setText(str(tmp_path / "snap"))
    widget.load_source()
    assert widget.model.rowCount() == len(demo)
    assert widget.status.text() == f"{len(demo)} of {len(demo)} datasets"

    widget.species.setCurrentText("Vibrio cholerae")
    expected = demo.filter(species="Vibrio cholerae")
    assert 0 < widget.model.rowCount() == len(expected) < len(demo)
    widget.tilt.setText("-60:60")
    widget.defocus.setText("-5:")
    expected = demo.filter(species="Vibrio cholerae", tilt_range=(-60, 60), defocus=(-5, None))
    assert widget.model.rowCount() == len(expected)
    widget.tilt.setText("sixty")
    assert "tilt range" in widget.status.text() and widget.model.rowCount() == len(expected)
    widget.tilt.setText("")
    widget.defocus.setText("")
    widget.text.setText("motor")
    expected = demo.filter(species="Vibrio cholerae", text="motor")
    assert widget.model.rowCount() == len(expected) > 0
    shown = [widget.model.data(widget.model.index(i, 7)) for i in range(widget.model.rowCount())]
    assert shown == expected.datasets["txid"].tolist()

    widget.table.selectRow(0)
    layers = widget.open_selected("tomogram")
    assert len(layers) == 1 and layers[0].metadata["etdb"]["txid"] == shown[0]
    np.testing.assert_array_equal(np.asarray(layers[0].data[4]), etdb.open_tomogram(shown[0], index=demo)[4])
    layers = widget.open_selected("tilt-series")
    assert tuple(layers[0].axis_labels) == ("angle", "y", "x")
    assert widget.status.text() == "opened 1 tilt-series"


def test_browser_sorts_and_reports_bad_sources(demo, viewer, tmp_path):
    widget = IndexDock(viewer, index=demo)
    assert widget.species.itemText(0) == ANY_SPECIES
    widget.model.sort(widget.model.columns.index("defocus"))
    values = [float(widget.model.data(widget.model.index(i, 5)) or "nan") for i in range(widget.model.rowCount())]
    finite = [v for v in values if not np.isnan(v)]
    assert finite == sorted(finite)
    widget.source.setText(str(tmp_path / "nothing-here"))
    widget.load_source()
    assert "nothing-here" in widget.status.text() and widget.model.rowCount() == len(demo)
    widget.close()

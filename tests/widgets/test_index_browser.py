"""IndexBrowser through its traits and messages (what the front end sends and receives), on a synthetic index of
signed records and on the small demo ETDB, whose key images are read verified from the local IPFS store."""

from __future__ import annotations

import asyncio
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from etdb_explore import Index
from etdb_explore.content.client import Client
from etdb_explore.demo.sample import synthetic_records
from etdb_explore.widgets import key_images
from etdb_explore.widgets.index_browser import IndexBrowser
from etdb_explore.widgets.index_query import FilterError


@pytest.fixture(scope="module")
def index() -> Index:
    return Index.from_records(json.loads(json.dumps(synthetic_records(600, seed=11))))


@pytest.fixture
def browser(index):
    b = IndexBrowser(index)
    yield b
    b.close()


def _all_rows(b: IndexBrowser) -> list[list[str]]:
    rows = []
    for page in range(b.table["pages"]):
        b.page = page
        rows += b.table["rows"]
    return rows


ALL_FILTERS = {"species": ["Vibrio cholerae", "Escherichia coli"], "microscope": ["Caltech Polara"],
               "tilt_range": [-50, 50], "defocus": [-10, -2], "date": ["2009-03-01", None], "text": "motor"}


def test_filters_drive_index_mask_and_selection_is_the_filtered_index(browser, index):
    browser.filters = ALL_FILTERS
    expected = index.filter(species=["Vibrio cholerae", "Escherichia coli"], microscope="Caltech Polara",
                            tilt_range=(-50, 50), defocus=(-10, -2), date=("2009-03-01", None), text="motor")
    assert 0 < len(expected) < len(index)
    assert browser.table["total"] == len(expected) == len(browser.selection)
    assert list(browser.selection.datasets.txid) == list(expected.datasets.txid)
    assert [r[0] for r in _all_rows(browser)] == list(expected.datasets.txid)
    assert set(browser.selection.files.txid) == set(expected.datasets.txid)
    assert browser.table["bytes"] == int(expected.datasets.total_bytes.sum())
    browser.filters = {**ALL_FILTERS, "species": [], "text": "  "}  # empty entries restrict nothing
    assert browser.table["total"] == len(index.filter(microscope="Caltech Polara", tilt_range=(-50, 50),
                                                      defocus=(-10, -2), date=("2009-03-01", None)))
    browser.filters = {}
    assert browser.table["total"] == len(index) and browser.selection is not expected


def test_facet_counts_are_among_the_other_filters_matches(browser, index):
    browser.filters = {"species": ["Vibrio cholerae"], "microscope": ["Caltech Polara"], "defocus": [-9, -3]}
    others = index.filter(microscope="Caltech Polara", defocus=(-9, -3)).datasets
    expected = others.species.astype("string").value_counts()
    got = dict(map(tuple, browser.facets["species"]))
    assert got == {name: int(n) for name, n in expected.items()}
    counts = [n for _, n in browser.facets["species"]]
    assert counts == sorted(counts, reverse=True)
    scopes = index.filter(species="Vibrio cholerae", defocus=(-9, -3)).datasets.microscope.astype("string")
    assert dict(map(tuple, browser.facets["microscope"])) == {k: int(v) for k, v in scopes.value_counts().items()}
    browser.filters = {"species": ["Vibrio cholerae"], "text": "no dataset says this"}
    assert browser.facets["species"] == [["Vibrio cholerae", 0]]  # a chosen name stays listed at zero


def test_sorted_pages_hold_every_row_once_missing_values_last(browser, index):
    browser.page_size = 50
    browser.sort = {"column": "defocus", "ascending": False}
    assert browser.page == 0 and len(browser.table["rows"]) == 50  # only the visible page is sent
    rows = _all_rows(browser)
    ds = index.datasets.set_index("txid")
    order = ds.loc[[r[0] for r in rows], "defocus"].to_numpy(dtype="float64", na_value=np.nan)
    assert len(rows) == len(index) and len({r[0] for r in rows}) == len(index)
    known = order[~np.isnan(order)]
    assert (np.diff(known) <= 0).all() and np.isnan(order[len(known):]).all()
    browser.sort = {"column": "title", "ascending": True}
    titles = [r[1] for r in _all_rows(browser)]
    assert titles == sorted(titles, key=str.lower)
    browser.sort = {"column": "tilt", "ascending": True}
    spans = (ds.tilt_max - ds.tilt_min).loc[[r[0] for r in _all_rows(browser)]].dropna().to_numpy()
    assert (np.diff(spans) >= 0).all()


def test_paging_is_clamped_and_a_filter_returns_to_the_first_page(browser, index):
    browser.page_size = 25
    browser.page = 10_000
    assert browser.page == browser.table["page"] == browser.table["pages"] - 1 == -(-len(index) // 25) - 1
    assert len(browser.table["rows"]) == len(index) - 25 * browser.page
    browser.filters = {"microscope": ["Caltech Polara"]}
    assert browser.page == browser.table["page"] == 0


@pytest.mark.parametrize("filters, culprit", [
    ({"specie": ["x"]}, "specie"), ({"species": "Vibrio"}, "species"), ({"tilt_range": [-60]}, "tilt_range"),
    ({"tilt_range": [None, 60]}, "tilt_range"), ({"defocus": [float("nan"), 1]}, "defocus"),
    ({"defocus": [True, 1]}, "defocus"), ({"date": ["last year", None]}, "date"), ({"text": 5}, "text"),
    ({"species": ["x"] * 5000}, "species"),
])
def test_bad_filter_state_is_refused_naming_the_field(browser, filters, culprit):
    before = browser.table
    with pytest.raises(FilterError, match=culprit):
        browser.filters = filters
    assert browser.table == before and browser.filters == {}


def test_bad_sort_page_size_and_selection_are_refused(browser):
    with pytest.raises(FilterError, match="sort"):
        browser.sort = {"column": "bogus", "ascending": True}
    with pytest.raises(FilterError, match="page_size"):
        browser.page_size = 0
    with pytest.raises(FilterError, match="no dataset"):
        browser.selected = "ffff"


def test_static_fallback_shows_counts_and_escaped_rows(index):
    records = synthetic_records(3, seed=2)
    records[0]["artifact"]["info"]["title"] = "<script>alert(1)</script> motor"
    b = IndexBrowser(Index.from_records(json.loads(json.dumps(records))))
    try:
        page = b.fallback_html()
        assert "<b>3</b> of 3 datasets" in page and "&lt;script&gt;" in page and "<script>" not in page
        b.filters = {"text": "motor"}
        assert "<b>1</b> of 3 datasets" in b.fallback_html()
    finally:
        b.close()


# ---- key images, viewers and downloads on the demo ETDB (a running loop, as in a kernel) -------------------------


async def _until(predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


def _image_path(demo: Index, txid: str) -> str:
    files = demo.files[demo.files.txid == txid]
    return files[files.subtype == "keyimg"].ipfs_path.iloc[0]


async def test_selecting_a_row_reads_its_key_image_verified_off_the_loop(demo):
    b = IndexBrowser(demo)
    try:
        first, second = b.table["rows"][0][0], b.table["rows"][1][0]
        b.selected = first
        assert b.image_info == {"txid": first, "path": _image_path(demo, first), "loading": True}
        b.selected = second  # a newer selection wins, whatever arrives first
        await _until(lambda: not b.image_info.get("loading"))
        await asyncio.sleep(0.2)
        assert b.image_info["txid"] == second and b.image_info["mime"] == "image/jpeg"
        assert b.image == Client().read(_image_path(demo, second))
        assert Image.open(io.BytesIO(b.image)).size[0] > 0
        b.selected = ""
        assert b.image == b"" and b.image_info == {}
    finally:
        b.close()


async def test_key_image_errors_are_shown_in_the_widget(demo, monkeypatch):
    b = IndexBrowser(demo)
    try:
        monkeypatch.setattr(key_images, "MAX_IMAGE_BYTES", 100)
        b.selected = b.table["rows"][0][0]
        await _until(lambda: not b.image_info.get("loading"))
        assert "ImageError" in b.image_info["error"] and "at most 100" in b.image_info["error"]
        assert b.image == b""
    finally:
        b.close()


def test_a_dataset_without_image_or_with_a_non_image_is_named(demo):
    txid = demo.datasets.txid.iloc[0]
    no_images = demo.files[~demo.files.subtype.isin(["keyimg", "thumbnail"])]
    bare = Index(demo.datasets, no_images.reset_index(drop=True), demo.rejected)
    with pytest.raises(key_images.ImageError, match=txid):
        key_images.image_path(bare, txid)
    with pytest.raises(key_images.ImageError, match="x/notes.txt"):
        key_images.image_type(b"plain text", "x/notes.txt")
    assert key_images.image_type(b"\x89PNG\r\n\x1a\n....", "a.png") == "image/png"
    assert key_images.image_type(b"RIFF\0\0\0\0WEBPVP8 ", "a.webp") == "image/webp"


async def test_a_missing_key_image_is_an_error_in_the_widget(demo, tmp_path):
    """A client whose store lacks the demo's blocks (and whose gateway is a closed port) fails: shown, not raised."""
    client = Client(tmp_path / "empty-store", ["http://127.0.0.1:9"])
    b = IndexBrowser(demo, client=client)
    try:
        b.selected = b.table["rows"][0][0]
        await _until(lambda: not b.image_info.get("loading"))
        assert b.image_info["error"] and b.image == b""
    finally:
        b.close()
        client.close()


async def test_download_button_fetches_the_selection_with_progress(demo, tmp_path):
    b = IndexBrowser(demo)
    seen = []
    b.observe(lambda change: seen.append(change["new"]), names="task")
    try:
        b.filters = {"species": ["Vibrio cholerae"]}
        b._handle_custom_msg({"action": "download", "kinds": "images", "dest": str(tmp_path / "dl")}, [])
        assert b.task["name"] == "download"
        await _until(lambda: not b.task)
        assert b.error == "" and "2 datasets" not in b.error
        files = sorted(p.name for p in (tmp_path / "dl").rglob("*.jpg"))
        assert len(files) == 2 * len(b.selection) == 4 and "4 fetched" in b.message
        last = [t for t in seen if t][-1]
        expected_bytes = int(b.selection.files_of("images").fsize.sum())
        assert last["bytes"] == [expected_bytes, expected_bytes] and last["files"] == [4, 4]
        b._handle_custom_msg({"action": "download", "kinds": "bogus", "dest": str(tmp_path / "dl")}, [])
        assert "bogus" in b.error and not b.task
    finally:
        b.close()


async def test_download_of_only_the_selected_dataset(demo, tmp_path):
    b = IndexBrowser(demo)
    try:
        b._handle_custom_msg({"action": "download", "only_selected": True, "dest": str(tmp_path / "dl")}, [])
        assert "select a dataset" in b.error
        b.selected = b.table["rows"][3][0]
        b._handle_custom_msg({"action": "download", "kinds": "images", "only_selected": True,
                              "dest": str(tmp_path / "dl")}, [])
        await _until(lambda: not b.task)
        assert "2 fetched" in b.message and len(list((tmp_path / "dl").rglob("*.jpg"))) == 2
    finally:
        b.close()


def test_viewer_needs_a_selection_and_a_known_kind(demo):
    b = IndexBrowser(demo)
    try:
        b._handle_custom_msg({"action": "view", "what": "tomogram"}, [])
        assert "select a dataset" in b.error
        b.selected = b.table["rows"][0][0]
        b._handle_custom_msg({"action": "view", "what": "hologram"}, [])
        assert "hologram" in b.error and b.viewer is None
    finally:
        b.close()


def test_rows_format_missing_values_as_blank(index):
    records = synthetic_records(2, seed=5)
    for key in ("defocus", "tiltMin"):
        records[0]["artifact"]["details"].pop(key, None)
    b = IndexBrowser(Index.from_records(json.loads(json.dumps(records))))
    try:
        row = next(r for r in b.table["rows"] if r[0] == records[0]["meta"]["txid"])
        assert row[3] == "" and row[4] == "" and pd.Timestamp(row[6])
    finally:
        b.close()

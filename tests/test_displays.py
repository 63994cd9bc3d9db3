"""Rich notebook displays: short HTML summaries instead of walls of txids, counts as tables, figures as PNG."""

from __future__ import annotations

from html.parser import HTMLParser

import etdb_explore as etdb
from etdb_explore.util import html


class Cells(HTMLParser):
    """The text of every table cell and caption of an HTML fragment (which must parse with balanced tags)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.open: list[str] = []
        self.feed(text)
        self.close()
        assert not self.open, f"unclosed tags {self.open}"

    def handle_starttag(self, tag, attrs):
        self.open.append(tag)
        if tag in ("td", "th", "b"):
            self.cells.append("")

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, f"</{tag}> does not close <{self.open[-1:]}>"

    def handle_data(self, data):
        if self.open and self.open[-1] in ("td", "th", "b"):
            self.cells[-1] += data


def test_index_html_is_a_summary_not_every_txid(demo):
    text = demo._repr_html_()
    cells = Cells(text).cells
    assert f"Index {demo.source}" in cells and str(len(demo)) in cells
    assert "Vibrio cholerae (2)" in " ".join(cells)
    txids = demo.datasets["txid"].tolist()
    assert sum(t in text for t in txids) == 0  # full txids never; the first five shortened
    assert sum(t[:12] + "…" in cells for t in txids) == 5
    assert f"first 5 of {len(demo)} datasets (.datasets has them all)" in cells


def test_html_escapes_record_text(demo):
    hostile = demo.datasets.copy()
    hostile.loc[0, "title"] = "<script>alert(1)</script>"
    index = etdb.Index(hostile, demo.files, demo.rejected, "x<y>")
    text = index._repr_html_()
    assert "<script>" not in text and "&lt;script&gt;" in text and "Index x<y>" in Cells(text).cells


def test_counts_show_as_a_table(demo):
    counts = demo.counts("species")
    assert counts.sum() == len(demo) and counts.name == "datasets"
    text = counts._repr_html_()
    assert "<table" in text and "Vibrio cholerae" in text
    assert "<table" in counts.head(3)._repr_html_()


def test_volume_and_tiltseries_html(demo):
    row = demo.datasets.iloc[0]
    volume = etdb.open_tomogram(row)
    cells = Cells(volume._repr_html_()).cells
    nz, ny, nx = volume.shape
    assert f"{nz} × {ny} × {nx} (z, y, x)" in cells and row["title"] in cells and row["txid"][:12] + "…" in cells
    assert html.short_path(volume.source.name) in cells and volume.source.name.split("/")[0] not in " ".join(cells)
    series = etdb.open_tiltseries(row)
    cells = Cells(series._repr_html_()).cells
    assert any(c.startswith(f"{series.angles.min():g}° … {series.angles.max():g}°, {len(series.angles)} images")
               for c in cells)
    assert any("(angle, y, x)" in c for c in cells)


def test_download_report_is_short(demo, tmp_path):
    report = etdb.download(demo, kinds=["reconstructions"], dest=tmp_path / "data", progress=False)
    assert repr(report) == (f"<DownloadReport {tmp_path / 'data'}: {len(demo)} fetched, 0 skipped, 0 failed, "
                            f"{html.size(report.bytes)} moved>")
    cells = Cells(report._repr_html_()).cells
    assert "Download complete" in cells and "reconstruction" in cells and str(len(demo)) in cells
    report.failed = {f"Qm{i:044d}/x{i}.mrc": "refused" for i in range(13)}
    cells = Cells(report._repr_html_()).cells
    assert "Download incomplete" in cells and "3 more in .failed" in cells and cells.count("refused") == 10


def test_figures_render_as_png_without_pyplot(demo):
    for figure in (demo.plot_tilt_coverage(), demo.plot_defocus()):
        png = figure._repr_png_()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_html_helpers():
    assert html.short("abcdefghijklmnop", 4) == "abcd…" and html.short("abcde", 4) == "abcde"
    assert html.size(999) == "999 B" and html.size(1_500_000) == "1.5 MB" and html.size(2e12) == "2.0 TB"
    assert html.listing(list(range(7)), 3) == "0, 1, 2, … 4 more"

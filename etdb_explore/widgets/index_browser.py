"""``IndexBrowser(index)``: filter, sort and page an ETDB index in a notebook, look at a dataset's key image, open it in
a viewer or download it; ``browser.selection`` is the filtered :class:`Index`, for the next cell.

The front end (``widgets/index_browser.js``) owns the controls and sends the state as traits: ``filters`` (the
criteria of :meth:`Index.mask` as JSON), ``sort``, ``page``, ``page_size`` and ``selected`` (a txid). Python answers
with ``facets`` (counts per species and microscope), ``table`` (only the visible page), the key image, and messages.
Slow work (reading a key image, opening a volume, downloading) runs on etdb-explore's I/O loop
(:mod:`etdb_explore.util.bridge`), never on the kernel's: the kernel keeps answering, and results are applied on the
kernel's loop. Outside a running event loop (a plain script) the same work is simply waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets
from tqdm.std import tqdm

from etdb_explore.content.client import Client, default_client
from etdb_explore.datasets.download import DownloadReport, adownload
from etdb_explore.errors import EtdbError
from etdb_explore.records.kinds import normalize_kinds
from etdb_explore.widgets import index_query
from etdb_explore.widgets.base import FRONTEND, EtdbWidget, describe
from etdb_explore.widgets.key_images import aread_image, image_path

if TYPE_CHECKING:
    import concurrent.futures

    from etdb_explore.index.index import Index

FALLBACK_ROWS = 20  # rows of the static table shown without a live front end
VIEWS = ("tomogram", "tiltseries")


class IndexBrowser(EtdbWidget):
    """A notebook browser of an :class:`Index`: species and microscope multi-selects with counts, tilt-range,
    defocus and date ranges and a free-text filter, all driving :meth:`Index.mask`; a sortable, paginated table (only
    the visible page is sent to the page); the selected dataset's key image, read verified from IPFS; buttons to open
    it in a viewer (shown below the table, kept as :attr:`viewer`) and to download the selection with progress.

    Args:
        index: the index to browse.
        client: the content client key images, viewers and downloads read through (default: the default client).
        page_size: rows per page.

    ``browser.selection`` is the filtered :class:`Index`; ``browser.filters = {"species": ["Vibrio cholerae"],
    "tilt_range": [-60, 60]}`` sets filters from Python (keys: species, microscope, tilt_range, defocus, date, text).
    Without a live front end it shows a static HTML table with the counts.
    """

    _esm = FRONTEND / "index_browser.js"
    _css = FRONTEND / "index_browser.css"

    filters = traitlets.Dict().tag(sync=True)
    sort = traitlets.Dict({"column": "", "ascending": True}).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(25).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)

    limits = traitlets.Dict().tag(sync=True)  # what the range sliders span
    facets = traitlets.Dict().tag(sync=True)  # datasets per species / microscope among the other criteria' matches
    table = traitlets.Dict().tag(sync=True)  # the visible page (see index_query.Query.page) and a "version"
    image = traitlets.Bytes(b"").tag(sync=True)  # the selected dataset's key image (sent as a binary buffer)
    image_info = traitlets.Dict().tag(sync=True)  # {"txid", "path", "mime", "loading", "error"}
    task = traitlets.Dict().tag(sync=True)  # a running download: {"name", "bytes": [n, total], "files": [n, total]}
    message = traitlets.Unicode("").tag(sync=True)  # what the last action did
    error = traitlets.Unicode("").tag(sync=True)  # why the last action failed
    viewer = anywidget.WidgetTrait().tag(sync=True)  # the viewer opened last, shown below the table

    def __init__(self, index: Index, *, client: Client | None = None, page_size: int = 25) -> None:
        self._index = index
        self._client = client
        self._query = index_query.Query(index)
        self._mask = self._query.update({})
        self._selection: Index | None = index
        self._image_seq = 0
        self._shown = 0
        self._download: concurrent.futures.Future | None = None
        super().__init__(page_size=page_size, limits=index_query.limits(index))
        self.facets = self._query.facets()
        self._show(0)
        self.on_msg(self._on_action)

    def __repr__(self) -> str:
        return f"<IndexBrowser of {self._index!r}: {int(self._mask.sum())} datasets selected>"

    # ---- the selection --------------------------------------------------------------------------------------------

    @property
    def index(self) -> Index:
        """The index being browsed."""
        return self._index

    @property
    def selection(self) -> Index:
        """The datasets matching the current filters, as a new :class:`Index` (made on first use after a change)."""
        if self._selection is None:
            self._selection = self._index.select(self._mask)
        return self._selection

    @traitlets.validate("filters")
    def _valid_filters(self, proposal: dict[str, Any]) -> dict[str, Any]:
        index_query.criteria(proposal["value"])
        return proposal["value"]

    @traitlets.validate("sort")
    def _valid_sort(self, proposal: dict[str, Any]) -> dict[str, Any]:
        return index_query.check_sort(proposal["value"])

    @traitlets.validate("page_size")
    def _valid_page_size(self, proposal: dict[str, Any]) -> int:
        if not 1 <= proposal["value"] <= max(index_query.PAGE_SIZES):
            raise index_query.FilterError(f"page_size must be 1..{max(index_query.PAGE_SIZES)}, "
                                          f"not {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("selected")
    def _valid_selected(self, proposal: dict[str, Any]) -> str:
        txid = proposal["value"]
        if txid and not (self._index.datasets["txid"] == txid).any():
            raise index_query.FilterError(f"no dataset of {self._index!r} has txid {txid!r}")
        return txid

    @traitlets.observe("filters")
    def _filters_changed(self, change: dict[str, Any]) -> None:
        try:
            self._mask = self._query.update(index_query.criteria(change["new"]))
        except ValueError as exc:  # a date pandas cannot place: shown, the previous selection stays
            self.error = f"filter not applied: {exc}"
            return
        self._selection = None
        with self.hold_sync():
            self.error = ""
            self.facets = self._query.facets()
            self._goto(0)

    @traitlets.observe("sort", "page_size")
    def _order_changed(self, change: dict[str, Any]) -> None:
        self._goto(0)

    @traitlets.observe("page")
    def _page_changed(self, change: dict[str, Any]) -> None:
        self._show(change["new"])

    def _goto(self, page: int) -> None:
        if self.page != page:
            self.page = page  # the observer shows it
        else:
            self._show(page)

    def _show(self, page: int) -> None:
        table = self._query.page(self._mask, self.sort, page, self.page_size)
        self._shown += 1
        self.table = {**table, "version": self._shown}  # always a change: every request is answered
        if table["page"] != self.page:  # clamped to the last page
            self.page = table["page"]

    # ---- background work ------------------------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The content client key images, viewers and downloads read through."""
        return self._client or default_client()

    # ---- key image ------------------------------------------------------------------------------------------------

    @traitlets.observe("selected")
    def _selected_changed(self, change: dict[str, Any]) -> None:
        self._image_seq += 1
        seq, txid = self._image_seq, change["new"]
        if not txid:
            self.image, self.image_info = b"", {}
            return
        try:
            path = image_path(self._index, txid)
        except EtdbError as exc:
            self.image, self.image_info = b"", {"txid": txid, "error": str(exc)}
            return
        self.image_info = {"txid": txid, "path": path, "loading": True}

        def done(result: tuple[bytes, str] | None, exc: BaseException | None) -> None:
            if seq != self._image_seq:  # another dataset was selected meanwhile: the newest wins
                return
            with self.hold_sync():
                if exc is not None:
                    self.image, self.image_info = b"", {"txid": txid, "path": path, "error": describe(exc)}
                else:
                    data, mime = result
                    self.image, self.image_info = data, {"txid": txid, "path": path, "mime": mime}

        self._start(aread_image(self.client, path), done)

    # ---- actions from the buttons ---------------------------------------------------------------------------------

    def _on_action(self, widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        action = content.get("action")
        if action == "view":
            self.open_viewer(str(content.get("what", "")))
        elif action == "download":
            self.start_download(kinds=content.get("kinds") or None, dest=str(content.get("dest") or "etdb-download"),
                                only_selected=bool(content.get("only_selected")))
        elif action == "cancel" and self._download is not None:
            self._download.cancel()

    def open_viewer(self, what: str = "tomogram") -> None:
        """Open the selected dataset's tomogram (``"tomogram"``) or tilt-series (``"tiltseries"``) in a viewer, shown
        below the table and kept as :attr:`viewer`; the volume is opened off the kernel's loop. Errors are shown in
        the widget (:attr:`error`)."""
        from etdb_explore.volumes.open import open_tiltseries, open_tomogram

        if what not in VIEWS:
            self.error = f"cannot view {what!r}: choose one of {', '.join(VIEWS)}"
            return
        if not self.selected:
            self.error = "select a dataset in the table first"
            return
        opener = open_tomogram if what == "tomogram" else open_tiltseries
        txid = self.selected
        self.error, self.message = "", f"opening the {what} of {txid[:12]}…"

        async def job() -> Any:
            return await asyncio.to_thread(opener, txid, index=self._index, client=self.client)

        def done(volume: Any, exc: BaseException | None) -> None:
            if exc is not None:
                self.message, self.error = "", f"could not open the {what} of {txid[:12]}: {describe(exc)}"
                return
            old, self.viewer = self.viewer, volume.view()
            self.message = f"{what} of {txid[:12]}: {volume!r}"
            if old is not None:
                old.close()

        self._start(job(), done)

    def start_download(self, kinds: str | list[str] | None = None, dest: str | Path = "etdb-download",
                       only_selected: bool = False) -> None:
        """Download the selection (or only the selected dataset) in the background, with progress in the widget
        (:attr:`task`) and the outcome in :attr:`message` / :attr:`error`; see :func:`etdb_explore.download`."""
        if self._download is not None and not self._download.done():
            self.error = "a download is running; cancel it first"
            return
        try:
            normalize_kinds(kinds)
        except EtdbError as exc:
            self.error = str(exc)
            return
        if only_selected and not self.selected:
            self.error = "select a dataset in the table first"
            return
        target = self._index.select((self._index.datasets["txid"] == self.selected).to_numpy(dtype=bool)) \
            if only_selected else self.selection
        self.error, self.message = "", f"downloading {len(target)} datasets to {dest}"
        self.task = {"name": "download", "bytes": [0, 0], "files": [0, 0]}
        bars = _bars_for(self)

        def done(report: DownloadReport | None, exc: BaseException | None) -> None:
            self._download = None
            self.task = {}
            if exc is not None:
                self.message = ""
                self.error = "download cancelled (resume it by downloading again)" \
                    if isinstance(exc, asyncio.CancelledError) else f"download failed: {describe(exc)}"
                return
            self.message = (f"downloaded to {report.dest}: {len(report.fetched)} fetched, {len(report.skipped)} "
                            f"already there, {len(report.failed)} failed")
            self.error = "; ".join(f"{path}: {why}" for path, why in list(report.failed.items())[:5])

        self._download = self._start(adownload(target, kinds=kinds, dest=dest, client=self._client,
                                               progress=bars), done)

    def _progress(self, desc: str, n: float, total: float | None) -> None:
        """On the kernel's loop: one bar of the running download moved."""
        if self.task and desc in ("bytes", "files"):
            self.task = {**self.task, desc: [int(n), int(total or 0)]}

    # ---- lifetime and static display ------------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel running work, close the viewer, and close the widget."""
        if self.viewer is not None:
            self.viewer.close()
        super().close()

    def fallback_html(self) -> str:
        """What a page without a live front end shows: counts and the first rows of the table, as static HTML.

        Returns:
            An HTML fragment (every value escaped).
        """
        table = self.table
        head = "".join(f"<th>{html.escape(label)}</th>" for _, label in table["columns"])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row[1:]) + "</tr>"
                       for row in table["rows"][:FALLBACK_ROWS])
        species = ", ".join(f"{html.escape(name)} ({n})" for name, n in self.facets["species"][:10])
        more = table["total"] - min(len(table["rows"]), FALLBACK_ROWS)
        return (f"<div class='etdb-index-browser-static'><p><b>{table['total']}</b> of {len(self._index)} datasets "
                f"({index_query.human_bytes(table['bytes'])}); species: {species}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                + (f"<p>… and {more} more</p>" if more > 0 else "") + "</div>")


def _bars_for(browser: IndexBrowser) -> type:
    """A tqdm class whose bars report to ``browser`` (on the kernel's loop, or at once without one)."""
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None

    class WidgetBar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("file", io.StringIO())  # nothing is printed: the widget shows the bar
            super().__init__(*args, **kwargs)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            report = (browser._progress, self.desc, self.n, self.total)
            if loop is None:
                report[0](*report[1:])
            else:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(*report)
            return True

    return WidgetBar

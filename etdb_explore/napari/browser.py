"""The plugin's dock widget: browse the ETDB index (species, tilt, defocus, text), open the selection lazily."""

from __future__ import annotations

import re
from typing import Any

from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from etdb_explore.errors import EtdbError
from etdb_explore.index.index import Index
from etdb_explore.napari.layers import view
from etdb_explore.napari.table import FrameModel
from etdb_explore.volumes.open import open_tiltseries, open_tomogram

COLUMNS = ["title", "species", "date", "tilt_min", "tilt_max", "defocus", "microscope", "txid"]
ANY_SPECIES = "(any species)"
_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)?\s*"
_RANGE = re.compile(_NUMBER + r"(?:[:,]|\s\s*)" + _NUMBER + r"|" + _NUMBER)


def parse_range(text: str, what: str) -> tuple[float | None, float | None] | None:
    """``"lo:hi"``, ``"lo, hi"`` or ``"lo hi"`` (either side may be empty) as bounds; blank text means no bound.

    Returns:
        (lo, hi) with None for an open side, or None when ``text`` is blank.

    Raises:
        EtdbError: the text is not such a range (naming ``what`` and the text).
    """
    if not text.strip():
        return None
    match = _RANGE.fullmatch(text)
    if match is None:
        raise EtdbError(f"{what}: {text!r} is not a range like -60:60")
    lo, hi, single = match.groups()
    if single is not None:
        raise EtdbError(f"{what}: {text!r} has one number; write lo:hi (one side may be empty)")
    return (None if lo is None else float(lo), None if hi is None else float(hi))


def load(source: str) -> Index:
    """The index a source field names: blank or ``demo`` for the demo ETDB, else a snapshot folder.

    Returns:
        The :class:`Index` (a snapshot's tables are read as written: load a snapshot you made or trust).

    Raises:
        EtdbError: the folder is not a readable snapshot.
    """
    from etdb_explore import load_index

    source = source.strip()
    return load_index() if source in ("", "demo") else Index.from_snapshot(source)


class IndexDock(QWidget):
    """Filters over an ETDB index, the matching datasets in a table, and buttons that open them in napari.

    Args:
        napari_viewer: the viewer the datasets open in (napari passes it to a dock widget).
        index: the index to browse; when None, the one the source field names is loaded by its "Load" button.
    """

    def __init__(self, napari_viewer: Any, index: Index | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.index: Index | None = None
        self.selection: Index | None = None
        self.source = QLineEdit("demo")
        self.source.setToolTip("demo, or a snapshot folder written by Index.to_snapshot")
        load_button = QPushButton("Load")
        load_button.clicked.connect(self.load_source)
        self.species = QComboBox()
        self.tilt = QLineEdit(placeholderText="covers, e.g. -60:60")
        self.defocus = QLineEdit(placeholderText="µm, e.g. -8:-4")
        self.text = QLineEdit(placeholderText="title, notes, strain, id")
        self.status = QLabel()
        self.model = FrameModel(COLUMNS, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.doubleClicked.connect(lambda _: self.open_selected("tomogram"))
        tomogram = QPushButton("Open tomogram")
        tomogram.clicked.connect(lambda: self.open_selected("tomogram"))
        series = QPushButton("Open tilt-series")
        series.clicked.connect(lambda: self.open_selected("tilt-series"))

        source_row = QHBoxLayout()
        source_row.addWidget(self.source)
        source_row.addWidget(load_button)
        form = QFormLayout()
        form.addRow("Index", source_row)
        form.addRow("Species", self.species)
        form.addRow("Tilt range (°)", self.tilt)
        form.addRow("Defocus", self.defocus)
        form.addRow("Text", self.text)
        buttons = QHBoxLayout()
        buttons.addWidget(tomogram)
        buttons.addWidget(series)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.species.currentIndexChanged.connect(self.apply_filters)
        for field in (self.tilt, self.defocus, self.text):
            field.textChanged.connect(self.apply_filters)
        if index is not None:
            self.set_index(index)

    def load_source(self) -> None:
        """Load the index the source field names and show it (an error goes to the status line)."""
        try:
            self.set_index(load(self.source.text()))
        except EtdbError as exc:
            self._say(str(exc), error=True)

    def set_index(self, index: Index) -> None:
        """Browse ``index``: its species in the species list, all its datasets in the table."""
        self.index = index
        self.species.blockSignals(True)
        self.species.clear()
        self.species.addItems([ANY_SPECIES, *sorted(map(str, index.datasets["species"].dropna().unique()))])
        self.species.blockSignals(False)
        self.apply_filters()

    def apply_filters(self) -> None:
        """Filter the index by the fields and show the matches (a malformed field is named in the status line)."""
        if self.index is None:
            return
        species = self.species.currentText()
        try:
            self.selection = self.index.filter(
                species=None if species in ("", ANY_SPECIES) else species,
                tilt_range=parse_range(self.tilt.text(), "tilt range"),
                defocus=parse_range(self.defocus.text(), "defocus"), text=self.text.text().strip() or None)
        except EtdbError as exc:
            self._say(str(exc), error=True)
            return
        self.model.set_frame(self.selection.datasets)
        self._say(f"{len(self.selection)} of {len(self.index)} datasets")

    def open_selected(self, kind: str = "tomogram") -> list[Any]:
        """Open the selected rows' tomograms (``kind="tomogram"``) or tilt-series lazily in the viewer.

        Returns:
            The layers added (a dataset that cannot be opened is named in the status line instead).
        """
        opener = open_tomogram if kind == "tomogram" else open_tiltseries
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        layers = []
        for i in rows:
            row = self.model.row(i)
            try:
                layers.append(view(opener(row, index=self.index), self.viewer))
            except EtdbError as exc:
                self._say(f"{row['txid'][:12]}…: {exc}", error=True)
                return layers
        if layers:
            self._say(f"opened {len(layers)} {kind}{'s' if len(layers) > 1 else ''}")
        return layers

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #d33" if error else "")

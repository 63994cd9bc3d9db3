"""A Qt table model over a DataFrame's columns: the view asks for the cells it shows, nothing is filled up front."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class FrameModel(QAbstractTableModel):
    """Rows of a DataFrame, showing ``columns``; :meth:`set_frame` swaps the rows in one reset.

    Cells are formatted only when a view asks for them (the visible ones), so a table of 11,000 rows appears as
    fast as one of ten; :meth:`sort` orders the rows with pandas.
    """

    def __init__(self, columns: list[str], parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.frame = pd.DataFrame(columns=self.columns)
        self._values: list[np.ndarray] = []

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Show the rows of ``frame`` (which must have :attr:`columns`)."""
        self.beginResetModel()
        self.frame = frame
        self._values = [frame[c].to_numpy(dtype=object) for c in self.columns]
        self.endResetModel()

    def row(self, i: int) -> pd.Series:
        """The frame's row shown at position ``i``.

        Returns:
            The row, as ``frame.iloc[i]`` (it keeps the frame's tag, so it opens from its Index).
        """
        return self.frame.iloc[i]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008  (Qt's signature)
        """Number of rows (none below a valid parent: a flat table)."""
        return 0 if parent.isValid() else len(self.frame)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of columns shown."""
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """The cell's text for the display and tooltip roles, else None."""
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        return _text(self._values[index.column()][index.row()])

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Column names across the top, row numbers down the side."""
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return self.columns[section] if orientation == Qt.Orientation.Horizontal else str(section + 1)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by a column (missing values last)."""
        ascending = order == Qt.SortOrder.AscendingOrder
        self.set_frame(self.frame.sort_values(self.columns[column], ascending=ascending, na_position="last",
                                              kind="stable"))

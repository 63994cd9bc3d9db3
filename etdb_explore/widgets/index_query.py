"""What the index browser shows, computed from an Index and the browser's state: filter criteria, facet counts, and
one sorted page of the table (only that page goes to the front end, so thousands of rows never reach the page).

The browser's state is JSON from the front end: ``filters`` maps a criterion of :meth:`Index.mask` to a JSON value
(lists of names, ``[lo, hi]`` ranges with ``null`` for an open side, ISO dates, text); ``sort`` names a column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from etdb_explore.errors import EtdbError

if TYPE_CHECKING:
    from etdb_explore.index.index import Index

NAME_FILTERS = ("species", "microscope")  # multi-selects, offered with their counts
RANGE_FILTERS = ("tilt_range", "defocus")  # numeric [lo, hi]
FILTERS = (*NAME_FILTERS, *RANGE_FILTERS, "date", "text")
MAX_NAMES = 1000  # names a multi-select may send
MAX_TEXT = 200  # characters of a free-text filter

# table columns: key, label; the sort keys are built in _sort_key
COLUMNS = (("title", "Title"), ("species", "Species"), ("tilt", "Tilt (°)"), ("defocus", "Defocus (µm)"),
           ("microscope", "Microscope"), ("date", "Date"), ("size", "Size"))
PAGE_SIZES = (10, 25, 50, 100)


class FilterError(EtdbError, ValueError):
    """A filter or sort state the index browser cannot read (names the field and the value)."""


def _names(key: str, value: Any) -> list[str] | None:
    if not isinstance(value, list) or len(value) > MAX_NAMES or not all(isinstance(v, str) for v in value):
        raise FilterError(f"filter {key!r} must be a list of at most {MAX_NAMES} names, not {value!r:.100}")
    return value or None


def _number(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FilterError(f"filter {key!r}: a bound must be a finite number or null, not {value!r:.100}")
    return float(value)


def _date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 32:
        raise FilterError(f"filter 'date': a bound must be an ISO date or null, not {value!r:.100}")
    try:
        pd.Period(value)
    except (ValueError, TypeError) as exc:
        raise FilterError(f"filter 'date': {value!r} is not a date ({exc})") from None
    return value


def _pair(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise FilterError(f"filter {key!r} must be [lo, hi] or null, not {value!r:.100}")
    return value


def criteria(filters: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :meth:`Index.mask` from the browser's ``filters`` state; empty entries are left out.

    Returns:
        ``{criterion: value}`` for the criteria that restrict anything.

    Raises:
        FilterError: an unknown key, or a value of the wrong shape (naming both).
    """
    if not isinstance(filters, dict):
        raise FilterError(f"filters must be a dict, not {type(filters).__name__}")
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if key not in FILTERS:
            raise FilterError(f"unknown filter {key!r}; the index browser filters by {', '.join(FILTERS)}")
        if value is None:
            continue
        if key in NAME_FILTERS:
            names = _names(key, value)
            if names:
                out[key] = names
        elif key in RANGE_FILTERS:
            lo, hi = (_number(key, v) for v in _pair(key, value))
            if key == "tilt_range" and (lo is None or hi is None):
                raise FilterError(f"filter 'tilt_range' needs both bounds, not {value!r}")
            if lo is not None or hi is not None:
                out[key] = (lo, hi)
        elif key == "date":
            lo, hi = (_date(v) for v in _pair(key, value))
            if lo is not None or hi is not None:
                out[key] = (lo, hi)
        else:
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise FilterError(f"filter 'text' must be a string of at most {MAX_TEXT} characters")
            if value.strip():
                out[key] = value.strip()
    return out


def check_sort(sort: dict[str, Any]) -> dict[str, Any]:
    """Check the browser's ``sort`` state: ``{"column": <a column key or "">, "ascending": bool}``.

    Returns:
        ``sort`` itself.

    Raises:
        FilterError: an unknown column or a malformed state.
    """
    keys = {key for key, _ in COLUMNS} | {""}
    if (not isinstance(sort, dict) or set(sort) != {"column", "ascending"} or sort["column"] not in keys
            or not isinstance(sort["ascending"], bool)):
        raise FilterError(f"sort must be {{'column': one of {sorted(keys)}, 'ascending': bool}}, not {sort!r:.200}")
    return sort


def limits(index: Index) -> dict[str, Any]:
    """The extent of each range filter over the whole index: what the sliders span.

    Returns:
        ``{"tilt_range": [min tilt, max tilt], "defocus": [lo, hi], "date": [first ISO date, last], "datasets": n}``,
        ``null`` bounds where the index has no values.
    """
    ds = index.datasets

    def extent(lo: pd.Series, hi: pd.Series) -> list[float | None]:
        a, b = lo.min(skipna=True), hi.max(skipna=True)
        return [None if pd.isna(a) else float(a), None if pd.isna(b) else float(b)]

    dates = ds["date"].dropna()
    return {"tilt_range": extent(ds["tilt_min"], ds["tilt_max"]), "defocus": extent(ds["defocus"], ds["defocus"]),
            "date": [dates.min().date().isoformat(), dates.max().date().isoformat()] if len(dates) else [None, None],
            "datasets": len(ds)}


@dataclass
class Query:
    """One index and the masks of its current criteria: the selection, facet counts and sorted pages.

    Each criterion's mask is computed once (by :meth:`Index.mask`) and kept while that criterion is unchanged, so
    changing one filter costs one mask, and the facet counts of a multi-select (datasets per name among those
    matching every *other* criterion) cost no filtering at all.
    """

    index: Index
    _masks: dict[str, tuple[Any, np.ndarray]] = field(default_factory=dict)
    _ranks: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._sizes = self.index.datasets["total_bytes"].to_numpy(dtype="float64", na_value=0.0)
        self._shown = shown_columns(self.index.datasets)

    def update(self, wanted: dict[str, Any]) -> np.ndarray:
        """Apply new criteria (from :func:`criteria`).

        Returns:
            The boolean mask of the datasets matching all of them.

        Raises:
            ValueError: a date bound pandas cannot read.
        """
        for key in list(self._masks):
            if key not in wanted:
                del self._masks[key]
        for key, value in wanted.items():
            if key not in self._masks or self._masks[key][0] != value:
                self._masks[key] = (value, self.index.mask(**{key: value}))
        return self.mask()

    def mask(self, without: str | None = None) -> np.ndarray:
        """The datasets matching every current criterion (but ``without``).

        Returns:
            A boolean array over the index's datasets.
        """
        mask = np.ones(len(self.index), dtype=bool)
        for key, (_, m) in self._masks.items():
            if key != without:
                mask &= m
        return mask

    def facets(self) -> dict[str, list[list[Any]]]:
        """Datasets per species and per microscope among those matching every other criterion.

        Returns:
            ``{"species": [[name, count], ...], "microscope": [...]}``, largest count first, then by name; names
            with no dataset left are listed only while selected.
        """
        out = {}
        for key in NAME_FILTERS:
            column = self.index.datasets[key]
            codes = column.cat.codes.to_numpy()
            context = self.mask(without=key) & (codes >= 0)
            counts = np.bincount(codes[context], minlength=len(column.cat.categories))
            chosen = {n.lower() for n in self._masks.get(key, ([], None))[0]}
            rows = [[str(name), int(n)] for name, n in zip(column.cat.categories, counts)
                    if n or str(name).lower() in chosen]
            rows.sort(key=lambda r: (-r[1], r[0].lower()))
            out[key] = rows
        return out

    def _rank(self, column: str) -> np.ndarray:
        """Each dataset's position when sorted by ``column`` (NaN where the value is missing), computed once."""
        if column not in self._ranks:
            self._ranks[column] = _sort_key(self.index.datasets, column).rank(method="first").to_numpy(
                dtype="float64", na_value=np.nan)
        return self._ranks[column]

    def page(self, mask: np.ndarray, sort: dict[str, Any], page: int, page_size: int) -> dict[str, Any]:
        """One page of the selected datasets, sorted (missing values last either way), formatted for display.

        Returns:
            ``{"columns": [[key, label], ...], "rows": [[txid, cell, ...], ...], "total": matching datasets,
            "bytes": their declared size, "page": the page shown (clamped), "pages": page count,
            "page_size": rows per page, "sort": sort}``.
        """
        rows = np.flatnonzero(mask)
        if sort["column"]:
            rank = self._rank(sort["column"])[rows]
            key = np.where(np.isnan(rank), np.inf, rank if sort["ascending"] else -rank)
            rows = rows[np.argsort(key, kind="stable")]
        pages = max(1, -(-len(rows) // page_size))
        page = min(max(page, 0), pages - 1)
        shown = format_rows(self._shown, rows[page * page_size:(page + 1) * page_size])
        return {"columns": [list(c) for c in COLUMNS], "rows": shown, "total": len(rows),
                "bytes": int(self._sizes[mask].sum()), "page": page, "pages": pages, "page_size": page_size,
                "sort": dict(sort)}


def _sort_key(ds: pd.DataFrame, column: str) -> pd.Series:
    """The values a table column sorts by: names alphabetically (case-insensitive), tilt by its span."""
    if column == "tilt":
        return ds["tilt_max"] - ds["tilt_min"]
    if column == "size":
        return ds["total_bytes"]
    if column in ("species", "microscope", "title"):
        return ds[column].astype("string").str.lower()
    return ds[column]


def human_bytes(n: float) -> str:
    """``n`` bytes as text, e.g. "1.8 MB" (decimal units).

    Returns:
        The text ("" for a missing size).
    """
    if pd.isna(n):
        return ""
    n = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _number_text(value: Any, digits: int = 1) -> str:
    return "" if pd.isna(value) else f"{float(value):.{digits}f}".rstrip("0").rstrip(".")


SHOWN = ("txid", "title", "species", "tilt_min", "tilt_max", "defocus", "microscope", "date", "total_bytes")


def shown_columns(ds: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns of a datasets table the table shows, as object arrays (what :func:`format_rows` reads).

    Returns:
        ``{column: array}`` for the columns of :data:`SHOWN`.
    """
    return {column: ds[column].to_numpy(dtype=object) for column in SHOWN}


def format_rows(columns: dict[str, np.ndarray], rows: np.ndarray) -> list[list[str]]:
    """Rows ``rows`` (positions) as text: txid first, then one cell per column of :data:`COLUMNS`; ``columns`` as
    :func:`shown_columns` gives them.

    Returns:
        A list of lists of strings (missing values as "").
    """
    def text(value: Any) -> str:
        return "" if pd.isna(value) else str(value)

    out = []
    for txid, title, species, tmin, tmax, defocus, scope, date, size in zip(*(columns[c][rows] for c in SHOWN)):
        tilt = "" if pd.isna(tmin) or pd.isna(tmax) else f"{_number_text(tmin)} … {_number_text(tmax)}"
        out.append([text(txid), text(title), text(species), tilt, _number_text(defocus, 2), text(scope),
                    "" if pd.isna(date) else date.date().isoformat(), human_bytes(size)])
    return out

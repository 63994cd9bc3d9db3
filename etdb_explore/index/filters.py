"""Filters that read like the science: each turns one keyword of ``Index.filter`` into a boolean mask."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Range = tuple[Any, Any]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (str, int, np.integer)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _category_mask(column: pd.Series, wanted: Iterable[str], *, prefix_words: bool = False) -> np.ndarray:
    """Case-insensitive match on a categorical column, done on its categories (fast at any row count)."""
    wanted_lower = {w.strip().lower() for w in wanted}
    prefixes = tuple(w + " " for w in wanted_lower) if prefix_words else ()
    values = column.array
    hit = [isinstance(c, str) and (c.lower() in wanted_lower or c.lower().startswith(prefixes))
           for c in values.categories]
    return np.array([*hit, False])[values.codes]  # a missing value's code, -1, picks the last item: False


def species_mask(ds: pd.DataFrame, species: Any) -> np.ndarray:
    """Species by name (case-insensitive; a genus alone matches its species) or by NCBI taxid.

    Returns:
        A boolean array over the rows of ``ds``.
    """
    names, taxids = [], []
    for item in _as_list(species):
        if isinstance(item, (int, np.integer)) or (isinstance(item, str) and item.strip().isdigit()):
            taxids.append(int(item))
        else:
            names.append(" ".join(str(item).split()))
    mask = _category_mask(ds["species"], names, prefix_words=True)
    if taxids:
        mask |= ds["ncbi_taxid"].isin(taxids).fillna(False).to_numpy(dtype=bool)
    return mask


def exact_mask(column: pd.Series, value: Any) -> np.ndarray:
    """Case-insensitive equality with any of ``value`` (a string or a list of strings) on a categorical column.

    Returns:
        A boolean array over ``column``.
    """
    return _category_mask(column, [str(v) for v in _as_list(value)])


def between_mask(column: pd.Series, bounds: Range) -> np.ndarray:
    """``lo <= column <= hi``, either bound may be None; the bounds may come in either order.

    Returns:
        A boolean array over ``column`` (False where it is missing).
    """
    lo, hi = bounds
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    mask = ~np.isnan(values)
    if lo is not None:
        mask &= values >= lo
    if hi is not None:
        mask &= values <= hi
    return mask


def tilt_range_mask(ds: pd.DataFrame, tilt_range: Range) -> np.ndarray:
    """Acquisitions that cover at least ``tilt_range`` (degrees): tilt_min ≤ lo and tilt_max ≥ hi.

    Returns:
        A boolean array over the rows of ``ds`` (False where a tilt is missing).
    """
    lo, hi = sorted(tilt_range)
    tmin = ds["tilt_min"].to_numpy(dtype="float64", na_value=np.nan)
    tmax = ds["tilt_max"].to_numpy(dtype="float64", na_value=np.nan)
    return (tmin <= lo) & (tmax >= hi)


def _period_bounds(bounds: Range) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """("2010", "2015") → 2010-01-01 .. 2015-12-31 23:59:59: a partial date covers its whole period."""
    lo, hi = bounds
    start = pd.Period(str(lo)).start_time if isinstance(lo, (str, int)) else (pd.Timestamp(lo) if lo else None)
    end = pd.Period(str(hi)).end_time if isinstance(hi, (str, int)) else (pd.Timestamp(hi) if hi else None)
    return start, end


def date_mask(column: pd.Series, bounds: Range) -> np.ndarray:
    """Dates within ``bounds`` (inclusive, None for an open side); a partial date ("2010", "2015-06") covers its
    whole period.

    Returns:
        A boolean array over ``column`` (False where the date is missing).

    Raises:
        ValueError: a bound is not a date pandas can read.
    """
    start, end = _period_bounds(bounds)
    values = column.to_numpy()
    mask = ~np.isnat(values)
    if start is not None:
        mask &= values >= start.to_datetime64()
    if end is not None:
        mask &= values <= end.to_datetime64()
    return mask


TEXT_COLUMNS = ("title", "notes", "species_raw", "strain", "sid")


def text_haystack(ds: pd.DataFrame, rows: np.ndarray | None = None) -> pa.Array:
    """Title, notes, species, strain and tilt-series id of each dataset (or of those at positions ``rows``),
    lower-cased, joined by newlines.

    Returns:
        A pyarrow string array, one item per row of ``ds`` (or per item of ``rows``): what :func:`text_mask` searches.
    """
    columns = [pa.array(ds[name]) for name in TEXT_COLUMNS]
    if rows is not None:
        columns = [values.take(rows) for values in columns]
    columns = [values if values.type == pa.large_string() else values.cast(pa.large_string()) for values in columns]
    return pc.utf8_lower(pc.binary_join_element_wise(*columns, pa.scalar("\n", pa.large_string()),
                                                     null_handling="replace"))


def text_mask(haystack: pa.Array, text: str) -> np.ndarray:
    """Case-insensitive substring search in a :func:`text_haystack`.

    Returns:
        A boolean array over the haystack.
    """
    return pc.match_substring(haystack, text.lower()).to_numpy(zero_copy_only=False)

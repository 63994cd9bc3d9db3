"""One index over every home of the ETDB data: one row per tilt series, keyed by a canonical tilt-series id.

ETDB records name a tilt series by its 2018 lab id (``sid``, e.g. ``rr2014-01-14-5``); CaltechDATA and the CZ
portal use the lab's later ids, often with a third letter (``rra2014-01-14-5``), sometimes unchanged
(``ycw2012-12-05-10``). The archive ids (CaltechDATA's and the portal's, which agree) are the canonical ids. An
ETDB sid is matched to one:

1. ``exact``: the same id (case and blanks ignored);
2. ``letters+date+number``: the only archive id with the same first two letters, date and number;
3. ``tie-break (<criteria>)``: among several such ids, the only one agreeing best on date, species/taxid,
   microscope and title;
4. otherwise the ETDB row stands alone (``match`` "etdb only", or "ambiguous" listing the candidates in
   ``conflicts``).

Values come from the ETDB record when there is one (``source`` says which home gave the row's values), then
CaltechDATA, then the portal. ``conflicts`` lists disagreements between homes (tilt range, dosage, ETDB dosage vs
the portal's total flux, taxid); ``aliases`` every spelling of the id; ``homes`` where the tilt series can be read;
``etdb_txid``, ``caltechdata_key``, ``czportal_key`` the row's key in each home's index (its ``txid`` column).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etdb_explore.index.frame import REJECTED_COLUMNS, typed_frame
from etdb_explore.index.homeframe import HOME_DATASET_COLUMNS, HOME_FILES_COLUMNS
from etdb_explore.index.index import Index

JOIN_COLUMNS: dict[str, str] = {
    "canonical_id": "string",
    "match": "category",
    "aliases": "string",
    "homes": "string",
    "conflicts": "string",
    "etdb_txid": "string",
    "caltechdata_key": "string",
    "czportal_key": "string",
}
JOINED_COLUMNS = {**HOME_DATASET_COLUMNS, **JOIN_COLUMNS}
HOMES = ("etdb", "caltechdata", "czportal")
_ID = re.compile(r"^([a-z]+)(\d{4}-\d{1,2}-\d{1,2}-\d+[a-z]?)$")
TOLERANCE = {"tilt_min": 0.5, "tilt_max": 0.5, "tilt_step": 0.01}


def canon_tiltid(tiltid: Any) -> str | None:
    """A tilt-series id as compared across homes: lower case, blanks removed.

    Returns:
        The id; None for a missing or blank one.
    """
    if not isinstance(tiltid, str):
        return None
    text = "".join(tiltid.split()).lower()
    return text or None


def loose_key(tiltid: Any) -> str | None:
    """The first two letters, the date and the number of a tilt-series id (``rra2014-01-14-5`` → ``rr2014-01-14-5``).

    Returns:
        The key; None when the id is not letters followed by a date and a number.
    """
    canon = canon_tiltid(tiltid)
    match = _ID.match(canon) if canon else None
    return match[1][:2] + match[2] if match else None


_LOOSE = r"^([a-z]{1,2})[a-z]*(\d{4}-\d{1,2}-\d{1,2}-\d+[a-z]?)$"


def canon_ids(values: pd.Series) -> pd.Series:
    """:func:`canon_tiltid` of a whole column (vectorised).

    Returns:
        An object Series of ids, None where missing or blank.
    """
    if values.empty:
        return pd.Series([], dtype=object, index=values.index)
    arr = pc.utf8_lower(pc.replace_substring_regex(pa.array(values.astype("string"), type=pa.string()), r"\s+", ""))
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    return pd.Series(arr.to_pylist(), dtype=object, index=values.index)


def loose_keys(canon: pd.Series) -> pd.Series:
    """:func:`loose_key` of a column of canonical ids (vectorised).

    Returns:
        An object Series, None where an id is not letters, a date and a number.
    """
    if canon.empty:
        return pd.Series([], dtype=object, index=canon.index)
    arr = pa.array(canon, type=pa.string())
    keyed = pc.if_else(pc.match_substring_regex(arr, _LOOSE), pc.replace_substring_regex(arr, _LOOSE, r"\1\2"),
                       pa.scalar(None, pa.string()))
    return pd.Series(keyed.to_pylist(), dtype=object, index=canon.index)


def _value(row: pd.Series, key: str) -> Any:
    value = row.get(key)
    return None if value is None or pd.isna(value) else value


def _agree(etdb: pd.Series, other: pd.Series) -> list[str]:
    """The criteria on which two rows agree (date, species/taxid, microscope, title)."""
    out = []
    day, other_day = _value(etdb, "date"), _value(other, "date")
    if day is not None and other_day is not None and pd.Timestamp(day).normalize() == pd.Timestamp(other_day).normalize():
        out.append("date")
    taxid = _value(etdb, "ncbi_taxid")
    name = str(_value(etdb, "species") or "").lower()
    if (taxid is not None and taxid == _value(other, "ncbi_taxid")) or \
            (name and name == str(_value(other, "species") or "").lower()):
        out.append("species")
    scope = str(_value(etdb, "microscope") or "").lower()
    if scope and scope.split()[-1] in str(_value(other, "microscope") or "").lower():
        out.append("microscope")
    words = set(str(_value(etdb, "title") or "").lower().split())
    if words and len(words & set(str(_value(other, "title") or "").lower().split())) * 2 >= len(words):
        out.append("title")
    return out


def _archive(caltech: _Rows, portal: _Rows) -> pd.DataFrame:
    """One row per archive id: the CaltechDATA and portal rows (``c_``/``p_`` keys) side by side."""
    frames = []
    for home, rows in (("caltechdata", caltech), ("czportal", portal)):
        frame, ids = rows.frame, rows.ids
        part = pd.DataFrame({"canonical_id": ids, f"{home}_key": frame["txid"], f"{home}_id": frame["tiltid"]})
        frames.append(part.dropna(subset=["canonical_id"]).drop_duplicates("canonical_id"))
    return frames[0].merge(frames[1], on="canonical_id", how="outer")


def _match_etdb(etdb: pd.DataFrame, archive: pd.DataFrame, rows: dict[str, _Rows]) \
        -> tuple[pd.Series, pd.Series, pd.Series]:
    """For each ETDB row: its canonical id (None: stands alone), the match method, a conflict note (vectorised;
    only ties are looked at one by one)."""
    n = len(etdb)
    sids = canon_ids(etdb["sid"]).reset_index(drop=True)
    loose = loose_keys(sids)
    by_loose = pd.DataFrame({"canonical_id": archive["canonical_id"].to_numpy(dtype=object),
                             "loose": loose_keys(archive["canonical_id"]).to_numpy(dtype=object)})
    by_loose = by_loose.dropna(subset=["loose"])
    counts = by_loose["loose"].value_counts()
    unique = by_loose[by_loose["loose"].map(counts).eq(1).to_numpy()].set_index("loose")["canonical_id"]
    known = sids.notna().to_numpy()
    exact = known & sids.isin(archive["canonical_id"]).to_numpy()
    found = loose.map(counts).fillna(0).to_numpy() if n else np.zeros(0)
    single = ~exact & known & (found == 1)
    tied = ~exact & known & (found > 1)
    ids = pd.Series(np.where(exact, sids.to_numpy(dtype=object), None), dtype=object)
    ids[single] = loose[single].map(unique).to_numpy(dtype=object)
    methods = pd.Series(np.where(exact, "exact", np.where(single, "letters+date+number", "etdb only")), dtype=object)
    notes = pd.Series([None] * n, dtype=object)
    if tied.any():
        candidates = by_loose.groupby("loose")["canonical_id"].agg(list)
        for position in np.flatnonzero(tied):
            canon, method, note = _tie_break(etdb.iloc[position], candidates[loose[position]], rows)
            ids[position], methods[position], notes[position] = canon, method, note
    claimed = (ids.notna() & ids.duplicated(keep="first")).to_numpy()
    notes[claimed] = "another ETDB record already matched " + ids[claimed]
    methods[claimed] = "etdb only"
    ids[claimed] = None
    return ids, methods, notes


def _tie_break(row: pd.Series, candidates: list[str], rows: dict[str, _Rows]) \
        -> tuple[str | None, str, str | None]:
    scored = []
    for cid in candidates:
        other = rows["caltechdata"].get(cid)
        other = other if other is not None else rows["czportal"].get(cid)
        scored.append((len(agree := _agree(row, other)) if other is not None else 0, cid,
                       agree if other is not None else []))
    scored.sort(key=lambda item: -item[0])
    if scored[0][0] > 0 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return scored[0][1], f"tie-break ({', '.join(scored[0][2])})", None
    return None, "ambiguous", "ambiguous archive ids: " + ", ".join(candidates)


class _Rows:
    """An archive home's rows by canonical id, each made into a Series only when a tie-break asks for it."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.ids = canon_ids(frame["tiltid"])
        self._position: dict[str, int] | None = None

    def get(self, canonical_id: str) -> pd.Series | None:
        if self._position is None:  # made on the first tie-break
            keep = self.ids.notna() & ~self.ids.duplicated()
            self._position = dict(zip(self.ids[keep], np.flatnonzero(keep.to_numpy())))
        at = self._position.get(canonical_id)
        return None if at is None else self.frame.iloc[at]


def _formatted(values: np.ndarray) -> np.ndarray:
    """Numbers as ``:g`` text, each distinct value formatted once."""
    unique, inverse = np.unique(values, return_inverse=True)
    return np.array([f"{v:g}" for v in unique], dtype=object)[inverse.reshape(-1)]


def _conflicts(joined: pd.DataFrame, parts: dict[str, _Aligned]) -> list[str | None]:
    """Per joined row, the disagreements between homes, as text."""
    texts = []

    def compare(column: str, a: str, b: str, b_column: str | None = None, tolerance: float = 0.0,
                relative: float = 0.0) -> None:
        x = parts[a][column].to_numpy(dtype="float64", na_value=np.nan)
        y = parts[b][b_column or column].to_numpy(dtype="float64", na_value=np.nan)
        differ = np.abs(x - y) > np.maximum(tolerance, relative * np.abs(x))
        if differ.any():
            text = np.full(len(x), None, dtype=object)
            text[differ] = f"{column}: {a} " + _formatted(x[differ]) + f" vs {b} {b_column or column} " + \
                _formatted(y[differ])
            texts.append(text)

    for column in ("tilt_min", "tilt_max", "tilt_step"):
        compare(column, "etdb", "caltechdata", tolerance=TOLERANCE[column])
        compare(column, "etdb", "czportal", tolerance=TOLERANCE[column])
    compare("dosage", "etdb", "caltechdata", relative=0.05)
    compare("dosage", "etdb", "czportal", "total_flux", relative=0.05)
    compare("ncbi_taxid", "etdb", "czportal")
    return _join_text("; ", *texts) if texts else [None] * len(joined)


class _Aligned:
    """One home's datasets in the order of the joined rows (``keys``: its txids; <NA>: no row), a column at a
    time, each taken once (categories as their values, so the homes' values can be merged)."""

    def __init__(self, frame: pd.DataFrame, keys: pd.Series) -> None:
        self.frame = frame
        self.position = pd.Index(frame["txid"]).get_indexer(keys.fillna("\0")) if len(frame) else \
            np.full(len(keys), -1)
        self._taken: dict[str, pd.Series] = {}

    def __contains__(self, column: str) -> bool:
        return column in self.frame.columns

    def __getitem__(self, column: str) -> pd.Series:
        if column not in self._taken:
            values = self.frame[column]
            if isinstance(values.dtype, pd.CategoricalDtype):  # its values (NaN where missing), merged as objects
                categories = np.asarray(values.cat.categories, dtype=object)
                taken = np.full(len(self.position), np.nan, dtype=object)
                if len(categories):
                    codes = values.cat.codes.to_numpy()[self.position]
                    taken = np.where((codes < 0) | (self.position < 0), taken, categories[np.maximum(codes, 0)])
                self._taken[column] = pd.Series(taken, dtype=object)
            else:
                self._taken[column] = pd.Series(pd.api.extensions.take(values.array, self.position, allow_fill=True))
        return self._taken[column]


def _coalesce_categories(column: str, parts: list[_Aligned], rows: int) -> pd.Series:
    """:func:`_coalesce` of a category column, on the codes: each home's categories mapped into their union."""
    codes = np.full(rows, -1, dtype=np.int64)
    union = pd.Index([], dtype=object)
    for part in parts:
        if column not in part:
            continue
        values = part.frame[column]
        values = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
        categories = pd.Index(values.cat.categories.astype(object))
        union = union.append(categories.difference(union, sort=False)) if len(categories) else union
        mapped = np.append(union.get_indexer(categories), -1)  # code -1 (missing) stays -1
        own = values.cat.codes.to_numpy().astype(np.int64)
        taken = np.where(part.position >= 0, mapped[own[np.maximum(part.position, 0)]] if len(own) else -1, -1)
        codes = np.where(codes < 0, taken, codes)
    return pd.Series(pd.Categorical.from_codes(codes, categories=union))


def _coalesce(column: str, dtype: str, parts: list[_Aligned], rows: int) -> pd.Series:
    """The first home's value of ``column`` that is not missing, in the order of ``parts``, as ``dtype``."""
    if dtype == "category":
        return _coalesce_categories(column, parts, rows)
    out = None
    for part in parts:
        if column not in part:
            continue
        values = part[column]
        if out is None:
            out = values
            continue
        fill = out.isna().to_numpy() & values.notna().to_numpy()
        if fill.any():
            if out.dtype != values.dtype:
                out, values = out.astype(object), values.astype(object)
            out = out.where(~fill, values)
    return (out if out is not None else pd.Series([None] * rows, dtype=object)).astype(dtype)


def _join_text(separator: str, *columns: Any) -> list[Any]:
    """The texts of each row that are not missing, joined by ``separator`` (None where all are missing)."""
    arrays = [pa.array(pd.Series(c, dtype=object).reset_index(drop=True), pa.string(), from_pandas=True)
              for c in columns]
    # an empty first text on every row: pyarrow 26 drops the rows whose texts are all missing when it skips them
    first = pa.array([""] * (len(arrays[0]) if arrays else 0), pa.string())
    joined = pc.binary_join_element_wise(first, *arrays, separator, null_handling="skip")
    joined = pc.replace_substring_regex(joined, "^" + re.escape(separator), "")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined).to_pylist()


def _aliases(etdb: pd.Series, caltech: pd.Series, portal: pd.Series) -> list[Any]:
    """Every spelling of each row's id, each once, in the order ETDB, CaltechDATA, the portal."""
    e, c, p = (pd.Series(x, dtype=object).reset_index(drop=True) for x in (etdb, caltech, portal))
    c = c.where(c.isna() | (c != e), None)
    p = p.where(p.isna() | ((p != e) & (p != c)), None)
    return _join_text(", ", e, c, p)


def join_homes(etdb: Index | None = None, caltechdata: Index | None = None, czportal: Index | None = None) -> Index:
    """The joined index of the homes given (each an Index of that home; any may be None).

    Returns:
        An :class:`Index` with one row per tilt series (``txid`` the ETDB txid when an ETDB record has it, else the
        row's key in CaltechDATA, else in the portal), the columns of the homes plus :data:`JOIN_COLUMNS`; its
        files table holds the files of every home (``home`` says which), ``txid`` pointing at the joined row.
    """
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in JOINED_COLUMNS.items()})
    e = etdb.datasets if etdb is not None else empty
    c = caltechdata.datasets if caltechdata is not None else empty
    p = czportal.datasets if czportal is not None else empty
    rows = {"caltechdata": _Rows(c), "czportal": _Rows(p)}
    archive = _archive(rows["caltechdata"], rows["czportal"])
    ids, methods, notes = _match_etdb(e, archive, rows)
    e_part = pd.DataFrame({"canonical_id": ids, "etdb_txid": e["txid"].to_numpy(), "match": methods,
                           "note": notes})
    matched = e_part.dropna(subset=["canonical_id"]).merge(archive, on="canonical_id", how="right")
    alone = e_part[e_part["canonical_id"].isna()]
    keys = pd.concat([matched, alone], ignore_index=True)
    keys["match"] = keys["match"].fillna("archive only")
    for home in ("etdb_txid", "caltechdata_key", "czportal_key", "caltechdata_id", "czportal_id"):
        keys[home] = keys[home].astype(object).where(keys[home].notna(), None) if home in keys else None
    parts = {"etdb": _Aligned(e, keys["etdb_txid"]), "caltechdata": _Aligned(c, keys["caltechdata_key"]),
             "czportal": _Aligned(p, keys["czportal_key"])}
    order = [parts["etdb"], parts["caltechdata"], parts["czportal"]]
    joined = pd.DataFrame({column: _coalesce(column, dtype, order, len(keys))
                           for column, dtype in HOME_DATASET_COLUMNS.items()})
    present = {h: keys[k].notna().to_numpy() for h, k in (("etdb", "etdb_txid"), ("caltechdata", "caltechdata_key"),
                                                          ("czportal", "czportal_key"))}
    joined["source"] = np.where(present["etdb"], "etdb", np.where(present["caltechdata"], "caltechdata", "czportal"))
    joined["signature_valid"] = parts["etdb"]["signature_valid"]
    joined["txid"] = keys["etdb_txid"].fillna(keys["caltechdata_key"]).fillna(keys["czportal_key"])
    joined["canonical_id"] = keys["canonical_id"].fillna(canon_ids(parts["etdb"]["sid"]))
    for name in ("match", "etdb_txid", "caltechdata_key", "czportal_key"):
        joined[name] = keys[name]
    code = present["etdb"] * 4 + present["caltechdata"] * 2 + present["czportal"]
    names = np.array([" ".join(h for h, bit in zip(HOMES, (4, 2, 1)) if n & bit) for n in range(8)], dtype=object)
    joined["homes"] = names[code]
    joined["aliases"] = _aliases(parts["etdb"]["sid"], keys["caltechdata_id"], keys["czportal_id"])
    joined["conflicts"] = _join_text("; ", keys["note"], _conflicts(joined, parts))
    datasets = joined[list(JOINED_COLUMNS)].astype(JOINED_COLUMNS)
    return Index(datasets, _joined_files(keys, etdb, caltechdata, czportal), _rejected(etdb, caltechdata, czportal),
                 "joined " + " + ".join(h for h, i in zip(HOMES, (etdb, caltechdata, czportal)) if i is not None),
                 etdb.records if etdb is not None and etdb._records is not None else None,
                 etdb._snapshot if etdb is not None else None)


def _joined_files(keys: pd.DataFrame, *homes: Index | None) -> pd.DataFrame:
    joined_txid = keys["etdb_txid"].fillna(keys["caltechdata_key"]).fillna(keys["czportal_key"])
    frames = []
    for name, index, column in zip(HOMES, homes, ("etdb_txid", "caltechdata_key", "czportal_key")):
        if index is None or index.files.empty:
            continue
        present = keys[column].notna().to_numpy()
        position = pd.Index(keys[column][present].to_numpy(dtype=object)).get_indexer(
            index.files["txid"].to_numpy(dtype=object, na_value=None))
        owners = np.append(joined_txid[present].to_numpy(dtype=object), None)  # position -1: no joined row
        files = index.files.copy()
        files["txid"] = pd.array(owners[position], dtype="string")
        if name == "etdb":
            files["home"], files["content"] = "etdb", "ipfs"
        frames.append(files.astype({c: object for c in files.columns if str(files[c].dtype) == "category"}))
    if not frames:
        return typed_frame(HOME_FILES_COLUMNS, [])
    files = pd.concat(frames, ignore_index=True)
    for column in HOME_FILES_COLUMNS:
        if column not in files:
            files[column] = None
    return files[list(HOME_FILES_COLUMNS)].astype(HOME_FILES_COLUMNS)


def _rejected(*homes: Index | None) -> pd.DataFrame:
    frames = [h.rejected for h in homes if h is not None]
    return pd.concat(frames, ignore_index=True) if frames else typed_frame(REJECTED_COLUMNS, [])


def homes_of(index: Index, x: Any) -> pd.DataFrame:
    """Where one tilt series can be read: a row per home holding it.

    ``x``: a row of the joined index, its txid, a home's key (``caltechdata:…``, ``czportal:…``) or any spelling
    of the tilt-series id.

    Returns:
        A DataFrame with ``home``, ``key`` (the row's key in that home's index), ``tiltid``, ``content`` (what its
        bytes are: "ipfs" content-addressed and verified, "mirror" copies to be checked against the ETDB's CIDs,
        "rewritten" new files), ``files`` (count) and ``where`` (IPFS location, S3 folder or provenance URL).

    Raises:
        KeyError: nothing in ``index`` is that tilt series.
    """
    ds = index.datasets
    wanted = str(x["txid"]) if isinstance(x, pd.Series) else str(x).strip()
    canon = canon_tiltid(wanted)
    hit = np.zeros(len(ds), dtype=bool)
    for column in ("txid", "etdb_txid", "caltechdata_key", "czportal_key"):
        if column in ds:
            hit |= ds[column].eq(wanted).fillna(False).to_numpy()
    if "canonical_id" in ds and canon:
        hit |= ds["canonical_id"].eq(canon).fillna(False).to_numpy()
        hit |= ds["aliases"].fillna("").str.lower().str.split(", ").map(lambda a: canon in a).to_numpy(dtype=bool)
    if not hit.any() and "sid" in ds and canon:
        hit |= ds["sid"].str.lower().eq(canon).fillna(False).to_numpy()
    if hit.sum() != 1:
        raise KeyError(f"{int(hit.sum())} tilt series match {wanted!r} in {index!r}")
    row = ds[hit].iloc[0]
    files = index.files[index.files["txid"] == row["txid"]]
    out = []
    for home, column, content in (("etdb", "etdb_txid", "ipfs"), ("caltechdata", "caltechdata_key", "mirror"),
                                  ("czportal", "czportal_key", "rewritten")):
        key = row.get(column) if column in row else (row["txid"] if row.get("source", "etdb") == home else None)
        if key is None or pd.isna(key):
            continue
        mine = files[files["home"] == home] if "home" in files else files
        urls = mine["url"].dropna() if "url" in mine else pd.Series(dtype=object)
        where = row.get("location") if home == "etdb" else row.get("mirror_url") if home == "caltechdata" else None
        if where is None or pd.isna(where):
            where = urls.iloc[0] if len(urls) else None
        out.append({"home": home, "key": key, "tiltid": row.get("sid") if home == "etdb" else row.get("tiltid"),
                    "content": content, "files": len(mine), "where": where})
    return pd.DataFrame(out, columns=["home", "key", "tiltid", "content", "files", "where"])


__all__ = ["JOINED_COLUMNS", "canon_ids", "canon_tiltid", "homes_of", "join_homes", "loose_key", "loose_keys"]

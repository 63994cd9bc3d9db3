"""The ETDB index: a datasets table, a files table, and what was rejected, filtered the way scientists ask."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from etdb_explore.index import filters
from etdb_explore.index.build import check_records, printable, subset
from etdb_explore.index.frame import REJECTED_COLUMNS, file_owners, records_to_frames, typed_frame
from etdb_explore.index.registry import register
from etdb_explore.records.kinds import normalize_kinds
from etdb_explore.util import html
from etdb_explore.util.gcpause import paused

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from etdb_explore.records import Record


def _rows(table: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``table`` where ``mask`` holds, numbered from 0."""
    rows = table.take(np.flatnonzero(mask))
    rows.index = pd.RangeIndex(len(rows))
    return rows


@dataclass
class Index:
    """Datasets (one row per record) and files (one row per file) of the ETDB, with the rejected records.

    Plain pandas keeps working on :attr:`datasets` and :attr:`files`; :meth:`filter` returns a new, consistent
    Index. Rows taken from these tables remember this Index (``DataFrame.attrs``), so ``open_tomogram(row)`` opens
    from it. ``records`` maps txid → the signed record (absent for an index read from a snapshot until needed).
    """

    datasets: pd.DataFrame
    files: pd.DataFrame
    rejected: pd.DataFrame
    source: str = ""
    _records: Mapping[str, Record] | None = field(default=None, repr=False)
    _snapshot: Path | None = field(default=None, repr=False)
    _file_owner: np.ndarray | None = field(default=None, repr=False)  # dataset row of each file row
    _haystack: Any = field(default=None, repr=False)  # lower-cased searchable text per dataset (pyarrow)

    def __post_init__(self) -> None:
        # rows remember this Index (DataFrame.attrs), so open_tomogram(row) opens from it: see index.registry
        register(self, self.datasets, self.files, self.rejected)

    @property
    def file_owner(self) -> np.ndarray:
        """For each row of :attr:`files`, the row of its dataset in :attr:`datasets`."""
        if self._file_owner is None:
            self._file_owner = file_owners(self.datasets, self.files)
        return self._file_owner

    @property
    def haystack(self) -> Any:
        """The text ``filter(text=…)`` searches, lower-cased once per index."""
        if self._haystack is None:
            self._haystack = filters.text_haystack(self.datasets)
        return self._haystack

    def _text_mask(self, rows: np.ndarray, text: str) -> np.ndarray:
        """Whether ``text`` is in the searchable text of each of the datasets at ``rows`` (ascending positions).

        A few rows are searched in their own text; the whole index's text is lower-cased once, when kept or when
        more than half of the rows are in question.
        """
        if self._haystack is None and 2 * len(rows) <= len(self.datasets):
            return filters.text_mask(filters.text_haystack(self.datasets, rows), text)
        haystack = self.haystack
        return filters.text_mask(haystack if len(rows) == len(haystack) else haystack.take(rows), text)

    # ---- construction -------------------------------------------------------------------------------------------

    @classmethod
    def from_records(cls, raws: Iterable[Any], source: str = "input", *, rejected: Iterable[Any] = (),
                     verified_only: bool = True) -> Index:
        """Build from raw records in any shape (see ``parse_record``); every signature is checked.

        Records that fail to parse, lack mandatory fields or (with ``verified_only``) fail their signature go to
        :attr:`rejected` with the reason, after the ``rejected`` given; the rest load. The work runs on every core.
        The items are kept as given (not copied): a record of :attr:`records` is parsed again from its item when
        first asked for, so leave them unchanged.

        Returns:
            The :class:`Index` (nothing raises: every record that cannot be used becomes a rejection).
        """
        with paused():  # millions of objects, none of them garbage: see util.gcpause
            checked = check_records(raws, source, verified_only)
            datasets, files = records_to_frames(*checked.tables)
            rows = [(printable(r.origin), printable(r.txid), printable(r.reason))
                    for r in [*rejected, *checked.rejected]]
            return cls(datasets, files, typed_frame(REJECTED_COLUMNS, rows), source, checked.kept)

    @classmethod
    def from_snapshot(cls, path: str | Path, *, verify: bool = False) -> Index:
        """Read a snapshot written by :meth:`to_snapshot`.

        ``verify=False`` (for a snapshot you wrote) trusts its Parquet tables: the fastest load. ``verify=True`` (for
        a snapshot from anyone else) trusts nothing in them: the tables are rebuilt from the snapshot's raw signed
        records, every record's signature and every edit's and deactivation's signature checked again; what fails
        goes to :attr:`rejected`. The cache of remote sources is always read verified. OIP 0.42 signs a record's
        location, publisher and timestamp only, so an edited title still verifies.

        Returns:
            The :class:`Index`.

        Raises:
            EtdbError: naming the folder or file when it is not a readable snapshot.
        """
        from etdb_explore.index.snapshot import read_snapshot

        return read_snapshot(Path(path), verify=verify)

    def to_snapshot(self, path: str | Path) -> Path:
        """Write Parquet tables plus the raw signed records (JSONL) to folder ``path`` (created if needed), each
        file replaced atomically.

        Returns:
            ``path`` as a Path.

        Raises:
            OSError: the folder cannot be created or written.
            EtdbError: the records of an index read from a snapshot cannot be read back (see :attr:`records`).
        """
        from etdb_explore.index.snapshot import write_snapshot

        return write_snapshot(self, Path(path))

    @property
    def records(self) -> Mapping[str, Record]:
        """txid → the signed record of every dataset in this index (read from the snapshot on first use; a record
        of an index built from raw items is parsed from its item when first asked for).

        Raises EtdbError (RecordError) when the snapshot's records cannot be read.
        """
        if self._records is None:
            from etdb_explore.index.snapshot import read_records

            wanted = set(self.datasets["txid"].dropna())
            self._records = {t: r for t, r in read_records(self._snapshot).items() if t in wanted} \
                if self._snapshot else {}
        return self._records

    def record(self, txid: str) -> Record:
        """The signed record of one dataset, by full txid or unique prefix.

        Returns:
            The :class:`Record`.

        Raises:
            KeyError: not exactly one dataset matches ``txid``.
        """
        matches = [t for t in self.datasets["txid"].dropna() if t.startswith(txid)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} datasets match txid {txid!r}")
        return self.records[matches[0]]

    # ---- selection ----------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.datasets)

    def __repr__(self) -> str:
        return (f"<Index {self.source or 'unnamed'}: {len(self.datasets)} datasets, {len(self.files)} files, "
                f"{len(self.rejected)} rejected>")

    def _repr_html_(self) -> str:
        ds = self.datasets
        top = ds["species"].value_counts(dropna=True)
        dates = ds["date"].dropna()
        tilts = ds[["tilt_min", "tilt_max"]].dropna()
        summary = [
            ("datasets", f"{len(ds):,}"),
            ("files", f"{len(self.files):,} ({html.size(int(self.files['fsize'].fillna(0).sum()))})"),
            ("rejected", f"{len(self.rejected):,}"),
            ("species", html.listing([f"{name} ({n})" for name, n in top.items()], 3)),
            ("dates", f"{dates.min():%Y-%m-%d} … {dates.max():%Y-%m-%d}" if len(dates) else "—"),
            ("tilt", f"{tilts.tilt_min.min():g}° … {tilts.tilt_max.max():g}°" if len(tilts) else "—"),
        ]
        head = ds.head(5)
        rows = [(html.short(r.txid), r.title, r.species, "" if pd.isna(r.date) else f"{r.date:%Y-%m-%d}",
                 "" if pd.isna(r.tilt_min) else f"{r.tilt_min:g}…{r.tilt_max:g}",
                 "" if pd.isna(r.defocus) else f"{r.defocus:g}") for r in head.itertuples()]
        more = f"first {len(head)} of {len(ds):,} datasets (.datasets has them all)" if len(ds) > len(head) else ""
        return (html.table(summary, title=f"Index {self.source or 'unnamed'}")
                + (html.table(rows, ("txid", "title", "species", "date", "tilt (°)", "defocus (µm)"), more)
                   if len(head) else ""))

    def select(self, mask: Any) -> Index:
        """The datasets where ``mask`` (a boolean array or Series over :attr:`datasets`) holds, with their files.

        Returns:
            A new :class:`Index` (same source and rejected table).

        Raises:
            ValueError: ``mask`` is not as long as :attr:`datasets`.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self.datasets),):
            raise ValueError(f"the mask has {mask.size} items for {len(self.datasets)} datasets")
        datasets = _rows(self.datasets, mask)
        owner = self.file_owner
        keep_files = np.append(mask, False)[owner]  # a file of no dataset (owner -1) picks the last item: False
        files = _rows(self.files, keep_files)
        new_row = np.cumsum(mask) - 1
        records = None if self._records is None else subset(self._records, datasets["txid"].dropna())
        haystack = None if self._haystack is None else self._haystack.filter(pa.array(mask))
        return Index(datasets, files, self.rejected, self.source, records, self._snapshot,
                     new_row[owner[keep_files]], haystack)

    def mask(self, *, species: Any = None, tilt_range: filters.Range | None = None,
             defocus: filters.Range | None = None, dosage: filters.Range | None = None,
             magnification: filters.Range | None = None, microscope: Any = None, microscopist: Any = None,
             lab: Any = None, institution: Any = None, publisher: Any = None, tilt_scheme: str | None = None,
             date: filters.Range | None = None, text: str | None = None) -> np.ndarray:
        """Which datasets match every given criterion (the keywords of :meth:`filter`), as a boolean array.

        ``species``: name(s) (case-insensitive; a genus matches its species) or NCBI taxid(s);
        ``tilt_range=(-60, 60)``: the acquisition covers at least that range (degrees);
        ``defocus``, ``dosage``, ``magnification``: inclusive (lo, hi), None for open;
        ``microscope``, ``microscopist``, ``lab``, ``institution``, ``publisher``: case-insensitive name(s);
        ``tilt_scheme``: "single" or "dual"; ``date=("2010", "2015")``: acquisition date, partial dates cover
        their whole year/month; ``text``: substring of title, notes, species, strain or tilt-series id.

        Returns:
            A boolean numpy array over the rows of :attr:`datasets` (all True when no criterion is given); combine
            masks with ``&``/``|`` and pass the result to :meth:`select`.

        Raises:
            ValueError: a ``date`` bound is not a date.
            TypeError: range bounds that are not numbers.
        """
        ds = self.datasets
        mask = np.ones(len(ds), dtype=bool)
        if species is not None:
            mask &= filters.species_mask(ds, species)
        if tilt_range is not None:
            mask &= filters.tilt_range_mask(ds, tilt_range)
        for column, bounds in (("defocus", defocus), ("dosage", dosage), ("magnification", magnification)):
            if bounds is not None:
                mask &= filters.between_mask(ds[column], bounds)
        for column, wanted in (("microscope", microscope), ("microscopist", microscopist), ("lab", lab),
                               ("institution", institution), ("publisher", publisher), ("tilt_scheme", tilt_scheme)):
            if wanted is not None:
                mask &= filters.exact_mask(ds[column], wanted)
        if date is not None:
            mask &= filters.date_mask(ds["date"], date)
        if text:  # searched last, in the datasets the other criteria leave
            rows = np.flatnonzero(mask)
            mask[rows] = self._text_mask(rows, text)
        return mask

    def filter(self, **criteria: Any) -> Index:
        """Datasets matching every given criterion, as a new Index: ``idx.filter(species="Vibrio cholerae",
        tilt_range=(-60, 60), defocus=(-8, -4), microscope="Caltech Polara", date=("2010", "2015"),
        text="flagellar motor")``; the keywords are those of :meth:`mask`.

        Returns:
            A new :class:`Index` with the matching datasets and their files (``self.select(self.mask(...))``).

        Raises:
            TypeError: an unknown keyword, or range bounds that are not numbers.
            ValueError: a ``date`` bound is not a date.
        """
        return self.select(self.mask(**criteria))

    def files_of(self, kinds: Iterable[str] | str | None = None) -> pd.DataFrame:
        """Files of this selection, optionally only some kinds (record subtypes: "tiltseries", "reconstruction", …;
        aliases such as "tilt-series", "reconstructions", "images" as :mod:`etdb_explore.records.kinds` reads them).

        Returns:
            The rows of :attr:`files` of those kinds (all of them for None).

        Raises:
            KindError: an unknown kind (the message lists the valid ones).
        """
        subtypes = normalize_kinds(kinds)
        if subtypes is None:
            return self.files
        return self.files[self.files["subtype"].astype("string").isin(subtypes).fillna(False)].reset_index(drop=True)

    def homes(self, x: Any) -> pd.DataFrame:
        """Where a tilt series can be read: one row per home holding it (see :func:`join_homes`).

        ``x``: a row, a txid, a home's key (``caltechdata:…``, ``czportal:…``) or any spelling of the tilt-series id.

        Returns:
            A DataFrame with ``home``, ``key``, ``tiltid``, ``content`` ("ipfs": verified against its CID; "mirror":
            copies of the lab's files; "rewritten": new files made from them), ``files``, ``where``.

        Raises:
            KeyError: not exactly one row of this index is that tilt series.
        """
        from etdb_explore.index.joined import homes_of

        return homes_of(self, x)

    # ---- summaries ----------------------------------------------------------------------------------------------

    def counts(self, by: str = "species") -> pd.Series:
        """Datasets per value of a column of :attr:`datasets` (species, microscope, …).

        Returns:
            A Series named "datasets", largest count first (missing values not counted), shown in notebooks as a
            table (:class:`~etdb_explore.index.summary.Counts`).

        Raises:
            KeyError: ``by`` is not a column.
        """
        from etdb_explore.index.summary import Counts

        return Counts(self.datasets[by].value_counts(dropna=True).rename("datasets"))

    def plot_tilt_coverage(self, ax: Any = None) -> Figure:
        """Horizontal bars of each dataset's tilt range, sorted by span, on ``ax`` (or a new figure).

        Returns:
            The matplotlib Figure.
        """
        from etdb_explore.index.summary import plot_tilt_coverage

        return plot_tilt_coverage(self.datasets, ax)

    def plot_defocus(self, ax: Any = None, bins: int = 40) -> Figure:
        """Histogram of the datasets' defocus (µm), on ``ax`` (or a new figure).

        Returns:
            The matplotlib Figure.
        """
        from etdb_explore.index.summary import plot_defocus

        return plot_defocus(self.datasets, ax, bins)

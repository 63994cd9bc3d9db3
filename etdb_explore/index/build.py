"""From raw harvested records to checked ones: parse, check mandatory fields and type, verify every signature.

One bad record never stops a load: it becomes a :class:`Rejection` with the reason.

The whole work of a record – parsing, checking, verifying its signature, reading its table columns – is done on
every core: the items are cut into chunks that worker processes (forked after the items exist, so they find them in
their memory) and this process work at once (:func:`~etdb_explore.util.workers.map_ranges`; where no worker can
start or one dies, the chunk is worked here instead, with the same results). A chunk comes back as the Arrow columns
of its rows of the tables (:func:`~etdb_explore.index.frame.read_tables`) and its rejections; the records themselves
are parsed again from their items only when asked for (:class:`KeptRecords`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from etdb_explore.errors import EtdbError
from etdb_explore.index.frame import read_tables, table_schemas
from etdb_explore.index.sources.base import Rejection
from etdb_explore.records import Record, parse_record
from etdb_explore.util.workers import map_ranges

CHUNK = 256  # items per chunk of work; fewer than two chunks' items are worked in this process alone


class KeptRecords(Mapping[str, Record]):
    """txid (``#<n>`` for the n-th record without one) → a record kept, parsed from its item when first asked for.

    The item was parsed, checked and its signature verified while the index was built; parsing it again gives the
    same record (so the items must not be changed afterwards: :meth:`Index.from_records` takes them as given). Items
    that are :class:`Record` objects already are given back as they are.
    """

    def __init__(self, items: Sequence[Any], where: dict[str, int], parsed: dict[int, Record] | None = None) -> None:
        self._items = items
        self._where = where  # key → position of its item
        self._parsed = {} if parsed is None else parsed  # position → record, shared by the subsets

    def __getitem__(self, key: str) -> Record:
        position = self._where[key]
        record = self._parsed.get(position)
        if record is None:
            item = self._items[position]
            record = self._parsed[position] = item if isinstance(item, Record) else parse_record(item)
        return record

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def only(self, keys: Iterable[str]) -> KeptRecords:
        """The records of ``keys`` (those held), sharing the records parsed so far.

        Returns:
            A new :class:`KeptRecords`.
        """
        return KeptRecords(self._items, {k: self._where[k] for k in keys if k in self._where}, self._parsed)


def subset(records: Mapping[str, Record], keys: Iterable[str]) -> Mapping[str, Record]:
    """The records of ``keys`` that ``records`` holds (nothing parsed for it: see :meth:`KeptRecords.only`).

    Returns:
        A mapping of the same kind.
    """
    if isinstance(records, KeptRecords):
        return records.only(keys)
    return {k: records[k] for k in keys if k in records}


@dataclass
class CheckedRecords:
    """Records that parsed, whether each one's signature verified, and what was rejected."""

    kept: Mapping[str, Record] = field(default_factory=dict)  # see KeptRecords
    valid: list[bool] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    tables: tuple[pa.RecordBatch, pa.RecordBatch] = field(default_factory=lambda: read_tables([], []))  # of the kept


@dataclass
class _Part:
    """What a chunk of items gave: the position, txid and signature check of each record that parsed and passed its
    checks, the address of each one whose signature failed, their rows of the tables, and the chunk's rejections."""

    positions: list[int]
    txids: list[str | None]
    valid: list[bool]
    failed: dict[int, str]  # place in this part → the publisher whose signature did not verify
    tables: tuple[pa.RecordBatch, pa.RecordBatch]  # frame.read_tables
    rejected: list[Rejection]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its tables as Arrow IPC messages, without their schemas (known to both sides): a tenth of
        the cost of pickling the arrays."""
        return {**self.__dict__, "tables": tuple(table.serialize().to_pybytes() for table in self.tables)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        tables = tuple(pa.ipc.read_record_batch(pa.py_buffer(data), schema)
                       for data, schema in zip(state["tables"], table_schemas()))
        self.__dict__.update(state, tables=tables)


def _parse(raw: Any, position: int, source: str) -> Record | Rejection:
    if isinstance(raw, Record):
        return raw
    try:
        return parse_record(raw)
    except EtdbError as exc:
        return Rejection(f"{source} item {position}", _guess_txid(raw), str(exc))


def _guess_txid(raw: Any) -> str | None:
    if isinstance(raw, dict):
        meta = raw.get("meta")
        txid = meta.get("txid") if isinstance(meta, dict) else raw.get("txid")
        return txid if isinstance(txid, str) else None
    return None


def printable(text: Any, limit: int = 2000) -> str | None:
    """Untrusted text made safe for a table: lone surrogates escaped, cut at ``limit`` characters.

    Returns:
        The text (``str(text)`` for anything else), ending in "…" when cut; None for None.
    """
    if text is None:
        return None
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"


def _check_part(source: str, raws: Sequence[Any], start: int) -> _Part:
    """Parse, check and verify the items ``raws`` (at ``start`` in the input) and read their columns (this runs in
    a worker process, or here)."""
    parsed: list[Record] = []
    positions: list[int] = []
    rejected: list[Rejection] = []
    for position, raw in enumerate(raws, start):
        item = _parse(raw, position, source)
        if isinstance(item, Rejection):
            rejected.append(item)
        elif not item.is_tomogram():
            rejected.append(Rejection(f"{source} item {position}", item.txid, "not a Research-Tomogram record "
                                      f"(type {item.artifact.get('type')!r}, subtype "
                                      f"{item.artifact.get('subtype')!r})"))
        elif missing := item.missing_fields():
            rejected.append(Rejection(f"{source} item {position}", item.txid,
                                      "missing mandatory fields: " + ", ".join(missing)))
        else:
            parsed.append(item)
            positions.append(position)
    valid = [record.verify() for record in parsed]
    failed = {place: parsed[place].publisher for place, ok in enumerate(valid) if not ok}
    return _Part(positions, [r.txid for r in parsed], valid, failed, read_tables(parsed, valid), rejected)


def check_records(raws: Iterable[Any], source: str = "input", verified_only: bool = True) -> CheckedRecords:
    """Parse and check ``raws``; with ``verified_only`` a record whose signature fails is rejected, else kept.

    The work is done on every core (see the module's docstring). A txid names one record: when several claim it,
    the first whose signature verifies is kept and the others rejected. Rejections come in the order of the items:
    first those that did not parse or lack what a record needs, then those whose signature failed or whose txid
    another record took.

    Returns:
        The :class:`CheckedRecords`: records kept, whether each one's signature verified, the rejections. Nothing
        raises: a record that cannot be used becomes a rejection.
    """
    items = list(raws)  # (a copy: the caller's list may change, KeptRecords keeps this one)
    parts = map_ranges(partial(_check_part, source), items, CHUNK)
    out = CheckedRecords(rejected=[r for part in parts for r in part.rejected])
    positions = [p for part in parts for p in part.positions]
    txids = [t for part in parts for t in part.txids]
    valid = [ok for part in parts for ok in part.valid]
    failed, offset = {}, 0
    for part in parts:
        failed.update((offset + place, publisher) for place, publisher in part.failed.items())
        offset += len(part.positions)
    first = _first_claims(txids, valid)
    kept: list[int] = []
    where: dict[str, int] = {}
    for place, (txid, ok) in enumerate(zip(txids, valid)):
        if not ok:
            out.rejected.append(Rejection(f"{source} record", txid,
                                          f"signature does not verify for {failed[place] or 'no address'}"))
            if verified_only:
                continue
        if txid and first[txid] != place:
            out.rejected.append(Rejection(f"{source} record", txid, "another record claims this txid"))
            continue
        where[txid or f"#{len(kept)}"] = positions[place]
        out.valid.append(ok)
        kept.append(place)
    out.kept = KeptRecords(items, where)
    if parts:
        out.tables = _joined([part.tables for part in parts], kept, len(txids))
    return out


def _joined(tables: list[tuple[pa.RecordBatch, pa.RecordBatch]], kept: list[int],
            count: int) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """The chunks' rows of the tables in one piece, only those of the ``kept`` of all ``count`` records."""
    datasets = pa.concat_batches([d for d, _ in tables])
    files = pa.concat_batches([f for _, f in tables])
    if len(kept) == count:
        return datasets, files
    starts = np.cumsum([0] + [len(d) for d, _ in tables[:-1]])
    owner = np.concatenate([f.column("record").to_numpy() + start for (_, f), start in zip(tables, starts)])
    keep = np.zeros(count, dtype=bool)
    keep[kept] = True
    return datasets.take(pa.array(kept, pa.int64())), files.filter(pa.array(keep[owner]))


def _first_claims(txids: Sequence[str | None], valid: Sequence[bool]) -> dict[str, int]:
    """txid → the place of the record kept for it: the first that verifies, else the first."""
    first: dict[str, int] = {}
    for place, (txid, ok) in enumerate(zip(txids, valid)):
        if txid:
            held = first.setdefault(txid, place)
            if ok and not valid[held]:
                first[txid] = place
    return first

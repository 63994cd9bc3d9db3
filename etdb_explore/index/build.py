"""From raw harvested records to checked ones: parse, check mandatory fields and type, verify every signature.

One bad record never stops a load: it becomes a :class:`Rejection` with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from etdb_explore.errors import EtdbError
from etdb_explore.index.sources.base import Rejection
from etdb_explore.records import Record, parse_record

VERIFY_BATCH = 512


@dataclass
class CheckedRecords:
    """Records that parsed, whether each one's signature verified, and what was rejected."""

    records: list[Record] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


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


def _verify_chunk(records: Sequence[Record]) -> list[bool]:
    return [r.verify() for r in records]


def check_records(raws: Iterable[Any], source: str = "input", verified_only: bool = True) -> CheckedRecords:
    """Parse and check ``raws``; with ``verified_only`` a record whose signature fails is rejected, else kept.

    Signatures are verified in worker threads while parsing goes on (libsecp256k1 releases the GIL). A txid names
    one record: when several claim it, the first whose signature verifies is kept and the others rejected.

    Returns:
        The :class:`CheckedRecords`: records kept, whether each one's signature verified, the rejections. Nothing
        raises: a record that cannot be used becomes a rejection.
    """
    out = CheckedRecords()
    parsed: list[Record] = []
    pending = []
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        for position, raw in enumerate(raws):
            item = _parse(raw, position, source)
            if isinstance(item, Rejection):
                out.rejected.append(item)
                continue
            if not item.is_tomogram():
                out.rejected.append(Rejection(f"{source} item {position}", item.txid, "not a Research-Tomogram record "
                                              f"(type {item.artifact.get('type')!r}, subtype "
                                              f"{item.artifact.get('subtype')!r})"))
            elif missing := item.missing_fields():
                out.rejected.append(Rejection(f"{source} item {position}", item.txid,
                                              "missing mandatory fields: " + ", ".join(missing)))
            else:
                parsed.append(item)
                if len(parsed) % VERIFY_BATCH == 0:
                    pending.append(pool.submit(_verify_chunk, parsed[-VERIFY_BATCH:]))
        tail = len(parsed) % VERIFY_BATCH
        if tail:
            pending.append(pool.submit(_verify_chunk, parsed[-tail:]))
        valid = [ok for future in pending for ok in future.result()]
    first = _first_claims(parsed, valid)
    for position, (record, ok) in enumerate(zip(parsed, valid)):
        if not ok:
            out.rejected.append(Rejection(f"{source} record", record.txid,
                                          f"signature does not verify for {record.publisher or 'no address'}"))
            if verified_only:
                continue
        if record.txid and first[record.txid] != position:
            out.rejected.append(Rejection(f"{source} record", record.txid, "another record claims this txid"))
            continue
        out.records.append(record)
        out.valid.append(ok)
    return out


def _first_claims(records: Sequence[Record], valid: Sequence[bool]) -> dict[str, int]:
    """txid → the position of the record kept for it: the first that verifies, else the first."""
    first: dict[str, int] = {}
    for position, (record, ok) in enumerate(zip(records, valid)):
        if record.txid:
            held = first.setdefault(record.txid, position)
            if ok and not valid[held]:
                first[record.txid] = position
    return first

"""From raw harvested records to checked ones: parse, check mandatory fields and type, verify every signature.

One bad record never stops a load: it becomes a :class:`Rejection` with the reason.

Signatures are verified on every core while this process goes on parsing and reads the records' columns (see
:func:`~etdb_explore.index.frame.read_artifacts`): chunks of ``(address, signature, preimage)`` go to worker
processes (:mod:`etdb_explore.util.workers`: forked where the platform can; where no worker can start or one dies,
the chunk is verified here instead, with the same results).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from etdb_explore.errors import EtdbError
from etdb_explore.index.frame import read_artifacts
from etdb_explore.index.sources.base import Rejection
from etdb_explore.records import Record, flo, parse_record
from etdb_explore.util.workers import ChunkPool

VERIFY_BATCH = 512  # records per chunk sent to a worker process; fewer records are verified here


@dataclass
class CheckedRecords:
    """Records that parsed, whether each one's signature verified, and what was rejected."""

    records: list[Record] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    artifacts: pa.StructArray | None = None  # what the tables read of each record kept (frame.read_artifacts)


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


Claim = tuple[str, str, str]  # what a signature check needs: (address, signature, preimage)


def _claims(records: Sequence[Record]) -> list[Claim]:
    return [(r.publisher, r.signature, r.preimage) for r in records]


def _verify_claims(claims: Sequence[Claim]) -> list[bool]:
    """Whether each claim's signature verifies (:meth:`Record.verify` on its parts; runs in a worker process)."""
    return [bool(signature) and flo.verify_message(address, signature, preimage)
            for address, signature, preimage in claims]


def check_records(raws: Iterable[Any], source: str = "input", verified_only: bool = True) -> CheckedRecords:
    """Parse and check ``raws``; with ``verified_only`` a record whose signature fails is rejected, else kept.

    Signatures are verified in worker processes while parsing goes on (see the module's docstring). A txid names
    one record: when several claim it, the first whose signature verifies is kept and the others rejected.

    Returns:
        The :class:`CheckedRecords`: records kept, whether each one's signature verified, the rejections. Nothing
        raises: a record that cannot be used becomes a rejection.
    """
    out = CheckedRecords()
    parsed: list[Record] = []
    # this process, done parsing, verifies the chunks no worker has started instead of waiting for them
    with ChunkPool(_verify_claims, VERIFY_BATCH, steal=True) as verifier:
        _parse_all(raws, source, out, parsed, verifier)
        artifacts = read_artifacts(parsed)  # while the workers verify
        valid = verifier.results()
    first = _first_claims(parsed, valid)
    kept = []
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
        kept.append(position)
    out.artifacts = artifacts if len(kept) == len(parsed) else artifacts.take(pa.array(kept, pa.int64()))
    return out


def _parse_all(raws: Iterable[Any], source: str, out: CheckedRecords, parsed: list[Record],
               verifier: ChunkPool[Claim, bool]) -> None:
    """Parse ``raws`` into ``parsed`` (rejections into ``out``), handing full chunks to ``verifier`` as they come."""
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
                verifier.submit(_claims(parsed[-VERIFY_BATCH:]))
    tail = len(parsed) % VERIFY_BATCH
    if tail:
        verifier.submit(_claims(parsed[-tail:]))


def _first_claims(records: Sequence[Record], valid: Sequence[bool]) -> dict[str, int]:
    """txid → the position of the record kept for it: the first that verifies, else the first."""
    first: dict[str, int] = {}
    for position, (record, ok) in enumerate(zip(records, valid)):
        if record.txid:
            held = first.setdefault(record.txid, position)
            if ok and not valid[held]:
                first[record.txid] = position
    return first

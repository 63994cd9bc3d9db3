"""Applying a chain's OIP messages in block order: publishes, then the edits and deactivations that follow them."""

from __future__ import annotations

from collections.abc import Iterable

from etdb_explore.errors import EtdbError
from etdb_explore.records.record import Deactivate, Edit, Message, Record


def apply_messages(messages: Iterable[Message]) -> tuple[list[Record], list[tuple[str | None, str]]]:
    """Records after every edit and deactivation, in block order (ties keep the given order), with history kept.

    Returns the records and the messages that could not be applied, as (txid, reason); one bad message never stops
    the rest.
    """
    ordered = sorted(enumerate(messages), key=lambda im: ((im[1].block if im[1].block is not None else -1), im[0]))
    records: dict[str, Record] = {}
    problems: list[tuple[str | None, str]] = []
    for _, message in ordered:
        if isinstance(message, Record):
            records[message.txid or f"#{len(records)}"] = message
            continue
        target = _find(records, message.original)
        if target is None:
            problems.append((message.txid, f"{type(message).__name__.lower()} of unknown record {message.original}"))
            continue
        try:
            if isinstance(message, Edit):
                records[target] = records[target].apply_edit(message)
            elif isinstance(message, Deactivate):
                records[target] = records[target].apply_deactivation(message)
        except EtdbError as exc:
            problems.append((message.txid, str(exc)))
    return list(records.values()), problems


def _find(records: dict[str, Record], txid: str) -> str | None:
    if txid in records:
        return txid
    matches = [t for t in records if t.startswith(txid)]
    return matches[0] if len(matches) == 1 else None

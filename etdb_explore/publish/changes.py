"""Messages into the publish log, and the lab's changes to its own records: edits and deactivations.

    edit(log, index.record(txid), key, changes={"details.defocus": -6.0}, node=rpc)
    deactivate(log, index.record(txid), key, offline=True)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from etdb_explore.errors import EtdbError
from etdb_explore.index.sources.flod import FlodRpc
from etdb_explore.publish.broadcast import Broadcaster
from etdb_explore.publish.log import PublishLog, open_log
from etdb_explore.publish.messages import deactivate_message, edit_message, field_patch, first_part
from etdb_explore.records.flo import PrivateKey
from etdb_explore.records.record import Record
from etdb_explore.util import bridge


def enqueue(log: PublishLog, name: str, kind: str, message: str, key: PrivateKey) -> None:
    """Sign ``message``'s part 0 (or the whole message when it fits one transaction) into the log as ``name``.

    Raises:
        PublishLogError: ``name`` is already signed with another message.
    """
    chunks, first = first_part(message, key)
    log.add_signed(name, kind, message, key.address, chunks, first)


def _send(log: str | Path | PublishLog, name: str, kind: str, message: str, key: PrivateKey,
          node: FlodRpc | None, offline: bool) -> str:
    if node is None and not offline:
        raise EtdbError("say where the message goes: node=FlodRpc(…) to broadcast, or offline=True")
    with open_log(log) as plog:
        enqueue(plog, name, kind, message, key)
        if node is not None:
            bridge.run(Broadcaster(node).run(plog, key))
    return name


def edit(log: str | Path | PublishLog, record: Record, key: PrivateKey, *, changes: Mapping[str, Any] | None = None,
         patch: list[dict[str, Any]] | None = None, node: FlodRpc | None = None, offline: bool = False,
         timestamp: int | None = None) -> str:
    """Edit the lab's own published ``record``: ``changes`` (dotted field → new value) or an RFC 6902 ``patch``,
    re-signed; into the log, then broadcast through ``node`` (or kept there, ``offline``).

    Returns:
        The edit's name in the log.

    Raises:
        RecordError: the record is not this key's, has no txid, or the patch fails.
        EtdbError: neither ``node`` nor ``offline`` is given.
        RpcError, SourceError: broadcasting failed (run :func:`~etdb_explore.publish.broadcast.broadcast` again).
    """
    ops = list(patch or []) + field_patch(record, changes or {})
    message, edited = edit_message(record, ops, key, timestamp)
    return _send(log, f"edit {record.txid} {edited.timestamp}", "edit", message, key, node, offline)


def deactivate(log: str | Path | PublishLog, record: Record, key: PrivateKey, *, node: FlodRpc | None = None,
               offline: bool = False, timestamp: int | None = None) -> str:
    """Deactivate the lab's own published ``record``; into the log, then broadcast (or kept there, ``offline``).

    Returns:
        The deactivation's name in the log.

    Raises:
        RecordError: the record is not this key's or has no txid.
        EtdbError: neither ``node`` nor ``offline`` is given.
        RpcError, SourceError: broadcasting failed.
    """
    return _send(log, f"deactivate {record.txid}", "deactivate", deactivate_message(record, key, timestamp), key,
                 node, offline)

"""The floData a lab publishes: records, edits and deactivations of its own records, split into signed parts.

A message longer than a transaction holds is split as go-etdb did (:func:`~etdb_explore.records.multipart.split_flodata`);
part 0 is signed at once, the later parts name part 0's txid, so they are signed once it is known. Many records (or
many messages' later parts) are signed on every core (:func:`sign_records`, :func:`sign_later_parts`); signatures are
deterministic (RFC 6979), so the floData is byte for byte what signing one at a time gives.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from etdb_explore.errors import RecordError
from etdb_explore.records import gojson
from etdb_explore.records.artifact import normalize_artifact
from etdb_explore.records.flo import PrivateKey
from etdb_explore.records.multipart import sign_part, split_flodata
from etdb_explore.records.patch import apply_patch
from etdb_explore.records.record import Record
from etdb_explore.util.workers import map_chunks

SIGN_CHUNK = 256  # records (or messages) per chunk a worker process signs


def first_part(message: str, key: PrivateKey) -> tuple[list[str], str]:
    """The chunks of ``message`` and the floData of its part 0.

    Returns:
        (chunks, floData of part 0): the message itself when it fits in one transaction, else part 0 signed.
    """
    chunks = split_flodata(message)
    if len(chunks) == 1:
        return chunks, message
    return chunks, sign_part(key, 0, len(chunks) - 1, "", chunks[0]).to_flodata()


def later_parts(chunks: list[str], key: PrivateKey, first_txid: str) -> dict[int, str]:
    """The floData of parts 1… of a multipart message, naming part 0's txid (as go-etdb did, all 64 hex digits).

    Returns:
        part number → floData.
    """
    max_ = len(chunks) - 1
    return {k: sign_part(key, k, max_, first_txid, chunks[k]).to_flodata() for k in range(1, len(chunks))}


def _sign_records(key: PrivateKey, records: list[Record]) -> list[tuple[list[str], str]]:
    return [first_part(record.signed(key).to_flodata(), key) for record in records]


def sign_records(records: Sequence[Record], key: PrivateKey) -> list[tuple[list[str], str]]:
    """Each record signed by ``key``, as floData split into chunks, its part 0 signed (:func:`first_part`); on every
    core when there are many.

    Returns:
        Per record, in order: (chunks, floData of part 0). The whole message is ``"".join(chunks)``.
    """
    return map_chunks(partial(_sign_records, key), records, SIGN_CHUNK)


def _sign_later(key: PrivateKey, jobs: list[tuple[list[str], str]]) -> list[dict[int, str]]:
    return [later_parts(chunks, key, first_txid) for chunks, first_txid in jobs]


def sign_later_parts(jobs: Sequence[tuple[list[str], str]], key: PrivateKey) -> list[dict[int, str]]:
    """:func:`later_parts` of many messages, given as (chunks, part 0's txid); on every core when there are many.

    Returns:
        Per message, in order: part number → floData.
    """
    return map_chunks(partial(_sign_later, key), jobs, SIGN_CHUNK)


def _check_owner(record: Record, key: PrivateKey) -> None:
    if record.publisher != key.address:
        raise RecordError(f"record {record.txid} was published by {record.publisher}, not by this key's address "
                          f"{key.address}: a lab edits and deactivates its own records only")


def edit_message(record: Record, patch: list[dict[str, Any]], key: PrivateKey, timestamp: int | None = None
                 ) -> tuple[str, Record]:
    """An OIP 0.42 edit of the lab's own ``record``: ``patch`` (RFC 6902, relative to the artifact) plus the new
    timestamp and signature, so the patched record verifies.

    Returns:
        (the edit's floData, the record as readers will see it after the edit).

    Raises:
        RecordError: ``record`` has no txid or is not this key's, the patch fails or makes an invalid record, or it
            touches the publisher or the signature itself.
    """
    if not record.txid:
        raise RecordError("only a published record (with a txid) can be edited")
    _check_owner(record, key)
    if any(str(op.get("path", "")).startswith(("/floAddress", "/signature")) for op in patch):
        raise RecordError(f"edit of {record.txid}: the publisher and the signature are not edited by hand")
    stamp = int(time.time()) if timestamp is None else timestamp
    patched = Record(normalize_artifact({**apply_patch(record.artifact, patch), "timestamp": stamp}),
                     record.txid).signed(key)
    ops = [*patch, {"op": "replace" if record.timestamp else "add", "path": "/timestamp", "value": stamp},
           {"op": "replace" if record.signature else "add", "path": "/signature", "value": patched.signature}]
    body = {"oip042": {"edit": {"artifact": {"txid": record.txid, "timestamp": stamp, "patch": ops},
                                "signature": key.sign_message(f"{record.txid}-{stamp}")}}}
    return "json:" + gojson.dumps(body), patched


def field_patch(record: Record, changes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """RFC 6902 operations setting artifact fields given by dotted path (``details.defocus``, ``info.title``).

    Returns:
        One ``replace`` (or ``add`` for a field the record lacks) per change.
    """
    ops = []
    for dotted, value in changes.items():
        node: Any = record.artifact
        parts = dotted.split(".")
        for name in parts[:-1]:
            node = node.get(name, {}) if isinstance(node, dict) else {}
        op = "replace" if isinstance(node, dict) and parts[-1] in node else "add"
        ops.append({"op": op, "path": "/" + "/".join(parts), "value": value})
    return ops


def deactivate_message(record: Record, key: PrivateKey, timestamp: int | None = None) -> str:
    """An OIP 0.42 deactivation of the lab's own ``record``.

    Returns:
        Its floData.

    Raises:
        RecordError: ``record`` has no txid or is not this key's.
    """
    if not record.txid:
        raise RecordError("only a published record (with a txid) can be deactivated")
    _check_owner(record, key)
    stamp = int(time.time()) if timestamp is None else timestamp
    body = {"oip042": {"deactivate": {"artifact": {"artifactID": record.txid, "timestamp": stamp},
                                      "signature": key.sign_message(f"{record.txid}-{key.address}-{stamp}")}}}
    return "json:" + gojson.dumps(body)

"""The Research-Tomogram record: one model for every shape a record arrives in, and the OIP messages about it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from etdb_explore.errors import RecordError
from etdb_explore.records import flo
from etdb_explore.records.artifact import (
    missing_fields,
    normalize_artifact,
    serialize_artifact,
)
from etdb_explore.records.patch import apply_patch, squashed_to_operations


@dataclass(frozen=True)
class Change:
    """An edit or deactivation applied to a record, kept in its history."""

    kind: str  # "edit" | "deactivate"
    txid: str | None
    timestamp: int
    block: int | None = None
    patch: tuple[dict[str, Any], ...] = ()


@dataclass
class Record:
    """A signed Research-Tomogram artifact with where it was found on chain.

    ``artifact`` is canonical (see :mod:`etdb_explore.records.artifact`); ``source`` names the shape it was parsed
    from (``flodata``, ``oipd``, ``v2``, ``metadata``).
    """

    artifact: dict[str, Any]
    txid: str | None = None
    block: int | None = None
    block_time: int | None = None
    source: str = "artifact"
    history: list[Change] = field(default_factory=list)
    deactivated: bool = False

    @property
    def publisher(self) -> str:
        return self.artifact.get("floAddress", "")

    @property
    def title(self) -> str:
        return self.artifact.get("info", {}).get("title", "")

    @property
    def timestamp(self) -> int:
        return self.artifact.get("timestamp", 0)

    @property
    def location(self) -> str:
        return self.artifact.get("storage", {}).get("location", "")

    @property
    def details(self) -> dict[str, Any]:
        return self.artifact.get("details", {})

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.artifact.get("storage", {}).get("files", [])

    @property
    def signature(self) -> str:
        return self.artifact.get("signature", "")

    @property
    def preimage(self) -> str:
        """What the publisher signed: ``location-floAddress-timestamp`` (not the JSON)."""
        return f"{self.location}-{self.publisher}-{self.timestamp}"

    def is_tomogram(self) -> bool:
        return (str(self.artifact.get("type", "")).lower(), str(self.artifact.get("subtype", "")).lower()) == (
            "research", "tomogram")

    def missing_fields(self) -> list[str]:
        return missing_fields(self.artifact)

    def verify(self) -> bool:
        """True when the artifact's signature verifies against its floAddress."""
        return bool(self.signature) and flo.verify_message(self.publisher, self.signature, self.preimage)

    def signed(self, key: flo.PrivateKey) -> Record:
        """A copy published by ``key``: floAddress set, signature made over the preimage."""
        artifact = normalize_artifact({**self.artifact, "floAddress": key.address, "signature": ""})
        unsigned = replace(self, artifact=artifact)
        return replace(unsigned, artifact=normalize_artifact({**artifact, "signature": key.sign_message(
            unsigned.preimage)}))

    def to_json(self) -> str:
        """The artifact as go-etdb serialized it."""
        return serialize_artifact(self.artifact)

    def to_flodata(self) -> str:
        """The floData go-etdb published: ``json:{"oip042":{"publish":{"artifact":…}}}``."""
        return 'json:{"oip042":{"publish":{"artifact":' + self.to_json() + "}}}"

    def apply_edit(self, edit: Edit) -> Record:
        """This record with a verified edit applied; RecordError when the edit is not the publisher's."""
        if not flo.verify_message(self.publisher, edit.signature, edit.preimage):
            raise RecordError(f"edit {edit.txid or '?'} of {self.txid}: signature does not verify for {self.publisher}")
        patched = Record(normalize_artifact(apply_patch(self.artifact, list(edit.patch))), self.txid, self.block,
                         self.block_time, self.source, self.history, self.deactivated)
        if patched.publisher != self.publisher:
            raise RecordError(f"edit {edit.txid or '?'} of {self.txid} tries to change the publisher")
        if not patched.verify():
            raise RecordError(f"edit {edit.txid or '?'} of {self.txid}: the patched record's signature does not verify")
        change = Change("edit", edit.txid, edit.timestamp, edit.block, tuple(edit.patch))
        return replace(patched, history=[*self.history, change])

    def apply_deactivation(self, deactivation: Deactivate) -> Record:
        if not flo.verify_message(self.publisher, deactivation.signature, deactivation.preimage(self.publisher)):
            raise RecordError(f"deactivation {deactivation.txid or '?'} of {self.txid}: signature does not verify "
                              f"for {self.publisher}")
        change = Change("deactivate", deactivation.txid, deactivation.timestamp, deactivation.block)
        return replace(self, deactivated=True, history=[*self.history, change])


@dataclass(frozen=True)
class Edit:
    """An OIP 0.42 edit: an RFC 6902 patch of the artifact signed over ``<original txid>-<timestamp>``."""

    original: str
    timestamp: int
    patch: tuple[dict[str, Any], ...]
    signature: str
    txid: str | None = None
    block: int | None = None

    @property
    def preimage(self) -> str:
        return f"{self.original}-{self.timestamp}"


@dataclass(frozen=True)
class Deactivate:
    """An OIP 0.42 deactivation signed over ``<txid>-<publisher>-<timestamp>``."""

    original: str
    timestamp: int
    signature: str
    txid: str | None = None
    block: int | None = None

    def preimage(self, publisher: str) -> str:
        return f"{self.original}-{publisher}-{self.timestamp}"


Message = Record | Edit | Deactivate


def _load_json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"{what}: malformed JSON ({exc})") from exc


def parse_message(flodata: str, txid: str | None = None, block: int | None = None,
                  block_time: int | None = None) -> Message:
    """Parse a (whole) OIP 0.42 floData: a publish, an edit or a deactivation."""
    name = f"transaction {txid or '?'}"
    if not flodata.startswith("json:"):
        raise RecordError(f"{name}: floData is not an OIP 0.42 message (no 'json:' prefix)")
    body = _load_json(flodata[5:], name)
    oip = body.get("oip042") if isinstance(body, dict) else None
    if not isinstance(oip, dict):
        raise RecordError(f"{name}: no oip042 object")
    if "publish" in oip:
        artifact = (oip["publish"] or {}).get("artifact")
        return _record(artifact, txid, block, block_time, "flodata")
    if "edit" in oip:
        edit = oip["edit"] or {}
        inner = edit.get("artifact") or {}
        patch = inner.get("patch")
        if isinstance(patch, dict):
            patch = squashed_to_operations(patch)
        if not isinstance(patch, list) or not inner.get("txid"):
            raise RecordError(f"{name}: edit without txid or patch")
        return Edit(inner["txid"], int(inner.get("timestamp", 0)), tuple(patch),
                    edit.get("signature") or inner.get("signature", ""), txid, block)
    if "deactivate" in oip:
        deact = oip["deactivate"] or {}
        inner = deact.get("artifact") or {}
        original = inner.get("artifactID") or inner.get("txid")
        if not original:
            raise RecordError(f"{name}: deactivation without artifactID")
        return Deactivate(original, int(inner.get("timestamp", 0)), deact.get("signature") or inner.get(
            "signature", ""), txid, block)
    raise RecordError(f"{name}: unknown OIP 0.42 message {sorted(oip)}")


def _record(artifact: Any, txid: str | None, block: int | None, block_time: int | None, source: str) -> Record:
    if not isinstance(artifact, dict):
        raise RecordError(f"record {txid or '?'}: no artifact object")
    try:
        canonical = normalize_artifact(artifact)
    except RecordError as exc:
        raise RecordError(f"record {txid or '?'}: {exc}") from exc
    return Record(canonical, txid, block, block_time, source)


def parse_record(obj: Any, txid: str | None = None) -> Record:
    """One record from any shape met in the wild.

    Accepts raw floData (``json:`` prefix), an oipd search result (``{"artifact", "meta"}``), the old v2 envelope
    (``{"oip042": {"artifact"}, "txid", "publisher"}``), an etdb-downloads ``metadata.json`` entry (a bare
    artifact), or JSON text of any of these.
    """
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8", errors="strict")
    if isinstance(obj, str):
        if obj.startswith("json:"):
            message = parse_message(obj, txid)
            if not isinstance(message, Record):
                raise RecordError(f"transaction {txid or '?'}: floData is an {type(message).__name__.lower()}, "
                                  "not a publish")
            return message
        obj = _load_json(obj, f"record {txid or '?'}")
    if not isinstance(obj, dict):
        raise RecordError(f"record {txid or '?'}: expected a JSON object, got {type(obj).__name__}")
    if "artifact" in obj and "meta" in obj:
        meta = obj.get("meta") or {}
        return _record(obj["artifact"], meta.get("txid", txid), meta.get("block"), meta.get("time"), "oipd")
    if "oip042" in obj:
        oip = obj["oip042"] or {}
        artifact = oip.get("artifact") or (oip.get("publish") or {}).get("artifact")
        record = _record(artifact, obj.get("txid", txid), obj.get("block"), obj.get("time"), "v2")
        if obj.get("publisher") and not record.publisher:
            record.artifact = normalize_artifact({**record.artifact, "floAddress": obj["publisher"]})
        return record
    if "artifact" in obj:
        return _record(obj["artifact"], obj.get("txid", txid), obj.get("block"), obj.get("time"), "metadata")
    if "storage" in obj or "floAddress" in obj:
        return _record(obj, obj.get("txid", txid), None, None, "metadata")
    raise RecordError(f"record {txid or '?'}: unknown record shape with keys {sorted(obj)[:8]}")

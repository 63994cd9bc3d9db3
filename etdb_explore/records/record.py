"""The Research-Tomogram record: one model for every shape a record arrives in, and the OIP messages about it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from etdb_explore.errors import RecordError
from etdb_explore.records import flo
from etdb_explore.records.artifact import (
    INT64,
    missing_fields,
    normalize_artifact,
    serialize_artifact,
    typed,
)
from etdb_explore.records.patch import apply_patch, squashed_to_operations
from etdb_explore.records.safejson import as_text, check_text, describe, loads

MAX_TXID = 128  # a FLO txid has 64 hex digits; sources may give prefixes


@dataclass(frozen=True)
class Change:
    """An edit or deactivation applied to a record, kept in its history with what its publisher signed.

    ``original`` is the record's txid as the message named it (maybe a prefix), ``signature`` the message's.
    """

    kind: str  # "edit" | "deactivate"
    txid: str | None
    timestamp: int
    block: int | None = None
    patch: tuple[dict[str, Any], ...] = ()
    original: str = ""
    signature: str = ""

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Change:
        """A change from its JSON form (``dataclasses.asdict``, as snapshots keep it).

        Returns:
            The change (its signature not checked: see :meth:`verify`).

        Raises:
            RecordError: naming ``where`` when a member is missing or of the wrong type.
        """
        obj = _object(obj, where)
        kind = _text(obj.get("kind"), f"{where} kind")
        if kind not in ("edit", "deactivate"):
            raise RecordError(f"{where}: unknown kind of change {describe(kind)}")
        patch = obj.get("patch") or []
        if not isinstance(patch, list):
            raise RecordError(f"{where}: patch must be a list, not {describe(patch)}")
        return cls(kind, _text(obj.get("txid"), f"{where} txid") or None,
                   typed("timestamp", obj.get("timestamp", 0), where), _height(obj.get("block"), f"{where} block"),
                   tuple(patch), _text(obj.get("original"), f"{where} original"),
                   _text(obj.get("signature"), f"{where} signature"))

    def verify(self, publisher: str) -> bool:
        """Check the change's signature for ``publisher`` (over an edit's or a deactivation's preimage).

        Returns:
            True when it verifies; False otherwise (never raising).
        """
        preimage = f"{self.original}-{self.timestamp}" if self.kind == "edit" else \
            f"{self.original}-{publisher}-{self.timestamp}"
        return bool(self.original) and flo.verify_message(publisher, self.signature, preimage)


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
        """The FLO address that signed the record (``floAddress``; "" when absent)."""
        return self.artifact.get("floAddress", "")

    @property
    def title(self) -> str:
        """``info.title`` ("" when absent); not covered by the signature."""
        return self.artifact.get("info", {}).get("title", "")

    @property
    def timestamp(self) -> int:
        """The publisher's Unix timestamp (0 when absent); part of what is signed."""
        return self.artifact.get("timestamp", 0)

    @property
    def location(self) -> str:
        """``storage.location``: the IPFS CID of the dataset's folder ("" when absent); part of what is signed."""
        return self.artifact.get("storage", {}).get("location", "")

    @property
    def details(self) -> dict[str, Any]:
        """The ``details`` object (species, tilt scheme, microscope, …; empty when absent)."""
        return self.artifact.get("details", {})

    @property
    def files(self) -> list[dict[str, Any]]:
        """The ``storage.files`` entries (``fname`` relative to :attr:`location`, ``fsize``, ``subtype``, …)."""
        return self.artifact.get("storage", {}).get("files", [])

    @property
    def signature(self) -> str:
        """The base64 signature over :attr:`preimage` ("" when unsigned)."""
        return self.artifact.get("signature", "")

    @property
    def preimage(self) -> str:
        """What the publisher signed: ``location-floAddress-timestamp`` (not the JSON)."""
        return f"{self.location}-{self.publisher}-{self.timestamp}"

    def is_tomogram(self) -> bool:
        """Whether the artifact is a Research-Tomogram (type research, subtype tomogram, any case).

        Returns:
            True or False.
        """
        return (str(self.artifact.get("type", "")).lower(), str(self.artifact.get("subtype", "")).lower()) == (
            "research", "tomogram")

    def missing_fields(self) -> list[str]:
        """The mandatory fields the record lacks (see :func:`~etdb_explore.records.artifact.missing_fields`).

        Returns:
            Their dotted names; empty when none is missing.
        """
        return missing_fields(self.artifact)

    def verify(self) -> bool:
        """Check the artifact's signature against its floAddress.

        Returns:
            True when it verifies; False otherwise (unsigned, malformed, another key), never raising.
        """
        return bool(self.signature) and flo.verify_message(self.publisher, self.signature, self.preimage)

    def signed(self, key: flo.PrivateKey) -> Record:
        """A copy published by ``key``: floAddress set, signature made over the preimage.

        Returns:
            The signed copy (this record is not changed).
        """
        # the artifact is canonical and stays so: an address and a signature are non-empty ASCII text (the nested
        # objects are shared with this record, which is not changed)
        artifact = {name: value for name, value in self.artifact.items() if name != "signature"}
        artifact["floAddress"] = key.address
        signed = replace(self, artifact=artifact)
        artifact["signature"] = key.sign_message(signed.preimage)  # the preimage leaves the signature out
        return signed

    def to_json(self) -> str:
        """The artifact as go-etdb serialized it.

        Returns:
            The compact JSON text (see :func:`~etdb_explore.records.artifact.serialize_artifact`).
        """
        return serialize_artifact(self.artifact)

    def to_flodata(self) -> str:
        """The floData go-etdb published.

        Returns:
            ``json:{"oip042":{"publish":{"artifact":…}}}`` (split it with
            :func:`~etdb_explore.records.multipart.split_flodata` when longer than a transaction holds).
        """
        return 'json:{"oip042":{"publish":{"artifact":' + self.to_json() + "}}}"

    def apply_edit(self, edit: Edit) -> Record:
        """This record with a verified edit applied, the edit added to its history.

        Returns:
            The edited copy (this record is not changed).

        Raises:
            RecordError: naming the edit – its signature does not verify for the publisher, its patch fails or
                makes an invalid artifact, it changes the publisher, or the patched record's signature fails.
        """
        if not flo.verify_message(self.publisher, edit.signature, edit.preimage):
            raise RecordError(f"edit {edit.txid or '?'} of {self.txid}: signature does not verify for {self.publisher}")
        patched = Record(normalize_artifact(apply_patch(self.artifact, list(edit.patch))), self.txid, self.block,
                         self.block_time, self.source, self.history, self.deactivated)
        if patched.publisher != self.publisher:
            raise RecordError(f"edit {edit.txid or '?'} of {self.txid} tries to change the publisher")
        if not patched.verify():
            raise RecordError(f"edit {edit.txid or '?'} of {self.txid}: the patched record's signature does not verify")
        change = Change("edit", edit.txid, edit.timestamp, edit.block, tuple(edit.patch), edit.original,
                        edit.signature)
        return replace(patched, history=[*self.history, change])

    def apply_deactivation(self, deactivation: Deactivate) -> Record:
        """This record marked deactivated, the deactivation added to its history.

        Returns:
            The deactivated copy (this record is not changed).

        Raises:
            RecordError: the deactivation's signature does not verify for the publisher.
        """
        if not flo.verify_message(self.publisher, deactivation.signature, deactivation.preimage(self.publisher)):
            raise RecordError(f"deactivation {deactivation.txid or '?'} of {self.txid}: signature does not verify "
                              f"for {self.publisher}")
        change = Change("deactivate", deactivation.txid, deactivation.timestamp, deactivation.block, (),
                        deactivation.original, deactivation.signature)
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
        """What the publisher signed: ``<original txid>-<timestamp>``."""
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
        """What ``publisher`` signed.

        Returns:
            ``<txid>-<publisher>-<timestamp>``.
        """
        return f"{self.original}-{publisher}-{self.timestamp}"


Message = Record | Edit | Deactivate


def _object(value: Any, what: str) -> dict[str, Any]:
    """``value`` when it is a JSON object, ``{}`` when it is absent or empty; RecordError otherwise."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"{what} must be a JSON object, not {describe(value)}")
    return value


def _text(value: Any, what: str) -> str:
    """``value`` when it is a valid string, ``""`` when absent; RecordError otherwise."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"{what} must be a string, not {describe(value)}")
    return check_text(value, what)


def _keys(obj: dict[Any, Any]) -> str:
    """The first keys of an untrusted object, printable."""
    return ", ".join(describe(k) for k in list(obj)[:8]) or "none"


def _height(value: Any, what: str) -> int | None:
    """A block height or time given in record metadata: None, or an int within int64."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -INT64 <= value < INT64:
        raise RecordError(f"{what} must be an integer, not {describe(value)}")
    return value


def _patch(inner: dict[str, Any], name: str) -> tuple[dict[str, Any], ...]:
    patch = inner.get("patch")
    if isinstance(patch, dict):
        patch = squashed_to_operations(patch)
    if not isinstance(patch, list):
        raise RecordError(f"{name}: edit without a patch")
    return tuple(patch)


def parse_message(flodata: str | bytes, txid: str | None = None, block: int | None = None,
                  block_time: int | None = None) -> Message:
    """Parse a (whole) OIP 0.42 floData: a publish, an edit or a deactivation.

    Returns:
        A :class:`Record`, :class:`Edit` or :class:`Deactivate`.

    Raises:
        RecordError: naming the transaction – not an OIP 0.42 message, malformed or unbounded JSON, a field of the
            wrong type.
    """
    name = f"transaction {txid or '?'}"
    flodata = as_text(flodata, f"{name}: floData")
    if not flodata.startswith("json:"):
        raise RecordError(f"{name}: floData is not an OIP 0.42 message (no 'json:' prefix)")
    body = loads(flodata[5:], name)
    oip = body.get("oip042") if isinstance(body, dict) else None
    if not isinstance(oip, dict):
        raise RecordError(f"{name}: no oip042 object")
    if "publish" in oip:
        return _record(_object(oip["publish"], f"{name}: publish").get("artifact"), txid, block, block_time,
                       "flodata")
    if "edit" in oip:
        edit = _object(oip["edit"], f"{name}: edit")
        inner = _object(edit.get("artifact"), f"{name}: edit artifact")
        original = _text(inner.get("txid"), f"{name}: edit txid")
        if not original:
            raise RecordError(f"{name}: edit without txid")
        signature = _text(edit.get("signature") or inner.get("signature"), f"{name}: edit signature")
        return Edit(original, typed("timestamp", inner.get("timestamp", 0), f"{name}: edit"), _patch(inner, name),
                    signature, txid, block)
    if "deactivate" in oip:
        deact = _object(oip["deactivate"], f"{name}: deactivate")
        inner = _object(deact.get("artifact"), f"{name}: deactivate artifact")
        original = _text(inner.get("artifactID") or inner.get("txid"), f"{name}: deactivation artifactID")
        if not original:
            raise RecordError(f"{name}: deactivation without artifactID")
        signature = _text(deact.get("signature") or inner.get("signature"), f"{name}: deactivation signature")
        return Deactivate(original, typed("timestamp", inner.get("timestamp", 0), f"{name}: deactivation"),
                          signature, txid, block)
    raise RecordError(f"{name}: unknown OIP 0.42 message with keys {_keys(oip)}")


def _record(artifact: Any, txid: Any, block: Any, block_time: Any, source: str) -> Record:
    txid = _text(txid, "record txid") or None
    if txid and len(txid) > MAX_TXID:
        raise RecordError(f"record txid {describe(txid)} is longer than {MAX_TXID} characters")
    if not isinstance(artifact, dict):
        raise RecordError(f"record {txid or '?'}: no artifact object")
    try:
        canonical = normalize_artifact(artifact)
        block, block_time = _height(block, "block"), _height(block_time, "time")
    except RecordError as exc:
        raise RecordError(f"record {txid or '?'}: {exc}") from exc
    return Record(canonical, txid, block, block_time, source)


def parse_record(obj: Any, txid: str | None = None) -> Record:
    """One record from any shape met in the wild.

    Accepts raw floData (``json:`` prefix), an oipd search result (``{"artifact", "meta"}``), the old v2 envelope
    (``{"oip042": {"artifact"}, "txid", "publisher"}``), an etdb-downloads ``metadata.json`` entry (a bare
    artifact), or JSON text (str or UTF-8 bytes) of any of these.

    Returns:
        The :class:`Record`, its artifact canonical (see :mod:`etdb_explore.records.artifact`).

    Raises:
        RecordError: naming the record – malformed or unbounded JSON (see :mod:`etdb_explore.records.safejson`),
            an unknown shape, or a field Go could not have read.
    """
    name = f"record {txid or '?'}"
    if isinstance(obj, (bytes, bytearray)):
        obj = as_text(obj, name)
    if isinstance(obj, str):
        if obj.startswith("json:"):
            message = parse_message(obj, txid)
            if not isinstance(message, Record):
                raise RecordError(f"transaction {txid or '?'}: floData is an {type(message).__name__.lower()}, "
                                  "not a publish")
            return message
        obj = loads(obj, name)
    if not isinstance(obj, dict):
        raise RecordError(f"{name}: expected a JSON object, got {describe(obj)}")
    if "artifact" in obj and "meta" in obj:
        meta = _object(obj.get("meta"), f"{name}: meta")
        return _record(obj["artifact"], meta.get("txid", txid), meta.get("block"), meta.get("time"), "oipd")
    if "oip042" in obj:
        oip = _object(obj["oip042"], f"{name}: oip042")
        artifact = oip.get("artifact") or _object(oip.get("publish"), f"{name}: publish").get("artifact")
        record = _record(artifact, obj.get("txid", txid), obj.get("block"), obj.get("time"), "v2")
        if obj.get("publisher") and not record.publisher:
            record.artifact = normalize_artifact({**record.artifact, "floAddress": obj["publisher"]})
        return record
    if "artifact" in obj:
        return _record(obj["artifact"], obj.get("txid", txid), obj.get("block"), obj.get("time"), "metadata")
    if "storage" in obj or "floAddress" in obj:
        return _record(obj, obj.get("txid", txid), None, None, "metadata")
    raise RecordError(f"{name}: unknown record shape with keys {_keys(obj)}")

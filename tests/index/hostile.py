"""Hostile records, each once seen to abort a whole index load (issue 9, item 1), in the forms each source delivers.

A trigger is the JSON text of an artifact (or of a whole floData message) that no honest encoder writes: it is
served as it is by the oipd stand-in, mined as floData (in signed multipart parts when over 1040 bytes) by the flod
stand-in, and handed to ``Index.from_records`` as text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from etdb_explore.demo.sample import synthetic_records
from etdb_explore.records import flo, sign_parts

GOOD = synthetic_records(3, seed=21)
_BASE = synthetic_records(1, seed=22)[0]["artifact"]
ATTACKER = flo.PrivateKey.from_seed("attacker", "testnet")


@dataclass(frozen=True)
class Trigger:
    name: str
    artifact: str | None  # the artifact's JSON text; None for a whole floData message
    flodata: str
    reason: str  # a regex the rejection's reason matches (when parsed from text)

    @property
    def txid(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def item(self) -> str:
        """The oipd search result (``{"artifact", "meta"}``) as JSON text, or the floData itself."""
        if self.artifact is None:
            return self.flodata
        return '{"artifact":' + self.artifact + ',"meta":{"txid":"' + self.txid + '","block":7,"time":8}}'


def _with(path: str, value_json: str) -> str:
    """The base artifact's JSON with the field at dotted ``path`` replaced by the JSON text ``value_json``."""
    marker = "\u0000marker\u0000"
    artifact = json.loads(json.dumps(_BASE))
    *parents, last = path.split(".")
    node = artifact
    for key in parents:
        node = node[key]
    node[last] = marker
    return json.dumps(artifact).replace(json.dumps(marker), value_json)


def _publish(artifact: str) -> str:
    return 'json:{"oip042":{"publish":{"artifact":' + artifact + "}}}"


def _field(name: str, path: str, value_json: str, reason: str) -> Trigger:
    artifact = _with(path, value_json)
    return Trigger(name, artifact, _publish(artifact), reason)


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


TRIGGERS = [
    _field("signature a number", "signature", "12345", r"signature: 12345 is not a string"),
    _field("timestamp 1e400", "timestamp", '"1e400"', r"timestamp: '1e400' is not a valid integer"),
    _field("date 2**63", "details.date", str(2**63), r"details.date: 9223372036854775808 is not a valid integer"),
    _field("defocus 10**400", "details.defocus", str(10**400), r"integer of 401 characters is out of range"),
    _field("NCBItaxID 2**63", "details.NCBItaxID", str(2**63), r"NCBItaxID: 9223372036854775808 is not a valid"),
    _field("scopeName {}", "details.scopeName", "{}", r"scopeName: an object of 0 keys is not a string"),
    _field("floAddress [x]", "floAddress", '["x"]', r"floAddress: an array of 1 items is not a string"),
    _field("title lone surrogate", "info.title", '"\\ud800"', r"not valid Unicode \(a lone surrogate\)"),
    _field("5,000-digit number", "details.tiltMin", "9" * 5000, r"integer of 5000 characters is out of range"),
    _field("strain NaN", "details.strain", "NaN", r"NaN is not JSON"),
    _field("100,000-deep JSON", "details.artNotes", _deep(100_000), r"JSON nests deeper than 64 levels"),
    _field("1,000-deep JSON", "details.sid", _deep(1000), r"JSON nests deeper than 64 levels"),
    Trigger("publish is a string", None, 'json:{"oip042":{"publish":"x"}}', r"publish must be a JSON object"),
    Trigger("edit timestamp x", None, 'json:{"oip042":{"edit":{"artifact":{"txid":"' + "ab" * 32 + '",'
            '"timestamp":"x","patch":[]},"signature":"c2ln"}}}', r"edit.timestamp: 'x' is not a valid integer"),
    Trigger("deactivation artifact [1]", None, 'json:{"oip042":{"deactivate":{"artifact":[1]}}}',
            r"deactivate artifact must be a JSON object"),
    Trigger("1,000-deep floData", None, "json:" + _deep(1000), r"JSON nests deeper than 64 levels"),
]


def python_values() -> list[tuple[str, dict, str]]:
    """The same hostile values as Python objects in an oipd-shaped dict (what a caller of from_records may pass)."""
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    cases = [("signature", 12345, "not a string"), ("timestamp", "1e400", "not a valid integer"),
             ("details.date", 2**63, "not a valid integer"), ("details.defocus", 10**400, "not a valid number"),
             ("details.NCBItaxID", 2**63, "not a valid integer"), ("details.scopeName", {}, "not a string"),
             ("floAddress", ["x"], "not a string"), ("info.title", "\ud800", "lone surrogate"),
             ("details.strain", float("nan"), "not a string"), ("details.tiltMax", float("inf"), "not finite"),
             ("details.notAGoField", deep, "nests deeper than"), ("details.other", 10**5000, "out of range")]
    out = []
    for path, value, reason in cases:
        artifact = json.loads(json.dumps(_BASE))
        *parents, last = path.split(".")
        node = artifact
        for key in parents:
            node = node[key]
        node[last] = value
        out.append((path, {"artifact": artifact, "meta": {"txid": hashlib.sha256(path.encode()).hexdigest()}},
                    reason))
    return out


def mine(node, flodata: str) -> None:
    """Publish ``flodata`` on a flod stand-in: in one transaction, or (over 1040 bytes) as multipart parts signed by
    the attacker's key, part 0 in a block and the others in the next (they reference part 0's txid)."""
    first: list[str] = []
    rest: list[str] = []

    def send(data: str) -> str:
        if first:
            rest.append(data)
        else:
            first.extend(node.add_block([data]))
        return first[0]

    sign_parts(flodata, ATTACKER, send)
    if rest:
        node.add_block(rest)

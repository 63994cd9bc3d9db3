"""Multipart floData: messages too large for one FLO transaction (1040 bytes) split over several.

Each part is ``oip-mp(<part>,<max>,<floAddress>,<reference>,<signature>):<data>``, ``max`` the highest index,
``reference`` empty on part 0 and the part-0 txid (64 hex from go-etdb, the first 10 from js-oip) on later parts,
the signature over ``<part>-<max>-<floAddress>-<reference>-<data>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from etdb_explore.errors import MultipartError
from etdb_explore.records import flo
from etdb_explore.records.safejson import as_text

MAX_FLO_DATA = 1040
FIRST_CHUNK = 840
LATER_CHUNK = 790
MAX_PARTS = 1000
ZERO_REFERENCE = "0" * 64

_HEADER = re.compile(r"^oip-mp\((\d+),(\d+),([^,()]*),([^,()]*),([^()]*)\):", re.DOTALL)


@dataclass(frozen=True)
class Part:
    """One part of a multipart message, as read from a transaction."""

    part: int
    max: int
    address: str
    reference: str
    signature: str
    data: str
    txid: str | None = None

    @property
    def preimage(self) -> str:
        """The text the part's signature signs: ``<part>-<max>-<floAddress>-<reference>-<data>``."""
        return f"{self.part}-{self.max}-{self.address}-{self.reference}-{self.data}"

    def verify(self) -> bool:
        """Check the part's signature against its address (part 0 may also sign 64 zeros as its reference, as oipd
        accepts).

        Returns:
            True when it verifies, else False (never raising).
        """
        if flo.verify_message(self.address, self.signature, self.preimage):
            return True
        # oipd also accepts part 0 signed with 64 zeros as its reference.
        return self.part == 0 and flo.verify_message(
            self.address, self.signature, f"0-{self.max}-{self.address}-{ZERO_REFERENCE}-{self.data}"
        )

    def to_flodata(self) -> str:
        """The part as a transaction's floData (what :func:`parse_part` reads).

        Returns:
            ``oip-mp(<part>,<max>,<floAddress>,<reference>,<signature>):<data>``.
        """
        return f"oip-mp({self.part},{self.max},{self.address},{self.reference},{self.signature}):{self.data}"


def is_multipart(flodata: str) -> bool:
    """Whether a transaction's floData is a multipart part (it starts ``oip-mp(``); the header is not checked.

    Returns:
        True or False.
    """
    return flodata.startswith("oip-mp(")


def parse_part(flodata: str | bytes, txid: str | None = None) -> Part:
    """Parse one ``oip-mp(...)`` floData (text, or UTF-8 bytes).

    Returns:
        The :class:`Part` (its signature not yet checked: see :meth:`MultipartAssembler.add`).

    Raises:
        MultipartError: naming the transaction – not text, a malformed header, part numbers out of range.
    """
    flodata = as_text(flodata, f"transaction {txid or '?'}: multipart floData", MultipartError)
    m = _HEADER.match(flodata)
    if not m:
        raise MultipartError(f"transaction {txid or '?'}: malformed multipart header")
    part, max_, address, reference, signature = m.groups()
    if len(part) > 4 or len(max_) > 4:
        raise MultipartError(f"transaction {txid or '?'}: part numbers {part[:8]}/{max_[:8]} exceed the limit "
                             f"of {MAX_PARTS} parts")
    p = Part(int(part), int(max_), address, reference, signature, flodata[m.end():], txid)
    if p.max < 1 or p.part > p.max:
        raise MultipartError(f"transaction {txid or '?'}: part {p.part} of max {p.max} is out of range")
    if p.max >= MAX_PARTS:
        raise MultipartError(f"transaction {txid or '?'}: {p.max + 1} parts exceed the limit of {MAX_PARTS}")
    return p


def _utf8_chunks(data: bytes, first: int, later: int) -> list[bytes]:
    """Split on byte counts like go-etdb, backing off so no UTF-8 character is cut; never an empty last part."""
    chunks, start, size = [], 0, first
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        chunks.append(data[start:end])
        start, size = end, later
    return chunks


def split_flodata(flodata: str) -> list[str]:
    """The data chunks go-etdb would publish: one when it fits in a transaction, else 840 then 790 bytes each.

    Returns:
        The chunks (``[flodata]`` when it fits); no UTF-8 character is cut.
    """
    raw = flodata.encode("utf-8")
    if len(raw) <= MAX_FLO_DATA:
        return [flodata]
    return [c.decode("utf-8") for c in _utf8_chunks(raw, FIRST_CHUNK, LATER_CHUNK)]


def sign_part(key: flo.PrivateKey, part: int, max_: int, reference: str, data: str) -> Part:
    """Part ``part`` of ``max_`` carrying ``data``, signed by ``key`` (``reference``: "" for part 0, else part 0's
    txid).

    Returns:
        The signed :class:`Part`.
    """
    unsigned = Part(part, max_, key.address, reference, "", data)
    return Part(part, max_, key.address, reference, key.sign_message(unsigned.preimage), data)


def sign_parts(flodata: str, key: flo.PrivateKey, send: Callable[[str], str]) -> list[str]:
    """Sign and ``send`` each part in order (``send`` publishes floData and returns its txid).

    A message that fits in one transaction is sent as it is.

    Returns:
        The txids, part 0's first.

    Raises:
        MultipartError: the message needs more than 1000 parts (nothing is sent).
        Exception: whatever ``send`` raises (the parts sent before stay sent).
    """
    chunks = split_flodata(flodata)
    if len(chunks) == 1:
        return [send(flodata)]
    if len(chunks) > MAX_PARTS:
        raise MultipartError(f"message needs {len(chunks)} parts; oipd refuses more than {MAX_PARTS}")
    max_, txids, reference = len(chunks) - 1, [], ""
    for i, data in enumerate(chunks):
        txids.append(send(sign_part(key, i, max_, reference, data).to_flodata()))
        reference = txids[0]
    return txids


def group_key(part: Part) -> str:
    """The key grouping the parts of one message: part 0's txid, as later parts give it, cut to 10 characters.

    Returns:
        The key.

    Raises:
        MultipartError: ``part`` is a part 0 without a txid.
    """
    if part.part == 0:
        if not part.txid:
            raise MultipartError("part 0 needs its txid to group the later parts")
        return part.txid[:10]
    return part.reference[:10]


@dataclass
class _Group:
    """Parts naming one part 0, by who signed them and how many parts they claim, until part 0 says which count."""

    claims: dict[tuple[str, int], dict[int, Part]] = field(default_factory=dict)
    owner: tuple[str, int] | None = None  # part 0's (address, max)


class MultipartAssembler:
    """Collects parts arriving in any order and yields whole messages once every part is in.

    Parts are grouped by the first 10 characters of their reference (part 0 by its own txid), as oipd does. Until
    part 0 arrives, parts claiming the group are kept apart by signer and part count, so a stranger's part seen
    first cannot block the message; part 0 then decides, and the others are dropped.
    """

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}

    def add(self, part: Part) -> tuple[str, str] | None:
        """Add a part, checking its signature.

        Returns:
            ``(part-0 txid, whole floData)`` when the message is complete, else None.

        Raises:
            MultipartError: naming the transaction – the signature does not verify, a duplicate or conflicting
                part, a part disagreeing with its part 0, a part 0 without a txid.
        """
        if not part.verify():
            raise MultipartError(f"transaction {part.txid or '?'}: part {part.part} signature does not verify "
                                 f"for {part.address}")
        key = group_key(part)
        group = self._groups.setdefault(key, _Group())
        claim = (part.address, part.max)
        if group.owner is not None and claim != group.owner:
            raise MultipartError(f"transaction {part.txid or '?'}: part {part.part} conflicts with part 0 of {key} "
                                 f"(max {part.max} vs {group.owner[1]}, address {part.address})")
        if part.part == 0 and group.owner is None:
            group.owner = claim
            group.claims = {claim: group.claims.get(claim, {})}
        parts = group.claims.setdefault(claim, {})
        held = parts.get(part.part)
        if held is not None:
            kind = "duplicate" if held.data == part.data else "conflicting"
            raise MultipartError(f"transaction {part.txid or '?'}: {kind} part {part.part} of {key}")
        parts[part.part] = part
        if group.owner is None or len(parts) < part.max + 1:
            return None
        del self._groups[key]
        return parts[0].txid or key, "".join(parts[i].data for i in range(part.max + 1))

    def incomplete(self) -> dict[str, list[int]]:
        """The parts still missing from the messages not yet complete.

        Returns:
            ``{reference: missing part numbers}`` (before part 0 is in: of the claim with the most parts).
        """
        missing = {}
        for key, group in self._groups.items():
            (_, max_), parts = max(group.claims.items(), key=lambda c: (c[0] == group.owner, len(c[1])))
            missing[key] = [i for i in range(max_ + 1) if i not in parts]
        return missing

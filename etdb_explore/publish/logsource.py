"""A publish log as an index source: the lab's own records as it signed them, before or after broadcasting.

Records sent carry their txid (part 0's); records signed offline, not yet broadcast, carry the double SHA-256 of
their floData as a provisional id (as the demo ETDB's records do), so their rows open like any other. Edits and
deactivations in the log are applied in the order they were signed. Every signature is checked on load, as for
any source.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from etdb_explore.errors import EtdbError
from etdb_explore.index.sources.base import Harvest, Rejection
from etdb_explore.publish.log import read_messages
from etdb_explore.records.history import apply_messages
from etdb_explore.records.record import Message, parse_message


def provisional_txid(flodata: str) -> str:
    """The id of a message not yet on chain: the double SHA-256 of its floData, in hex.

    Returns:
        64 hex digits.
    """
    return hashlib.sha256(hashlib.sha256(flodata.encode("utf-8")).digest()).hexdigest()


class PublishLogSource:
    """The records of the publish log at ``path`` (see :class:`~etdb_explore.publish.log.PublishLog`); read afresh by
    each ``load_index`` (``cached`` False: the log is local and changes as the lab publishes)."""

    cached = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"publish log {self.path.resolve()}"

    async def harvest(self) -> Harvest:
        """Read every signed message of the log.

        Returns:
            The records (edits and deactivations applied) and the messages that could not be read or applied.

        Raises:
            PublishLogError: the log is missing or not a publish log.
        """
        messages: list[Message] = []
        rejected: list[Rejection] = []
        for position, (name, _kind, txid, flodata) in enumerate(read_messages(self.path)):
            try:
                messages.append(parse_message(flodata, txid or provisional_txid(flodata)))
            except EtdbError as exc:
                rejected.append(Rejection(f"{self.name}: {name}", txid, str(exc)))
        records, problems = apply_messages(messages)
        rejected += [Rejection(f"{self.name} history", t, r) for t, r in problems]
        return Harvest(list(records), rejected)

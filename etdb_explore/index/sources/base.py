"""The contract every index source fulfils: harvest raw records, report what it had to reject."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Rejection:
    """A record (or message) left out of the index, with where it came from and why."""

    origin: str
    txid: str | None
    reason: str


@dataclass
class Harvest:
    """What a source delivered: records in any shape ``parse_record`` accepts (or parsed ``Record``s)."""

    records: list[Any] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class IndexSource(Protocol):
    """An index source; ``name`` is shown in errors and used as its cache key."""

    name: str

    async def harvest(self) -> Harvest:
        """Fetch every record the source holds now.

        Returns:
            The :class:`Harvest`: raw records, and what the source itself had to reject.

        Raises:
            SourceError: the source failed (naming it).
        """
        ...


@dataclass
class HomeHarvest:
    """What a home without FLO signatures delivered: dataset rows and file rows (dicts keyed by the columns of
    :mod:`etdb_explore.index.homeframe`), and what it had to reject."""

    datasets: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class HomeSource(Protocol):
    """A home of ETDB data that signs nothing (CaltechDATA, the CZ portal); ``home`` is its short name
    ("caltechdata", "czportal"), ``name`` says where it was read from."""

    name: str
    home: str

    async def harvest_rows(self) -> HomeHarvest:
        """Fetch every dataset the home holds now.

        Returns:
            The :class:`HomeHarvest`.

        Raises:
            SourceError: the home failed (naming the URL).
        """
        ...

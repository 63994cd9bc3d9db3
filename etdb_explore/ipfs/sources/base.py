"""The block-source protocols and their combination: local store → Kubo → gateways, with fail-over.

Every source has :class:`BlockSource`'s ``get`` (verified blocks by CID) and a ``name``. What some sources can do
beyond that is a capability with a protocol of its own, checked with ``isinstance``:

- :class:`CarStreamSource` (``car_range``): a file's byte range as one stream of verified blocks (gateways);
- :class:`BlockStore` (``has``, ``put``): blocks held locally and written there (the local store);
- :class:`LaneSource` (``lanes``): several independent endpoints, each usable as a source of its own (gateways),
  for reads striped across all of them; a lane that keeps a health record is a :class:`FailableSource` (``fail``).

:class:`MultiSource` chains sources and is a CarStreamSource: its ``car_range`` forwards to the first of its sources
that is one (and answers None when none is). It is a LaneSource too: the lanes of its remote sources.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from etdb_explore.errors import (
    BlockNotFoundError,
    EtdbError,
    SourceError,
    VerificationError,
)
from etdb_explore.ipfs.formats.cid import CID

UNHEALTHY_SECONDS = 60.0


CarStream = AsyncGenerator[tuple[CID, bytes], None]


@runtime_checkable
class BlockSource(Protocol):
    """Anything that returns blocks by CID, each verified against its CID before it is returned.

    LocalStore, GatewaySource, KuboSource and MultiSource are block sources. ``name`` names the source in error
    messages.
    """

    name: str

    async def get(self, cid: CID) -> bytes:
        """The block of ``cid``, verified against it.

        Returns:
            The block's bytes (for an identity CID, its digest).

        Raises:
            BlockNotFoundError: the source does not have the block (naming the CID).
            VerificationError: the bytes the source holds or received do not hash to ``cid``.
            SourceError: the source failed (naming it).
        """
        ...


@runtime_checkable
class CarStreamSource(BlockSource, Protocol):
    """A block source that can also send the blocks of a file's byte range as one stream (one request)."""

    def car_range(self, cid: CID, start: int, end: int | None, path: str = "") -> CarStream | None:
        """The verified blocks of file ``cid/path`` that cover bytes [start, end), in DFS order.

        The blocks resolving ``path`` come first, then the file's root and the subtree of the range. The stream may
        end early (the source failed or lied); readers fetch what is still missing block by block with ``get``.

        Returns:
            An async generator of (CID, block) pairs (``aclose`` it when done early), or None when the source will
            not stream this range (readers then fetch blocks with ``get``).
        """
        ...


@runtime_checkable
class ClosableSource(BlockSource, Protocol):
    """A block source holding connections (GatewaySource, KuboSource); a Client closes its sources with itself."""

    async def close(self) -> None:
        """Close the source's connections (a later request opens new ones)."""
        ...


@runtime_checkable
class BlockStore(BlockSource, Protocol):
    """A block source that holds blocks locally: it can tell whether it has one without fetching, and store one."""

    def has(self, cid: CID) -> bool:
        """Whether the store holds ``cid`` (without reading or verifying it).

        Returns:
            True if a ``get`` would find the block locally.
        """
        ...

    def put(self, cid: CID, block: bytes) -> None:
        """Store ``block`` under ``cid``.

        Raises:
            VerificationError: ``block`` does not hash to ``cid``.
        """
        ...


@runtime_checkable
class LaneSource(BlockSource, Protocol):
    """A block source made of independent endpoints (several gateways) that a large read can use at once."""

    def lanes(self, cid: CID) -> list[BlockSource]:
        """The endpoints that are healthy now, each a block source of its own (a CarStreamSource when it streams),
        for reading file ``cid``.

        Returns:
            The lanes, best first; none when the file is better read otherwise (a local store holds it).
        """
        ...


@runtime_checkable
class FailableSource(BlockSource, Protocol):
    """A lane that keeps a health record (a gateway): told when a striped read dropped it, it is avoided for a
    while."""

    def fail(self, reason: str) -> None:
        """Note that a read dropped this source for ``reason``."""
        ...


@dataclass
class MultiSource:
    """A block source that tries ``sources`` in order; a :class:`CarStreamSource` through the first of them that is one.

    A source that sent a bad block is marked unhealthy (skipped for a while, tried last); a missing block anywhere
    is a BlockNotFoundError naming the CID and every source tried. ``errors`` lists the failures seen, newest last.
    """

    sources: list[BlockSource]
    name: str = "sources"
    unhealthy_until: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # every failure seen, newest last (bounded)

    def __post_init__(self) -> None:
        self.name = " → ".join(s.name for s in self.sources) or "no sources"

    def _ordered(self) -> list[BlockSource]:
        now = time.monotonic()
        healthy = [s for s in self.sources if self.unhealthy_until.get(s.name, 0) <= now]
        return healthy + [s for s in self.sources if s not in healthy]

    def _note(self, message: str) -> None:
        self.errors = [*self.errors[-99:], message]

    async def get(self, cid: CID) -> bytes:
        """The block of ``cid`` from the first healthy source that has it, verified again here.

        Returns:
            The block's bytes.

        Raises:
            BlockNotFoundError: no source delivered the block (naming the CID and each source tried, and why).
        """
        tried = []
        for source in self._ordered():
            if isinstance(source, BlockStore) and not source.has(cid):  # a miss costs no read (nor thread) there
                tried.append(f"{source.name} (missing)")
                continue
            try:
                block = await source.get(cid)
                cid.verify(block, source.name)  # defence in depth: a third-party source may not verify
                return block
            except VerificationError as exc:
                self.unhealthy_until[source.name] = time.monotonic() + UNHEALTHY_SECONDS
                self._note(str(exc))
                tried.append(f"{source.name} (bad block)")
            except BlockNotFoundError:
                tried.append(f"{source.name} (missing)")
            except (SourceError, EtdbError, OSError) as exc:
                self._note(f"{source.name}: {exc}")
                tried.append(f"{source.name} ({type(exc).__name__})")
        raise BlockNotFoundError(f"block {cid} not found; tried {', '.join(tried) or 'no sources'}")

    def car_range(self, cid: CID, start: int, end: int | None, path: str = "") -> CarStream | None:
        """The stream of the first healthy :class:`CarStreamSource`, unless a :class:`BlockStore` before it holds
        ``cid`` (local blocks are cheaper than any stream).

        Returns:
            That source's ``car_range`` (see :meth:`CarStreamSource.car_range`), or None.
        """
        for source in self._ordered():
            if isinstance(source, BlockStore) and source.has(cid):
                return None
            if isinstance(source, CarStreamSource):
                return source.car_range(cid, start, end, path)
        return None

    def lanes(self, cid: CID) -> list[BlockSource]:
        """The lanes of the healthy remote sources: each gateway of a :class:`LaneSource`, every other remote source
        (a Kubo node) as one lane; none when a :class:`BlockStore` holds ``cid`` (local blocks beat any network).

        Returns:
            The lanes, in the order of the sources.
        """
        now = time.monotonic()
        found: list[BlockSource] = []
        for source in self.sources:
            if isinstance(source, BlockStore):
                if source.has(cid):
                    return []
            elif self.unhealthy_until.get(source.name, 0) <= now:
                found.extend(source.lanes(cid) if isinstance(source, LaneSource) else [source])
        return found

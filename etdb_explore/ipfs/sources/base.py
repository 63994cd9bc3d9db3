"""Block sources and their combination: local store → Kubo → gateways, with fail-over on bad or missing blocks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from etdb_explore.errors import (
    BlockNotFoundError,
    EtdbError,
    SourceError,
    VerificationError,
)
from etdb_explore.ipfs.formats.cid import CID

UNHEALTHY_SECONDS = 60.0


class BlockSource(Protocol):
    """Anything that returns blocks by CID, each verified against its CID before it is returned (LocalStore,
    GatewaySource, KuboSource and the CAR reader all do); ``name`` appears in error messages."""

    name: str

    async def get(self, cid: CID) -> bytes: ...


@dataclass
class MultiSource:
    """Tries sources in order. A source that sent a bad block is marked unhealthy (skipped for a while, tried last);
    a missing block anywhere is a BlockNotFoundError naming the CID and every source tried."""

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
        tried = []
        for source in self._ordered():
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

    def car_range(self, cid: CID, start: int, end: int | None,
                  path: str = "") -> AsyncIterator[tuple[CID, bytes]] | None:
        """A CAR stream from the first healthy source that offers one, unless an earlier source holds ``cid``."""
        for source in self._ordered():
            has = getattr(source, "has", None)
            if has is not None and has(cid):
                return None
            stream = getattr(source, "car_range", None)
            if stream is not None:
                return stream(cid, start, end, path)
        return None

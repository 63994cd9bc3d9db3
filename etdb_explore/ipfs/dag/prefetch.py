"""Feeding a range read from one CAR stream: blocks arrive in the order the reader walks the DAG.

A large range from a gateway costs one request instead of one per block, which is what matters when round trips,
not bandwidth, decide. Blocks the stream delivers wait in a bounded buffer until the reader asks for them, and the
reader asks in stream order (one block at a time while the stream lasts). A block the stream already delivered once
(a CAR with ``dups=n`` sends a repeated leaf only once) comes from a small cache of recent blocks or, failing that,
from the underlying source; so does whatever the stream does not deliver (it failed, lied, or ended). A stream that
sends more than 16 MiB of blocks the reader never asked for (valid blocks of something else, without end) is
abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.base import BlockSource, CarStream

DEFAULT_BUFFER = 4 * 1024 * 1024
RECENT_BYTES = 2 * 1024 * 1024  # blocks kept after use, for leaves repeated nearby (runs of zeros in a volume)
MAX_UNWANTED = 16 * 1024 * 1024  # an honest stream sends what the walk needs, in walk order: almost nothing unwanted


class CarPrefetch:
    """A BlockSource that serves blocks from a CAR stream first, then from ``fallback``.

    Args:
        fallback: where blocks the stream does not (or no longer) deliver come from; also gives the ``name``.
        stream: verified (CID, block) pairs, e.g. from :meth:`CarStreamSource.car_range`; consumed by a task started
            here (so construct this inside a running event loop) and closed by :meth:`aclose`.
        max_buffer: bytes of delivered blocks held until asked for.
    """

    def __init__(self, fallback: BlockSource, stream: CarStream, max_buffer: int = DEFAULT_BUFFER) -> None:
        self.fallback = fallback
        self.name = fallback.name
        self.max_buffer = max_buffer
        self._blocks: OrderedDict[CID, bytes] = OrderedDict()
        self._recent: OrderedDict[CID, bytes] = OrderedDict()
        self._recent_bytes = 0
        self._delivered: set[CID] = set()
        self._buffered = 0
        self._unwanted = 0
        self._done = False
        self._changed = asyncio.Condition()
        self._task = asyncio.ensure_future(self._produce(stream))

    @property
    def streaming(self) -> bool:
        """True while the stream may still deliver blocks (readers then ask for one block at a time)."""
        return not self._done

    async def _produce(self, stream: CarStream) -> None:
        try:
            async for cid, block in stream:
                async with self._changed:
                    await self._changed.wait_for(lambda: self._buffered < self.max_buffer)
                    if cid not in self._delivered:
                        self._delivered.add(cid)
                        self._blocks[cid] = block
                        self._buffered += len(block)
                        self._changed.notify_all()
        finally:
            self._done = True
            async with self._changed:
                self._changed.notify_all()
            with contextlib.suppress(Exception):
                await stream.aclose()

    def _take(self, cid: CID) -> bytes | None:
        block = self._blocks.pop(cid, None)
        if block is not None:
            self._buffered -= len(block)
            self._recent[cid] = block
            self._recent_bytes += len(block)
            while self._recent_bytes > RECENT_BYTES and len(self._recent) > 1:
                self._recent_bytes -= len(self._recent.popitem(last=False)[1])
            return block
        block = self._recent.get(cid)
        if block is not None:
            self._recent.move_to_end(cid)
        return block

    async def get(self, cid: CID) -> bytes:
        """The block of ``cid``: from the stream (waiting while it may still deliver it), else from the fallback.

        Returns:
            The verified block.

        Raises:
            BlockNotFoundError, SourceError, VerificationError: as the fallback's ``get``.
        """
        async with self._changed:
            while True:
                block = self._take(cid)
                if block is not None:
                    self._changed.notify_all()
                    return block
                if self._done or cid in self._delivered:
                    break  # the stream will not (again) deliver it
                if self._buffered >= self.max_buffer and self._blocks:
                    # a full buffer without the next block the reader wants holds blocks nobody asked for
                    _, unwanted = self._blocks.popitem(last=False)
                    self._buffered -= len(unwanted)
                    self._unwanted += len(unwanted)
                    if self._unwanted > MAX_UNWANTED:  # a stream of unrelated blocks: stop listening to it
                        self._task.cancel()
                        self._done = True
                        break
                    self._changed.notify_all()
                await self._changed.wait()
        return await self.fallback.get(cid)

    async def aclose(self) -> None:
        """Stop consuming the stream and close it."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

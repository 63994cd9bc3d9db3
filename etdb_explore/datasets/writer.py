"""A download's bytes written to its file and hashed in a worker thread, one batch behind the network.

Writing and hashing a file on the event loop serialises them with receiving and verifying the next blocks; both
release the GIL on large buffers, so a worker thread does them while the loop goes on receiving. Chunks are
gathered into batches of about ``batch`` bytes; at most one batch is in the thread while the next one fills, so
memory stays bounded by two batches whatever the file's size, and the bytes reach the file and the hashes in order.
A slow source does not hold bytes back: a batch also goes to the thread ``linger`` seconds after the last one when
the thread is free, so a killed download leaves nearly all it received in its file.

    async with BatchWriter(fh, [digest.update]) as out:
        async for chunk in verified_chunks:
            await out.write(chunk)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO

WRITE_BATCH = 2 << 20
LINGER = 0.2


class BatchWriter:
    """Writes chunks to ``fh`` and feeds them to ``consumers`` (e.g. ``[digest.update]``) in a worker thread.

    Use it as an async context manager: leaving it writes what is left and waits for the thread, also when the
    block is left by an error or a cancellation, so ``fh`` may be closed right after. Errors of the thread (a full
    disk) are raised by the next :meth:`write` or on leaving.

    Args:
        fh: the file, opened for writing in binary mode, positioned where the bytes go.
        consumers: called with each chunk, in order, after it is written.
        batch: bytes gathered before a batch goes to the thread.
        linger: seconds after which a batch of any size goes to a free thread.
    """

    def __init__(self, fh: BinaryIO, consumers: Sequence[Callable[[bytes], object]] = (),
                 batch: int = WRITE_BATCH, linger: float = LINGER) -> None:
        self.fh = fh
        self.consumers = tuple(consumers)
        self.batch = batch
        self.linger = linger
        self._since = time.monotonic()
        self._chunks: list[bytes] = []
        self._size = 0
        self._pending: asyncio.Future[None] | None = None

    def _write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.fh.write(chunk)
            for consume in self.consumers:
                consume(chunk)
        self.fh.flush()  # in the file, not in a buffer, should the process be killed

    async def write(self, chunk: bytes) -> None:
        """Add ``chunk`` after the bytes written so far; hands a full batch to the thread.

        Raises:
            OSError: writing an earlier batch failed.
        """
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size >= self.batch or (time.monotonic() - self._since >= self.linger
                                        and (self._pending is None or self._pending.done())):
            await self._hand_over()

    async def _hand_over(self) -> None:
        """Wait for the batch in the thread, then start the next one there."""
        if self._pending is not None:
            await asyncio.shield(self._pending)  # a cancelled caller leaves the thread's write to __aexit__
        chunks, self._chunks, self._size = self._chunks, [], 0
        self._since = time.monotonic()
        self._pending = asyncio.ensure_future(asyncio.to_thread(self._write, chunks)) if chunks else None

    async def _settle(self) -> None:
        """Wait until no batch is in the thread (the wait goes on through cancellations, re-raised after)."""
        cancelled = False
        while self._pending is not None and not self._pending.done():
            try:
                await asyncio.wait([self._pending])
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    async def __aenter__(self) -> BatchWriter:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                await self._hand_over()
                if self._pending is not None:
                    await asyncio.shield(self._pending)
        finally:  # on any way out, the thread is done with the file before the caller may close it
            await self._settle()
            if self._pending is not None and not self._pending.cancelled():
                self._pending.exception()  # retrieved: raised above, or the error that ended the block goes on

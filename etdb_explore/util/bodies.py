"""Bounded reading of HTTP bodies (aiohttp's ``content.read(n)`` returns what is buffered, not ``n`` bytes), and
:class:`StallGuard`, the cheap deadline for the reads or writes of a stream (``asyncio.timeout`` arms and cancels a
timer around every await, ``asyncio.wait_for`` even makes a task: a stream of many small reads pays for either on
each one)."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class StallGuard:
    """A deadline for a stream's progress, watched by one timer per period rather than one per await.

    :meth:`wait` awaits a read or a write, raising ``asyncio.TimeoutError`` if the deadline passes meanwhile (or
    has passed already); :meth:`progress` pushes the deadline ``seconds`` past now, which only reads the clock. A
    single timer wakes when the deadline may have passed and re-arms itself at the later deadline when there was
    progress; it cancels only an await under way (time spent between awaits counts, but is never interrupted).
    Make it inside a running event loop; :meth:`close` cancels its timer::

        guard = StallGuard(15.0)
        try:
            while chunk := await guard.wait(content.readany()):
                guard.progress()
        finally:
            guard.close()

    Args:
        seconds: how long the stream may go without progress.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop = asyncio.get_running_loop()
        self.deadline = self._loop.time() + seconds
        self._waiting: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    def progress(self) -> None:
        """Push the deadline to ``seconds`` from now."""
        self.deadline = self._loop.time() + self.seconds

    def _check(self) -> None:
        self._timer = None
        if self._waiting is None:
            return  # the next wait checks the deadline and re-arms
        if self._loop.time() < self.deadline:
            self._timer = self._loop.call_at(self.deadline, self._check)
            return
        self._expired = True
        self._waiting.cancel()

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` until the deadline at most.

        Returns:
            What it returns.

        Raises:
            asyncio.TimeoutError: the deadline passed first (``awaitable`` is then cancelled, or never started).
        """
        if self._loop.time() >= self.deadline:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise asyncio.TimeoutError
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling() if sys.version_info >= (3, 11) else 0
        self._waiting = task
        if self._timer is None:
            self._timer = self._loop.call_at(self.deadline, self._check)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if not self._expired:
                raise
            self._expired = False
            if sys.version_info >= (3, 11) and task.uncancel() > cancelling:
                raise  # cancelled from outside as well: that wins
            raise asyncio.TimeoutError from None
        finally:
            self._waiting = None

    def close(self) -> None:
        """Cancel the timer (the guard is done with)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def read_at_most(content: Any, limit: int) -> bytes:
    """Read a body stream until its end or ``limit`` bytes, whichever comes first.

    Returns:
        The bytes (at most ``limit``).
    """
    parts, size = [], 0
    while size < limit:
        part = await content.read(limit - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)

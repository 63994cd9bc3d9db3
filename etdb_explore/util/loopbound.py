"""A resource bound to the event loop that made it (an HTTP session): made on first use, closed where it lives.

aiohttp sessions, their connection pools and asyncio semaphores belong to one event loop, yet a block source may meet
several: the I/O loop of :mod:`etdb_explore.util.bridge`, a user's own loop when used directly, the fresh I/O loop
of a forked child. :class:`LoopBound` holds one such resource, and never abandons it (an abandoned session warns
"Unclosed client session" when freed). When another loop asks for it, it makes a new one and disposes of the old one
where it lives:

- made in the parent before a fork: kept in the child, untouched (see :func:`bridge.keep_inherited`);
- its loop is closed: closed here (nothing on a closed loop can be reached; aiohttp only marks itself closed);
- its loop runs in another thread: closed on that loop;
- its loop exists but does not run: it cannot be closed now, so it is an error naming the resource.

A resource whose holder is garbage-collected is closed by a finalizer (on its loop, without waiting), and the
resources still open at exit are closed before the I/O loop stops.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from etdb_explore.errors import SourceError
from etdb_explore.util import bridge

T = TypeVar("T")
Closer = Callable[[Any], Coroutine[Any, Any, Any]]


class LoopBound(Generic[T]):
    """One loop-bound resource: ``make()`` builds it on the running loop, ``close(resource)`` closes it there.

    ``what`` names the resource in errors (e.g. "the HTTP session of gateways http://…").
    """

    def __init__(self, what: str, make: Callable[[], T], close: Callable[[T], Coroutine[Any, Any, Any]]) -> None:
        self.what = what
        self._make = make
        self._close = close
        self._value: T | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._finalizer: weakref.finalize | None = None
        self._closing: set[asyncio.Task] = set()  # old resources being closed, started from get()

    def get(self) -> T:
        """The resource of the running loop (call it on a loop).

        Returns:
            The resource, made now if it was made on another loop (that one is disposed of) or not at all.

        Raises:
            SourceError: the resource is open on another loop that exists but does not run.
        """
        loop = asyncio.get_running_loop()
        if self._value is not None and (self._loop is not loop or self._pid != os.getpid()):
            closing = self._dispose()
            if closing is not None:
                task = asyncio.ensure_future(closing)
                self._closing.add(task)
                task.add_done_callback(self._closed)
        if self._value is None:
            value = self._make()
            self._value, self._loop, self._pid = value, loop, os.getpid()
            self._finalizer = weakref.finalize(self, _close_forgotten, value, loop, self._pid, self._close)
            self._finalizer.atexit = False  # _close_at_exit closes it while the I/O loop still runs
            _open.add(self)
        return self._value

    async def aclose(self) -> None:
        """Close the resource where it lives (a later :meth:`get` makes a new one), and wait for the closing of
        resources replaced earlier on this loop.

        Raises:
            SourceError: the resource is open on another loop that exists but does not run.
        """
        closing = self._dispose() if self._value is not None else None
        if closing is not None:
            await closing
        loop = asyncio.get_running_loop()
        earlier = [task for task in self._closing if task.get_loop() is loop]
        if earlier:
            await asyncio.wait(earlier)

    def _dispose(self) -> Awaitable[Any] | None:
        """Let go of the resource held; what closes it, if it is closed here or over there."""
        value, loop = self._value, self._loop
        assert value is not None and loop is not None and self._finalizer is not None
        if self._pid != os.getpid():
            closing = None
            bridge.keep_inherited(value)
        elif loop.is_closed() or loop is asyncio.get_running_loop():
            closing = self._close(value)
        elif loop.is_running():
            closing = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._close(value), loop))
        else:
            raise SourceError(f"{self.what} is open on an event loop that is not running; close it on that loop "
                              "first, or use one per loop")
        self._finalizer.detach()
        self._value = self._loop = None
        return closing

    def _closed(self, task: asyncio.Task) -> None:
        self._closing.discard(task)
        if not task.cancelled():
            task.exception()  # a failed close of a replaced resource is not worth a log line


def _close_forgotten(value: Any, loop: asyncio.AbstractEventLoop, pid: int, close: Closer) -> None:
    """The finalizer of a resource whose holder is gone: close it on its loop without waiting (a finalizer runs on
    whichever thread freed the holder). On a loop that exists but does not run nothing can close it."""
    if pid != os.getpid():
        bridge.keep_inherited(value)
    elif loop.is_closed():  # any loop can close it: aiohttp only marks itself closed
        bridge.submit(close(value))
    elif loop.is_running():
        bridge.submit(close(value), loop)


_open: weakref.WeakSet[LoopBound] = weakref.WeakSet()


async def _close_all() -> None:
    """Close every resource of this process that lives on the I/O loop (or on a closed loop)."""
    here = [bound for bound in list(_open) if bound._value is not None and bound._pid == os.getpid()
            and (bound._loop is asyncio.get_running_loop() or bound._loop.is_closed())]
    await asyncio.gather(*(bound.aclose() for bound in here), return_exceptions=True)


def _close_at_exit() -> None:
    """Close the resources still open. atexit runs hooks in reverse order of registration, and this module registers
    after importing the bridge, so the I/O loop still runs."""
    with contextlib.suppress(Exception):
        bridge.run(_close_all(), timeout=bridge.CANCEL_GRACE)


atexit.register(_close_at_exit)

"""Run coroutines from plain functions: one background event loop serves every sync call.

Like fsspec's and zarr's ``sync``, etdb-explore keeps its network I/O on one event loop in a daemon thread, the I/O
loop. Plain functions hand coroutines to it and wait (:func:`run`), so they work the same in scripts and in notebooks
(which already run a loop); coroutine methods hop onto it (:func:`arun`), so they can be awaited from any loop. HTTP
sessions and connection pools therefore live on one loop. The rules:

- :func:`run` on the I/O loop itself is an error (it would wait for itself): await the coroutine there instead.
- Ctrl-C (KeyboardInterrupt) in the waiting thread, or the end of ``timeout``, cancels the coroutine waited on; it
  gets up to ``CANCEL_GRACE`` seconds to unwind (close its files and connections) before the call raises.
- After ``os.fork()`` the child starts a fresh loop and thread on first use. What the parent's loop owned is kept in
  the child untouched, never closed or freed: its sockets and its epoll instance are shared with the parent, and
  closing them in the child would unregister them from the parent's loop.
- At exit, work handed over with :func:`submit` (closing sessions) is finished, anything still running is
  cancelled, and the loop is stopped and closed.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from etdb_explore.errors import RunTimeoutError

T = TypeVar("T")
CANCEL_GRACE = 5.0  # seconds a cancelled coroutine may take to unwind

_lock = threading.RLock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_submitted: set[concurrent.futures.Future] = set()
_inherited: list[Any] = []  # in a forked child: what the parent's loop owned, kept alive and untouched


def io_loop() -> asyncio.AbstractEventLoop:
    """The I/O loop of this process.

    Returns:
        The loop, started in a daemon thread on first use (anew in a forked child, or when a Ctrl-C kept its thread
        from starting).
    """
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed() or _thread is None or not _thread.is_alive():
            if _loop is not None and not _loop.is_closed():
                _loop.close()  # made, but a Ctrl-C came before its thread started: a loop nobody runs
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="etdb-explore-io", daemon=True)
            _thread.start()
        return _loop


def on_io_loop() -> bool:
    """Whether the caller runs on the I/O loop.

    Returns:
        True inside a coroutine or callback of the I/O loop, else False.
    """
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def run(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` on the I/O loop and wait for it (the plain-function form of a coroutine).

    Ctrl-C while waiting, or ``timeout`` seconds without a result, cancels the coroutine; the call returns once it
    has unwound (at most ``CANCEL_GRACE`` seconds later).

    Returns:
        What the coroutine returns.

    Raises:
        RunTimeoutError: it did not finish within ``timeout`` seconds (naming it); it was cancelled.
        KeyboardInterrupt: Ctrl-C while waiting; the coroutine was cancelled.
        RuntimeError: called on the I/O loop itself (await the coroutine there).
        Exception: whatever the coroutine raises.
    """
    if on_io_loop():
        coro.close()
        raise RuntimeError("etdb_explore.util.bridge.run called from the I/O loop itself; await the coroutine instead")
    call = _Call(coro)
    try:
        call.hand_over(io_loop())
        finished = call.wait(timeout)
    except BaseException:  # Ctrl-C, or another exception raised in this thread while it waited
        call.cancel()
        raise
    if not finished:
        call.cancel()
        if not call.finished or call.task is None or call.task.cancelled():
            raise RunTimeoutError(f"{call.name} did not finish within {timeout:g} s; it was cancelled")
    return call.result()


class _Call:
    """One coroutine run for a waiting thread: its task on the I/O loop, and a flag and a lock telling the waiting
    thread that the task is done.

    The waiting thread never blocks without a time limit: CPython runs a signal's Python handler (Ctrl-C's
    KeyboardInterrupt) only in the main thread, between bytecodes or when a blocking call there is interrupted. A
    SIGINT that lands while the main thread is on its way into a lock wait (after its last check for signals), or on
    another thread (any thread may take a signal sent to the process), interrupts no wait of the main thread: an
    unlimited wait would then never end. So the waiting thread wakes every ``WAIT_SLICE`` seconds, and a pending
    Ctrl-C is raised then at the latest. It waits on a plain lock, not a ``threading.Event``, whose condition
    variable a KeyboardInterrupt can leave half restored (``RuntimeError: release unlocked lock``).
    """

    WAIT_SLICE = 0.1  # seconds the waiting thread blocks at most before it checks for a pending Ctrl-C

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.name = getattr(coro, "__qualname__", repr(coro))
        self.loop: asyncio.AbstractEventLoop | None = None  # set once the coroutine is handed to the loop
        self.task: asyncio.Task | None = None
        self.finished = False  # set on the loop once the task is done (or the coroutine was closed unstarted)
        self._wakeup = threading.Lock()  # held until then: the waiting thread blocks on it
        self._wakeup.acquire()

    def hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop`` start the task."""
        self.loop = loop
        loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.coro)
        self.task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: after a Ctrl-C nobody else reads it
        self._finish()

    def _finish(self) -> None:
        self.finished = True
        self._wakeup.release()

    def wait(self, timeout: float | None) -> bool:
        """Wait until the task is done, at most ``timeout`` seconds (None: no limit).

        Returns:
            Whether it is done.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            left = self.WAIT_SLICE if deadline is None else min(self.WAIT_SLICE, deadline - time.monotonic())
            if left <= 0:
                return False
            self._wakeup.acquire(timeout=left)
        return True

    def cancel(self) -> None:
        """Cancel the coroutine and let it unwind for up to ``CANCEL_GRACE`` seconds; one never handed to the loop
        is closed here."""
        if self.loop is None:
            self.coro.close()
            return
        self.loop.call_soon_threadsafe(self._cancel_on_loop)
        self.wait(CANCEL_GRACE)

    def _cancel_on_loop(self) -> None:
        # the loop runs callbacks in order: the task exists unless Ctrl-C came before its start was scheduled
        if self.task is not None:
            self.task.cancel()
        elif not self.finished:
            self.coro.close()
            self._finish()

    def result(self) -> Any:
        assert self.task is not None
        return self.task.result()


async def arun(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the I/O loop from any event loop (a notebook's, a user's own): loop-bound resources such as
    HTTP sessions are then made and used on the I/O loop only. On the I/O loop itself it is a plain ``await``.
    Cancelling the awaiting task cancels the coroutine.

    Returns:
        What the coroutine returns.

    Raises:
        Exception: whatever the coroutine raises.
    """
    if on_io_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, io_loop()))


def submit(coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop | None = None) -> concurrent.futures.Future:
    """Start ``coro`` on ``loop`` (default the I/O loop) without waiting for it: finalizers close sessions so, since
    they must not block. Submitted work is waited for before the I/O loop stops at exit.

    Returns:
        The coroutine's future.
    """
    future = asyncio.run_coroutine_threadsafe(coro, loop or io_loop())
    _submitted.add(future)
    future.add_done_callback(_submitted.discard)
    return future


def keep_inherited(thing: Any) -> None:
    """Keep ``thing``, which the parent process made before ``os.fork()`` (an HTTP session of its loop), alive and
    untouched in this child for good: closing or freeing it here would close the parent's sockets on the parent's
    epoll instance."""
    _inherited.append(thing)


def _after_fork_in_child() -> None:
    global _lock, _loop, _thread, _submitted
    _inherited.extend(thing for thing in (_loop, _submitted) if thing)
    _lock, _loop, _thread, _submitted = threading.RLock(), None, None, set()
    try:  # never freed, not even at interpreter exit, which frees what module globals hold
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_inherited))
    except (ImportError, AttributeError):  # not CPython: nothing frees module globals at exit there either
        pass


def _stop_at_exit() -> None:
    """Finish submitted work, cancel what still runs, then stop and close the I/O loop."""
    with _lock:
        loop, thread = _loop, _thread
    if loop is None or thread is None or not thread.is_alive():
        return

    async def wind_down() -> None:
        submitted = [asyncio.wrap_future(f) for f in list(_submitted)]
        if submitted:
            await asyncio.wait(submitted, timeout=CANCEL_GRACE)
        running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=CANCEL_GRACE)
        await loop.shutdown_asyncgens()

    with contextlib.suppress(Exception):  # at exit, stopping the loop matters more than how winding down went
        run(wind_down(), timeout=3 * CANCEL_GRACE)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(CANCEL_GRACE)
    if not thread.is_alive():
        loop.close()


atexit.register(_stop_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

"""Run coroutines from plain functions: one background event loop serves every sync call.

Like fsspec, etdb-explore keeps its network I/O on a single event loop in a daemon thread. Plain functions submit
coroutines to it and wait, so they work the same in scripts and in notebooks (which already run a loop), and
long-lived async resources (HTTP sessions, connection pools) stay bound to one loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def io_loop() -> asyncio.AbstractEventLoop:
    """The background event loop (started on first use)."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="etdb-explore-io", daemon=True).start()
        return _loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and return its result (exceptions propagate)."""
    loop = io_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("etdb_explore.util.bridge.run called from the I/O loop itself; await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()

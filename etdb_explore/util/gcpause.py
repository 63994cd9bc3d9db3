"""Pausing Python's cyclic garbage collector while a bulk build allocates objects that all stay alive.

Building an index makes millions of small dicts, lists and strings, none of them garbage. Each collection of the
oldest generation walks every one of them, so with the collector on a build's cost grows faster than its size
(100,000 records cost far more than 9 × 11,293). Reference counting still frees everything at once; only cycles
wait for the collector, which runs as usual when the last pause ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """A ``with`` block during which the cyclic collector does not run (nestable, from any thread).

    Returns:
        The context manager; the collector's previous state comes back when the outermost pause ends.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()

"""CPU-bound work on every core: chunks of items go to worker processes, the results come back in order.

The workers are started with ``fork`` where the platform has it, so scripts without a ``__main__`` guard, notebooks
and threads all work (a forked child starts its own I/O loop, see :mod:`etdb_explore.util.bridge`, and the workers
never touch it). Where no worker can start (no ``fork``, a daemonic process, process limits) or a worker dies, its
chunk is worked here instead: the results are the same, only slower. The work function travels by pickle, so it is a
module-level function (or a :func:`functools.partial` of one); the items do not travel at all (the workers are forked
after the items exist, so they find them in their memory): only the bounds of a chunk go to a worker, and its results
come back by pickle.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


_inherited: dict[int, Sequence[Any]] = {}  # the items of each map_ranges call under way, for its forked workers
_tokens = itertools.count()


def _work_inherited(work: Callable[[Sequence[T], int], R], token: int, bounds: tuple[int, int]) -> R:
    start, stop = bounds
    return work(_inherited[token][start:stop], start)


def map_ranges(work: Callable[[Sequence[T], int], R], items: Sequence[T], chunk: int,
               workers: int | None = None, *, steal: bool = True) -> list[R]:
    """``work(items[start:start + chunk], start)`` for each chunk of ``chunk`` items, on every core.

    The workers are forked after ``items`` exist, so they find them in their memory: only the bounds of a chunk
    travel to them (by pickle), and its result back. With ``steal``, this process works the chunks no worker has
    started yet, from the last one back, while the workers go on from the first (so this process shares their work
    instead of waiting). Fewer than two chunks' items are worked here, no process started.

    Returns:
        One result per chunk, in order.

    Raises:
        Exception: whatever ``work`` raised.
    """
    bounds = [(start, min(start + chunk, len(items))) for start in range(0, len(items), chunk)]
    if len(items) < 2 * chunk:  # one chunk's work: no process is worth starting
        return [work(items[start:stop], start) for start, stop in bounds]
    token = next(_tokens)
    _inherited[token] = items
    try:
        return _in_workers(partial(_work_inherited, work, token), bounds, workers or os.cpu_count() or 1, steal)
    finally:
        del _inherited[token]


def _in_workers(work: Callable[[tuple[int, int]], R], bounds: list[tuple[int, int]], workers: int,
                steal: bool) -> list[R]:
    """``work`` of each chunk's bounds in forked worker processes, in order; here where none can start or one died."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return [work(one) for one in bounds]
    pool = ProcessPoolExecutor(workers, multiprocessing.get_context("fork"))
    try:
        futures = [_submitted(pool, work, one) for one in bounds]
        here = {i: work(bounds[i]) for i, future in enumerate(futures) if future is None}
        if steal:  # the chunks no worker has started, from the last one back, while the workers go on from the first
            for i in reversed(range(len(bounds))):
                future = futures[i]
                if future is None:
                    continue  # worked here already
                if not future.cancel():
                    break  # a worker has this chunk, and every one before it
                here[i], futures[i] = work(bounds[i]), None
        return [here[i] if future is None else _result(future, work, bounds[i]) for i, future in enumerate(futures)]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _submitted(pool: ProcessPoolExecutor, work: Callable[[tuple[int, int]], R],
               bounds: tuple[int, int]) -> Future[R] | None:
    try:
        return pool.submit(work, bounds)
    except (OSError, RuntimeError, AssertionError):  # no processes here (limits, a daemonic process, …)
        return None


def _result(future: Future[R], work: Callable[[tuple[int, int]], R], bounds: tuple[int, int]) -> R:
    try:
        return future.result()
    except (BrokenProcessPool, OSError):  # a worker was killed: the same work here
        return work(bounds)


def _whole(work: Callable[[list[T]], list[R]], items: Sequence[T], start: int) -> list[R]:
    return work(list(items))


def map_chunks(work: Callable[[list[T]], list[R]], items: Sequence[T], chunk: int,
               workers: int | None = None) -> list[R]:
    """``work(items)`` computed in chunks of ``chunk`` items in worker processes (see :func:`map_ranges`; this
    process waits for them).

    Returns:
        The results in the order of ``items``, the same as ``work(list(items))``.

    Raises:
        Exception: whatever ``work`` raised.
    """
    if len(items) < 2 * chunk:
        return work(list(items))
    return [result for part in map_ranges(partial(_whole, work), items, chunk, workers, steal=False)
            for result in part]

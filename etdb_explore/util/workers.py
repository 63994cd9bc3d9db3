"""CPU-bound work on every core: chunks of items go to worker processes, the results come back in order.

The workers are started with ``fork`` where the platform has it, so scripts without a ``__main__`` guard, notebooks
and threads all work (a forked child starts its own I/O loop, see :mod:`etdb_explore.util.bridge`, and the workers
never touch it). Where no worker can start (no ``fork``, a daemonic process, process limits) or a worker dies, its
chunk is worked here instead: the results are the same, only slower. The work function travels by pickle, so it is a
module-level function (or a :func:`functools.partial` of one); the items travel by pickle too (:class:`ChunkPool`), or
not at all (:func:`map_ranges`, :func:`map_chunks`: the workers are forked after the items exist), and the results come
back by pickle.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class ChunkPool(Generic[T, R]):
    """Runs ``work`` (a list of items → one result per item) over submitted chunks in worker processes.

    Args:
        work: the function; it must give one result per item, and the same results wherever it runs.
        min_chunk: chunks shorter than this are worked here, when :meth:`results` asks (a process is not worth
            starting for them).
        workers: processes to start (default: one per core).
        steal: when :meth:`results` is called, chunks no worker has started yet are taken back and worked here,
            the last first, while the workers go on from the first (so this process, done with its own work, shares
            theirs instead of waiting).
    """

    def __init__(self, work: Callable[[list[T]], list[R]], min_chunk: int, workers: int | None = None, *,
                 steal: bool = False) -> None:
        self.work = work
        self.min_chunk = min_chunk
        self.workers = workers or os.cpu_count() or 1
        self.steal = steal
        self._pool: ProcessPoolExecutor | None = None
        self._chunks: list[tuple[list[T], Future[list[R]] | None]] = []

    def submit(self, items: Sequence[T]) -> None:
        """Queue one chunk; a long enough one starts at once in a worker process."""
        chunk = list(items)
        future = None
        if len(chunk) >= self.min_chunk and "fork" in multiprocessing.get_all_start_methods():
            try:
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("fork"))
                future = self._pool.submit(self.work, chunk)
            except (OSError, RuntimeError, AssertionError):  # no processes here (limits, a daemonic process, …)
                future = None
        self._chunks.append((chunk, future))

    def results(self) -> list[R]:
        """Every submitted item's result, in the order submitted (a chunk whose worker failed is worked here).

        Returns:
            The results, concatenated.

        Raises:
            Exception: whatever ``work`` raised for a chunk.
        """
        chunks, self._chunks = self._chunks, []
        # the chunks kept here first, while the workers go on with theirs
        here = {i: self.work(chunk) for i, (chunk, future) in enumerate(chunks) if future is None}
        if self.steal:
            for i in reversed(range(len(chunks))):
                chunk, future = chunks[i]
                if future is None:
                    continue  # worked here already
                if not future.cancel():
                    break  # a worker has this chunk, and every one before it
                here[i] = self.work(chunk)
                chunks[i] = (chunk, None)
        out: list[R] = []
        for i, (chunk, future) in enumerate(chunks):
            if future is None:
                out += here[i]
                continue
            try:
                out += future.result()
            except (BrokenProcessPool, OSError):  # a worker was killed: the same work here
                out += self.work(chunk)
        return out

    def close(self) -> None:
        """Stop the worker processes (calling it again does nothing)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ChunkPool[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_inherited: dict[int, Sequence[Any]] = {}  # the items of each map_ranges call under way, for its forked workers
_tokens = itertools.count()


def _work_inherited(work: Callable[[Sequence[T], int], R], token: int, bounds: list[tuple[int, int]]) -> list[R]:
    items = _inherited[token]
    return [work(items[start:stop], start) for start, stop in bounds]


def map_ranges(work: Callable[[Sequence[T], int], R], items: Sequence[T], chunk: int,
               workers: int | None = None, *, steal: bool = True) -> list[R]:
    """``work(items[start:start + chunk], start)`` for each chunk of ``chunk`` items, on every core.

    The workers are forked after ``items`` exist, so they find them in their memory: only the bounds of a chunk
    travel to them (by pickle), and its result back. With ``steal``, this process works the chunks no worker has
    started yet, from the last one back, while the workers go on from the first (see :class:`ChunkPool`). Fewer than
    two chunks' items are worked here, no process started.

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
        with ChunkPool(partial(_work_inherited, work, token), 1, workers, steal=steal) as pool:
            for one in bounds:
                pool.submit([one])
            return pool.results()
    finally:
        del _inherited[token]


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

"""Work on every core: chunks in forked worker processes, results in order, this process when a worker cannot."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from functools import partial

import pytest

from etdb_explore.util.workers import map_chunks, map_ranges

PARENT = os.getpid()


def _squares_and_pids(items: list[int]) -> list[tuple[int, int]]:
    return [(i * i, os.getpid()) for i in items]


def _squares_and_pids_once_two_met(items: list[int]) -> list[tuple[int, int]]:
    """The squares, after two processes have come to the meeting (each at its first chunk): so a busy machine cannot
    let one worker take every chunk before the other starts."""
    if os.getpid() not in _met:
        _met.add(os.getpid())
        _meeting[0].wait(30)
    return _squares_and_pids(items)


_meeting: list = []  # the barrier of the test under way: the workers inherit it, forked after it exists
_met: set[int] = set()  # the processes that came to it


def _dies_on(victim: int, items: list[int]) -> list[tuple[int, int]]:
    """Kills the worker process that gets ``victim`` (SIGKILL, as the kernel's OOM killer would)."""
    if victim in items and os.getpid() != PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return _squares_and_pids(items)


def _fails(items: list[int]) -> list[int]:
    raise ValueError(f"bad chunk starting at {items[0]}")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_chunks_run_in_worker_processes_and_come_back_in_order():
    items = list(range(1000))
    _meeting.append(multiprocessing.get_context("fork").Barrier(2))
    try:
        out = map_chunks(_squares_and_pids_once_two_met, items, 64, workers=2)
    finally:
        _meeting.clear()
    assert [square for square, _ in out] == [i * i for i in items]
    assert PARENT not in {pid for _, pid in out[:960]}  # the full chunks, in the workers
    assert len({pid for _, pid in out}) >= 2


def test_few_items_are_worked_here():
    out = map_chunks(_squares_and_pids, list(range(100)), 64)
    assert out == [(i * i, PARENT) for i in range(100)]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_a_killed_worker_chunk_is_worked_here():
    items = list(range(512))
    out = map_chunks(partial(_dies_on, 300), items, 64)
    assert [square for square, _ in out] == [i * i for i in items]
    assert dict(out)[300 * 300] == PARENT


def test_a_failing_chunk_raises_its_error():
    with pytest.raises(ValueError, match="bad chunk starting at 0"):
        map_chunks(_fails, list(range(256)), 64)


def test_in_a_daemonic_process_everything_is_worked_there():
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        out, pid = pool.apply(_map_in_daemon, (list(range(300)),))
    assert [square for square, _ in out] == [i * i for i in range(300)]
    assert {p for _, p in out} == {pid}


def _map_in_daemon(items: list[int]) -> tuple[list[tuple[int, int]], int]:
    return map_chunks(_squares_and_pids, items, 64), os.getpid()


def _slow_squares_and_pids(items: list[int], start: int) -> list[tuple[int, int]]:
    time.sleep(0.2)
    return _squares_and_pids(list(items))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_with_steal_chunks_no_worker_started_are_worked_here():
    out = [pair for part in map_ranges(_slow_squares_and_pids, range(40), 4, workers=1) for pair in part]
    assert [square for square, _ in out] == [i * i for i in range(40)]
    pids = [pid for _, pid in out]
    # the one worker holds at most its chunk and the next; this process takes the rest from the last one back
    assert pids[-1] == PARENT and pids.count(PARENT) >= 12 and any(pid != PARENT for pid in pids)

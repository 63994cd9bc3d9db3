"""The stream deadline of util.bodies: stalls end in TimeoutError, progress keeps a stream alive, outside
cancellations stay cancellations, and a stream of many awaits costs one timer per period."""

from __future__ import annotations

import asyncio

import pytest

from etdb_explore.util.bodies import StallGuard


async def test_a_stalled_await_times_out_and_is_cancelled():
    never = asyncio.Event()
    guard = StallGuard(0.05)
    started = asyncio.get_running_loop().time()
    with pytest.raises(asyncio.TimeoutError):
        await guard.wait(never.wait())
    assert 0.04 <= asyncio.get_running_loop().time() - started < 1.0
    guard.close()


async def test_progress_keeps_a_slow_but_steady_stream_alive():
    guard = StallGuard(0.5)  # 0.46 s more than each await takes: a busy machine's scheduling delays fit in it
    for _ in range(16):  # 0.64 s in all, never 0.5 s without progress
        await guard.wait(asyncio.sleep(0.04))
        guard.progress()
    with pytest.raises(asyncio.TimeoutError):  # and without progress the deadline holds
        for _ in range(100):
            await guard.wait(asyncio.sleep(0.04))
    guard.close()


async def test_time_between_awaits_counts_but_is_never_interrupted():
    guard = StallGuard(0.05)
    await asyncio.sleep(0.1)  # the consumer's own work: not cancelled by the guard
    awaitable = asyncio.sleep(1)
    with pytest.raises(asyncio.TimeoutError):
        await guard.wait(awaitable)  # the deadline has passed: it is not even started (and closed, not leaked)
    guard.close()


async def test_a_cancellation_from_outside_stays_a_cancellation():
    guard = StallGuard(10)

    async def reader() -> None:
        await guard.wait(asyncio.Event().wait())

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    guard.close()


async def test_many_awaits_arm_one_timer_per_period_not_one_each():
    loop = asyncio.get_running_loop()
    armed = []
    call_at = loop.call_at

    def counting_call_at(when, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        armed.append(callback)
        return call_at(when, callback, *args, **kwargs)

    loop.call_at = counting_call_at  # type: ignore[method-assign]
    try:
        guard = StallGuard(5.0)
        for _ in range(200):
            await guard.wait(asyncio.sleep(0))
            guard.progress()
        guard.close()
    finally:
        del loop.call_at
    assert len(armed) == 1

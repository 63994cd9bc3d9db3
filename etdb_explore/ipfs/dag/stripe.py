"""One large byte range read from several sources at once: stripes, work stealing, lanes dropped with their reason.

A range is cut into stripes (their bounds on multiples of 256 KiB, Kubo's leaf size, so neighbouring stripes seldom
share a leaf) and every lane (one gateway, or a Kubo node) reads stripes, ``per_lane`` requests in flight so that the
next request's round trip overlaps the current one's transfer. Each request is the caller's ``fetch``: a CAR range
(``entity-bytes``) whose every block the reader verifies against the file's DAG. Bytes come out in file order;
stripes read ahead wait in memory, never more than ``max_ahead`` bytes past the stripe being handed out.

Work moves to where it goes fast. A lane with nothing left to start takes the far part of the stripe that will
finish last, split in proportion to the two lanes' rates (its own round trip counted), and takes over the whole of a
stripe whose lane has sent nothing for ``stall_after`` seconds. A lane whose request fails (it lied, died, or sent a
block that does not match) or that stalls is dropped for the rest of the read, its reason kept in ``dropped``; what
it held goes to the others, bytes it delivered before are kept (they were verified). When no lane is left, the rest
is read through ``fallback`` (the reader's whole chain of sources, with its own fail-over), so a read never waits on
a dead lane.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.sources.base import BlockSource, FailableSource

Fetch = Callable[[BlockSource, int, int], AsyncIterator[bytes]]
Fallback = Callable[[int, int], AsyncIterator[bytes]]

STALL_MIN = 1.0  # seconds without a byte before a stripe is taken over, at the least
MAX_DROPPED = 64  # reasons kept (newest last)


@dataclass(frozen=True)
class Striping:
    """How large reads are striped across lanes.

    Attributes:
        min_lanes: striping needs at least this many lanes (with fewer, a read takes the usual single path).
        min_bytes: ranges from this size on are striped.
        align: stripe bounds fall on multiples of this (Kubo's 256 KiB leaves).
        max_stripe: the most bytes one request asks for (a short end piece of an unaligned range that would
            otherwise wait for a request of its own joins its neighbour).
        per_lane: requests in flight per lane.
        max_ahead: bytes read ahead of the one being handed out, at most (at least one stripe per request).
        stall_after: seconds without a byte after which a lane's stripe is taken over and the lane dropped; None:
            max(1 s, 4 × the lanes' usual time to first byte).
    """

    min_lanes: int = 2
    min_bytes: int = 1 << 20
    align: int = 256 * 1024
    max_stripe: int = 4 << 20
    per_lane: int = 2
    max_ahead: int = 32 << 20
    stall_after: float | None = None


@dataclass(eq=False)
class _Stripe:
    start: int
    end: int  # shrinks when another lane takes the far part
    pos: int  # the next byte expected
    chunks: deque[bytes] = field(default_factory=deque)
    owner: _Worker | None = None


@dataclass(eq=False)
class _Lane:
    source: BlockSource
    first_byte: float | None = None  # usual seconds from request to first byte (moving average)
    rate: float | None = None  # usual bytes per second of one request (moving average)
    dropped: bool = False
    workers: list[_Worker] = field(default_factory=list)


@dataclass(eq=False)
class _Worker:
    lane: _Lane
    task: asyncio.Task[None] | None = None
    stripe: _Stripe | None = None
    started: float = 0.0  # when the current request was sent
    first: float | None = None  # when its first byte came
    since: float = 0.0  # when it last delivered (or was sent)
    got: int = 0  # bytes it delivered

    def rate(self) -> float | None:
        """Bytes per second of the current request, once it has delivered enough to tell; else the lane's."""
        if self.first is not None and self.got >= 64 * 1024 and self.since > self.first:
            return self.got / (self.since - self.first)
        return self.lane.rate


def _average(old: float | None, new: float) -> float:
    return new if old is None else 0.7 * old + 0.3 * new


def _bounds(start: int, end: int, size: int, wave: int) -> list[tuple[int, int]]:
    """[start, end) cut at multiples of ``size``; when an unaligned range comes out one piece more than ``wave`` (the
    requests sent at once), its shorter end piece joins its neighbour instead of waiting for a round trip of its own
    (a section of an MRC file starts 1024 bytes past a leaf boundary)."""
    cuts = [start, *range((start // size + 1) * size, end, size), end]
    if len(cuts) - 1 == wave + 1 and wave > 0:
        del cuts[1 if cuts[1] - cuts[0] < cuts[-1] - cuts[-2] else -2]
    return list(zip(cuts, cuts[1:]))


class StripedRead:
    """Bytes [start, end) of one file from ``lanes`` at once (see the module).

    Args:
        lanes: the sources to read from (each gateway, a Kubo node), best first.
        fetch: ``fetch(lane, a, b)``: the verified bytes [a, b) from one lane, in order.
        fallback: ``fallback(a, b)``: the verified bytes [a, b) through every source, for when no lane is left.
        start, end: the range.
        policy: the :class:`Striping`.
        dropped: where the reason each dropped lane is dropped for is written (lane name → reason).
    """

    def __init__(self, lanes: list[BlockSource], fetch: Fetch, fallback: Fallback, start: int, end: int,
                 policy: Striping, dropped: dict[str, str]) -> None:
        self.fetch = fetch
        self.fallback = fallback
        self.policy = policy
        self.dropped = dropped
        self.lanes = [_Lane(source) for source in lanes]
        requests = len(self.lanes) * policy.per_lane
        share = -(-(end - start) // requests)
        size = min(policy.max_stripe, max(policy.align, -(-share // policy.align) * policy.align))
        self.stripes = [_Stripe(a, b, a) for a, b in _bounds(start, end, size, requests)]
        self.ahead = max(policy.max_ahead, requests * size)
        self.failure: BaseException | None = None
        self._changed = asyncio.Event()

    # ---- the consumer -------------------------------------------------------------------------------------------

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes of the range in order, in chunks.

        Returns:
            An async iterator of chunks.

        Raises:
            BlockNotFoundError, SourceError, VerificationError, EtdbError: the fallback could not read a part either.
        """
        for lane in self.lanes:
            for _ in range(self.policy.per_lane):
                worker = _Worker(lane)
                lane.workers.append(worker)
                worker.task = asyncio.ensure_future(self._work(worker))
        try:
            while self.stripes:
                head = self.stripes[0]
                if head.chunks:
                    yield head.chunks.popleft()
                elif head.pos >= head.end:
                    self.stripes.pop(0)
                    self._notify()  # the window moved on
                elif self.failure is not None:
                    raise self.failure
                elif not any(not lane.dropped for lane in self.lanes):
                    async for chunk in self._fall_back():
                        yield chunk
                else:
                    await self._changed.wait()
        finally:
            tasks = [w.task for lane in self.lanes for w in lane.workers if w.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _fall_back(self) -> AsyncIterator[bytes]:
        """Read the head stripe, and the stripes after it that hold nothing yet, through the fallback."""
        head = self.stripes[0]
        stop = head.end
        for stripe in self.stripes[1:]:
            if stripe.pos > stripe.start:
                break
            stop = stripe.end
        at = head.pos
        async with contextlib.aclosing(self.fallback(at, stop)) as chunks:
            async for chunk in chunks:
                at += len(chunk)
                yield chunk
        if at != stop:
            raise EtdbError(f"bytes [{head.pos}, {stop}) ended at byte {at} (from every source)")
        while self.stripes and self.stripes[0].end <= stop:
            self.stripes.pop(0)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- the workers --------------------------------------------------------------------------------------------

    async def _work(self, worker: _Worker) -> None:
        lane = worker.lane
        while True:
            stripe = await self._claim(worker)
            if stripe is None:
                return
            try:
                await self._fill(worker, stripe)
            except (EtdbError, OSError, asyncio.TimeoutError) as exc:
                self._drop(lane, str(exc) or type(exc).__name__)
                return
            except Exception as exc:  # a bug, not a lane's failure: the read fails with it
                self.failure = exc
                return
            finally:
                if stripe.owner is worker:
                    stripe.owner = None
                worker.stripe = None
                self._notify()

    async def _claim(self, worker: _Worker) -> _Stripe | None:
        """The next stripe for ``worker``: the first one nobody reads within the window, else part of another's;
        None when nothing is left to read."""
        while True:
            if self.failure is not None or worker.lane.dropped:
                return None
            base = self.stripes[0].start if self.stripes else 0
            open_ = [s for s in self.stripes if s.pos < s.end]
            if not open_:
                return None
            stripe = next((s for s in open_ if s.owner is None and s.start <= base + self.ahead), None)
            wait = None
            if stripe is None:
                stripe, wait = self._steal(worker)
            if stripe is not None:
                stripe.owner, worker.stripe = worker, stripe
                return stripe
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), wait)

    def _stall_after(self) -> float:
        if self.policy.stall_after is not None:
            return self.policy.stall_after
        usual = [lane.first_byte for lane in self.lanes if lane.first_byte is not None and not lane.dropped]
        return max(STALL_MIN, 4 * statistics.median(usual)) if usual else STALL_MIN

    def _steal(self, thief: _Worker) -> tuple[_Stripe | None, float | None]:
        """Take over a stalled stripe, or the far part of the one that will finish last; else None and how long
        to wait before looking again (None: until something changes)."""
        now = time.monotonic()
        stall = self._stall_after()
        wait = None
        last, last_eta = None, -1.0
        for stripe in self.stripes:
            owner = stripe.owner
            if owner is None or owner.lane is thief.lane or stripe.pos >= stripe.end:
                continue
            idle = now - owner.since
            if idle >= stall:
                self._drop(owner.lane, f"stalled: no bytes for {idle:.1f} s while other sources sent", tell=True)
                return (stripe, None) if stripe.owner is None else (None, 0)
            wait = stall - idle if wait is None else min(wait, stall - idle)
            rate = owner.rate()
            eta = (stripe.end - stripe.pos) / rate if rate else float("inf")
            if eta > last_eta:
                last, last_eta = stripe, eta
        if last is not None:
            part = self._split(last, thief)
            if part is not None:
                return part, None
        return None, wait

    def _split(self, stripe: _Stripe, thief: _Worker) -> _Stripe | None:
        """The far part of ``stripe`` for ``thief``: both then finish at about the same time (the thief's request
        costs it its usual time to first byte); None when that part would be under one aligned block."""
        assert stripe.owner is not None
        align = self.policy.align
        remaining = stripe.end - stripe.pos
        owner_rate = stripe.owner.rate()
        thief_rate = thief.lane.rate or owner_rate
        if owner_rate and thief_rate:
            latency = thief.lane.first_byte or stripe.owner.lane.first_byte or 0.0
            finish = (remaining + thief_rate * latency) / (owner_rate + thief_rate)
            keep = owner_rate * finish
        else:
            keep = remaining / 2
        cut = -(-int(stripe.pos + keep) // align) * align
        if cut > stripe.end - align or cut <= stripe.pos:
            return None
        part = _Stripe(cut, stripe.end, cut)
        stripe.end = cut
        bisect.insort(self.stripes, part, key=lambda s: s.start)
        return part

    async def _fill(self, worker: _Worker, stripe: _Stripe) -> None:
        """Read ``stripe`` from the worker's lane into it, until it is complete or no longer the worker's."""
        lane = worker.lane
        begin = at = stripe.pos
        worker.started = worker.since = time.monotonic()
        worker.first, worker.got = None, 0
        async with contextlib.aclosing(self.fetch(lane.source, stripe.pos, stripe.end)) as chunks:
            async for chunk in chunks:
                if stripe.owner is not worker:
                    return
                worker.since = now = time.monotonic()
                if worker.first is None:
                    worker.first = now
                    lane.first_byte = _average(lane.first_byte, now - worker.started)
                piece = chunk[:max(stripe.end - at, 0)]
                at += len(chunk)
                if piece:
                    stripe.chunks.append(piece)
                    stripe.pos += len(piece)
                    worker.got += len(piece)
                    self._notify()
                if stripe.pos >= stripe.end:
                    break
        if stripe.owner is worker and stripe.pos < stripe.end:
            raise EtdbError(f"{lane.source.name} ended bytes [{begin}, {stripe.end}) at byte {at}")
        if worker.first is not None and worker.since > worker.first and worker.got >= 64 * 1024:
            lane.rate = _average(lane.rate, worker.got / (worker.since - worker.first))

    def _drop(self, lane: _Lane, reason: str, tell: bool = False) -> None:
        """Drop ``lane`` for the rest of the read: its stripes go back to the others, its requests are cancelled;
        ``tell``: also tell a :class:`FailableSource` (for what it did not see itself: a stall)."""
        if lane.dropped:
            return
        lane.dropped = True
        self.dropped.pop(lane.source.name, None)
        self.dropped[lane.source.name] = reason
        while len(self.dropped) > MAX_DROPPED:
            self.dropped.pop(next(iter(self.dropped)))
        if tell and isinstance(lane.source, FailableSource):
            lane.source.fail(reason)
        current = asyncio.current_task()
        for worker in lane.workers:
            if worker.stripe is not None and worker.stripe.owner is worker:
                worker.stripe.owner = None
            if worker.task is not None and worker.task is not current:
                worker.task.cancel()
        self._notify()


async def striped(lanes: list[BlockSource], fetch: Fetch, fallback: Fallback, start: int, end: int,
                  policy: Striping, dropped: dict[str, str]) -> AsyncIterator[bytes]:
    """Bytes [start, end) of a file from ``lanes`` at once (see :class:`StripedRead` and the module).

    Returns:
        An async iterator of the bytes in order, in chunks.

    Raises:
        BlockNotFoundError, SourceError, VerificationError, EtdbError: no lane and not the fallback could read a
            part.
    """
    async for chunk in StripedRead(lanes, fetch, fallback, start, end, policy, dropped).chunks():
        yield chunk

"""Bounded reading of HTTP bodies (aiohttp's ``content.read(n)`` returns what is buffered, not ``n`` bytes), and
:func:`await_by`, the cheap deadline for each read or write of a stream (``asyncio.wait_for`` makes a task per call,
which a stream of small reads pays for on every one)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def await_by(deadline: float, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` until the running loop's time ``deadline`` at most (a task of its own only on Python 3.10).

    Returns:
        What it returns.

    Raises:
        asyncio.TimeoutError: the deadline passed first (``awaitable`` is then cancelled).
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout_at(deadline):
            return await awaitable
    return await asyncio.wait_for(awaitable, max(deadline - asyncio.get_running_loop().time(), 0))


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

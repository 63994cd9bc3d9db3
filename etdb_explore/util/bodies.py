"""Bounded reading of HTTP bodies (aiohttp's ``content.read(n)`` returns what is buffered, not ``n`` bytes)."""

from __future__ import annotations

from typing import Any


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

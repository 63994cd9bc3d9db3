"""JSON over HTTP for index sources that are strangers: bounded bodies, retries, and back-off on 429.

One request, :func:`request_body` (or :func:`request_json` for a parsed 2xx answer): 5xx answers, connection errors and time-outs are retried with exponential
back-off; a 429 waits what its ``Retry-After`` says (seconds or an HTTP date, at most ``max_wait``); a body larger
than ``max_bytes`` or not JSON within the limits of :mod:`~etdb_explore.records.safejson` is a SourceError naming the
URL, as is any other 4xx (with the start of its message).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from etdb_explore.errors import RecordError, SourceError
from etdb_explore.records.safejson import loads
from etdb_explore.util.bodies import read_at_most

MAX_BODY = 64 << 20  # bytes of one answer


@dataclass(frozen=True)
class Retry:
    """How often and how long to retry: ``retries`` after the first attempt, ``backoff`` doubled each time, and the
    longest wait a ``Retry-After`` may ask for (``max_wait`` seconds)."""

    retries: int = 4
    backoff: float = 0.5
    max_wait: float = 60.0


DEFAULT_RETRY = Retry()


def retry_after(value: str | None, default: float, max_wait: float) -> float:
    """Seconds to wait for a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns:
        The wait, between 0 and ``max_wait``; ``default`` when the header is missing or unreadable.
    """
    if not value:
        return min(default, max_wait)
    value = value.strip()
    if value.isdigit():
        return min(float(value), max_wait)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return min(default, max_wait)
    return max(0.0, min(when - time.time(), max_wait))


async def _body(response: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    data = await read_at_most(response.content, max_bytes + 1)
    if len(data) > max_bytes:
        raise SourceError(f"{url}: HTTP {response.status} with a body over {max_bytes} bytes")
    return data


def _message(data: bytes) -> str:
    return data[:200].decode("utf-8", "replace").replace("\n", " ")


async def request_body(session: aiohttp.ClientSession, method: str, url: str, *, params: Any = None,
                       json_body: Any = None, retry: Retry = DEFAULT_RETRY,
                       max_bytes: int = MAX_BODY) -> tuple[int, bytes]:
    """One request, retried as the module says, its body read up to ``max_bytes``.

    Returns:
        ``(status, body)`` of the first answer that is neither a 5xx nor a 429 (a 4xx too: what it means is the
        caller's to say).

    Raises:
        SourceError: naming the URL – no answer after the retries, or a body over ``max_bytes``.
    """
    last = ""
    wait = retry.backoff
    for attempt in range(retry.retries + 1):
        if attempt:
            await asyncio.sleep(wait)
            wait *= 2
        try:
            async with session.request(method, url, params=params, json=json_body) as response:
                status = response.status
                data = await _body(response, url, max_bytes)
                after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        if status == 429:
            last = "HTTP 429 Too Many Requests"
            wait = retry_after(after, wait, retry.max_wait)
            continue
        if status >= 500:
            last = f"HTTP {status}: {_message(data)}"
            continue
        return status, data
    raise SourceError(f"{url}: no answer after {retry.retries + 1} attempts ({last})")


async def request_json(session: aiohttp.ClientSession, method: str, url: str, *, params: Any = None,
                       json_body: Any = None, retry: Retry = DEFAULT_RETRY, max_bytes: int = MAX_BODY,
                       max_depth: int = 64) -> Any:
    """One JSON request, retried as the module says.

    Returns:
        The parsed JSON body of a 2xx answer.

    Raises:
        SourceError: naming the URL – a 4xx other than 429 (with the start of its body), no answer after the
            retries, a body over ``max_bytes``, or a body that is not JSON within the limits of safejson.
    """
    status, data = await request_body(session, method, url, params=params, json_body=json_body, retry=retry,
                                      max_bytes=max_bytes)
    if status >= 400:
        raise SourceError(f"{url}: HTTP {status}: {_message(data)}")
    try:
        return loads(data, f"{url}: HTTP {status}", max_depth)
    except RecordError as exc:
        raise SourceError(f"{url}: HTTP {status} with a body that is not JSON ({exc})") from None

"""The batch writer of downloads: bytes reach the file and the hashes in order, a slow source's bytes are not held
back, and however the writing block is left (an error, a cancellation) the worker thread is done with the file."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

import pytest

from etdb_explore.datasets.writer import BatchWriter


def test_bytes_reach_the_file_and_the_digest_in_order(tmp_path):
    chunks = [bytes([i]) * (1000 + 37 * i) for i in range(200)]
    digest = hashlib.sha256()

    async def write() -> None:
        with open(tmp_path / "f", "wb") as fh:
            async with BatchWriter(fh, [digest.update], batch=10_000) as out:
                for chunk in chunks:
                    await out.write(chunk)

    asyncio.run(write())
    whole = b"".join(chunks)
    assert (tmp_path / "f").read_bytes() == whole and digest.hexdigest() == hashlib.sha256(whole).hexdigest()


def test_a_slow_source_reaches_the_file_without_filling_a_batch(tmp_path):
    async def write() -> int:
        with open(tmp_path / "f", "wb") as fh:
            async with BatchWriter(fh, batch=1 << 30, linger=0.05) as out:
                for _ in range(3):
                    await out.write(b"x" * 1000)
                    await asyncio.sleep(0.1)
                return (tmp_path / "f").stat().st_size  # before the block ends

    assert asyncio.run(write()) >= 2000


def test_leaving_by_cancellation_waits_for_the_thread(tmp_path):
    """A download cancelled while its last batch is in the thread: the thread has finished with the file before
    the cancellation leaves the block (the file is closed right after)."""
    release, finished = threading.Event(), []

    def slow_consumer(chunk: bytes) -> None:
        release.wait(5)
        time.sleep(0.05)
        finished.append(len(chunk))

    async def write(fh) -> None:
        async with BatchWriter(fh, [slow_consumer], batch=10) as out:
            await out.write(b"a" * 10)  # to the thread, which waits for ``release``
            await out.write(b"b" * 10)  # waits for the first batch: cancelled here
            raise AssertionError("not reached")

    async def main() -> None:
        with open(tmp_path / "f", "wb") as fh:
            task = asyncio.ensure_future(write(fh))
            await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.sleep(0.05)
            assert not task.done()  # still waiting for the thread
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert finished == [10]

    asyncio.run(main())
    assert (tmp_path / "f").read_bytes() == b"a" * 10


def test_an_error_of_the_thread_is_raised(tmp_path):
    (tmp_path / "f").write_bytes(b"")

    async def write() -> None:
        with open(tmp_path / "f", "rb") as fh:  # not writable
            async with BatchWriter(fh, batch=10) as out:
                await out.write(b"x" * 10)
                await out.write(b"y" * 10)

    with pytest.raises(OSError):
        asyncio.run(write())

"""Byte-range access to one file: the only thing a lazy volume needs from where its bytes live."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol


class ByteRanges(Protocol):
    """A file of known ``size`` whose byte ranges can be read; ``name`` appears in error messages."""

    name: str
    size: int

    async def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file.

        Returns:
            Exactly ``end - start`` bytes.

        Raises:
            Exception: whatever the implementation raises for a range it cannot deliver (EOFError,
                VerificationError, BlockNotFoundError, ...).
        """
        ...


class LocalFile:
    """Byte ranges of a local file (reads run in a worker thread); the size is taken when it is made.

    Raises:
        OSError: ``path`` does not exist or cannot be read (FileNotFoundError, PermissionError).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.size = os.path.getsize(self.path)

    def _read(self, start: int, end: int) -> bytes:
        with open(self.path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start)
        if len(data) != end - start:
            raise EOFError(f"{self.name}: wanted bytes [{start}, {end}), the file ends at {self.size}")
        return data

    async def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file.

        Returns:
            Exactly ``end - start`` bytes.

        Raises:
            EOFError: the file now ends before ``end``.
            OSError: the file cannot be opened or read.
        """
        return await asyncio.to_thread(self._read, start, end)

    def __reduce__(self) -> tuple:
        return (LocalFile, (self.path,))

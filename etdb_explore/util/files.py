"""Writing files atomically: readers see the old file or the whole new one, never half of it.

    atomic_write(folder / "snapshot.json", json.dumps(manifest))          # bytes or text
    atomic_write(folder / "datasets.parquet", frame.to_parquet)           # a callable writing to the path it gets
    with atomic_open(dest / "manifest.csv", "w", newline="") as fh:       # a file object, for streaming writers
        csv.writer(fh).writerows(rows)

Each writes a temporary file in the target's folder (``.<name>.<random>.tmp``, so concurrent writers never share
one), flushes it to disk (``fsync``, unless ``fsync=False``), then renames it over the target with ``os.replace``.
On any error, Ctrl-C included, the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


@contextmanager
def _replacing(target: Path, fsync: bool) -> Iterator[tuple[int, Path]]:
    """An open descriptor and the path of a fresh temporary file next to ``target``, moved over it on success.

    The file is created with the permissions ``open`` gives (0o666 less the umask), not mkstemp's 0o600, so the
    result is as readable as a plainly written file.
    """
    tmp_path = target.with_name(f".{target.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        yield fd, tmp_path
        if fsync:
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", *, fsync: bool = True, **open_args: Any) -> Iterator[IO[Any]]:
    """A file object (``mode`` "w" or "wb", plus ``open`` arguments such as ``encoding``) whose content replaces
    ``path`` when the ``with`` block ends without an error.

    Returns:
        A context manager yielding the open temporary file.

    Raises:
        ValueError: ``mode`` does not write a new file.
        OSError: the folder is missing or not writable.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files (mode 'w' or 'wb'), not mode {mode!r}")
    with _replacing(Path(path), fsync) as (fd, _), open(fd, mode, **open_args) as fh:
        yield fh


def atomic_write(path: str | Path, data: bytes | str | Callable[[Path], Any], *, encoding: str = "utf-8",
                 fsync: bool = True) -> Path:
    """Replace ``path`` with ``data``: bytes, text (in ``encoding``), or a callable that writes the file at the
    path it is given (``frame.to_parquet``).

    Returns:
        ``path`` as a Path.

    Raises:
        OSError: the folder is missing or not writable (``path`` is then unchanged).
        Exception: whatever the callable raises (``path`` is then unchanged).
    """
    target = Path(path)
    with _replacing(target, fsync) as (fd, tmp):
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with open(fd, "wb") as fh:
                fh.write(data.encode(encoding) if isinstance(data, str) else data)
    return target


__all__ = ["TEMP_SUFFIX", "atomic_open", "atomic_write"]

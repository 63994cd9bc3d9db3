"""File names from untrusted records turned into paths that can only land inside a target folder."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path, PurePosixPath

from etdb_explore.errors import UnsafePathError

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4000
RESERVED_WINDOWS = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
FORBIDDEN_CHARS = set('<>:"|?*\\') | {chr(i) for i in range(32)}


def safe_relative_path(name: str, *, what: str = "file name") -> PurePosixPath:
    """A relative POSIX path from an untrusted ``name``.

    Refused: empty names, NUL and control characters, absolute paths, drive letters, ``..`` and ``.`` segments,
    backslashes and Windows-reserved characters or device names, components over 255 bytes, paths over 4000 bytes.
    The name is NFC-normalised so the same name always maps to the same file.

    Returns:
        The path, one part per ``/``-separated segment.

    Raises:
        UnsafePathError: naming ``name`` (as ``what``) and the reason it is refused.
    """
    if not isinstance(name, str) or not name:
        raise UnsafePathError(f"empty {what}")
    if "\0" in name:
        raise UnsafePathError(f"{what} {name!r} contains a NUL byte")
    normalized = unicodedata.normalize("NFC", name)
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise UnsafePathError(f"{what} {name!r} is absolute")
    if len(normalized.encode("utf-8")) > MAX_PATH_BYTES:
        raise UnsafePathError(f"{what} {name[:60]!r}… is longer than {MAX_PATH_BYTES} bytes")
    parts = normalized.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(f"{what} {name!r} has a {part or 'empty'!r} segment")
        if bad := sorted(set(part) & FORBIDDEN_CHARS):
            raise UnsafePathError(f"{what} {name!r} contains forbidden characters {''.join(bad)!r}")
        if part.split(".")[0].upper() in RESERVED_WINDOWS or part.endswith((" ", ".")):
            raise UnsafePathError(f"{what} {name!r} uses a reserved name {part!r}")
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise UnsafePathError(f"{what} {name[:60]!r}… has a component longer than {MAX_COMPONENT_BYTES} bytes")
    return PurePosixPath(*parts)


def safe_join(root: str | Path, name: str, *, what: str = "file name") -> Path:
    """``root / name`` for an untrusted ``name``, guaranteed (also through symlinks) to stay inside ``root``.

    Returns:
        The joined path (``root`` resolved; the last part not resolved).

    Raises:
        UnsafePathError: ``name`` is refused by :func:`safe_relative_path`, or resolves outside ``root`` through a
            symbolic link.
    """
    return SafeRoot(root).join(name, what=what)


class SafeRoot:
    """A folder that untrusted names are joined to (as :func:`safe_join` does), for many names: the folder is
    resolved once, and each subfolder's symbolic links once."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._folders: dict[Path, Path] = {}  # subfolder → its real path

    def join(self, name: str, *, what: str = "file name") -> Path:
        """``root / name``, as :func:`safe_join`.

        Returns:
            The joined path (the last part not resolved).

        Raises:
            UnsafePathError: as :func:`safe_join`.
        """
        target = self.root.joinpath(*safe_relative_path(name, what=what).parts)
        folder = self._folders.get(target.parent)
        if folder is None:
            folder = self._folders[target.parent] = Path(os.path.realpath(target.parent))
        resolved = Path(os.path.realpath(target)) if target.is_symlink() else folder / target.name
        if resolved != self.root and self.root not in resolved.parents:
            raise UnsafePathError(f"{what} {name!r} resolves outside {self.root} (through a symbolic link)")
        return target

"""File kinds: one vocabulary, the records' own file subtypes, with the spellings users write accepted as aliases.

A kind is a record file ``subtype`` as the index spells it (lower case): ``tiltseries`` (records say
``tiltSeries``), ``reconstruction``, ``subvolume``, ``keyimg``, ``snapshot``, ``thumbnail``, ``keymov``,
``preview``, ``other``. Case, ``-``/``_``/blanks and a plural ``s`` do not matter (``tilt-series``,
``reconstructions``, ``keyimgs``), and three groups stand for several: ``images`` (keyimg, snapshot, thumbnail),
``videos`` (keymov) and ``others`` (other, subvolume, preview). ``download(kinds=…)``, ``Index.files_of``,
``BenchmarkSet`` and ``etdb-explore download --kinds`` all read kinds through :func:`normalize_kinds`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from etdb_explore.errors import EtdbError

SUBTYPES: tuple[str, ...] = (
    "tiltseries", "reconstruction", "subvolume", "keyimg", "snapshot", "thumbnail", "keymov", "preview", "other",
)
GROUPS: dict[str, tuple[str, ...]] = {
    "images": ("keyimg", "snapshot", "thumbnail"),
    "videos": ("keymov",),
    "others": ("other", "subvolume", "preview"),
}
_GROUP_ALIASES = {"image": "images", "video": "videos"}
_SEPARATORS = re.compile(r"[\s_-]+")


class KindError(EtdbError, ValueError):
    """A file kind that is neither a record subtype nor one of the accepted aliases."""


def valid_kinds() -> str:
    """The accepted kinds, for messages and help texts.

    Returns:
        The subtypes and the groups, comma-separated.
    """
    return ", ".join([*SUBTYPES, *GROUPS])


def _subtypes_of(kind: object) -> tuple[str, ...]:
    if not isinstance(kind, str):
        raise KindError(f"a file kind is a string, not {type(kind).__name__} {kind!r}; choose from {valid_kinds()}")
    key = _SEPARATORS.sub("", kind.lower())
    key = _GROUP_ALIASES.get(key, key)
    if key in GROUPS:
        return GROUPS[key]
    if key in SUBTYPES:
        return (key,)
    if key.endswith("s") and key[:-1] in SUBTYPES:
        return (key[:-1],)
    raise KindError(f"unknown file kind {kind!r}; choose from {valid_kinds()}")


def normalize_kinds(kinds: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """The record subtypes meant by ``kinds`` (one kind or several; None: every kind).

    Returns:
        The subtypes, without duplicates, in :data:`SUBTYPES` order; None for None.

    Raises:
        KindError: a kind is unknown (the message names it and lists the valid ones).
    """
    if kinds is None:
        return None
    wanted = {s for kind in ([kinds] if isinstance(kinds, str) else kinds) for s in _subtypes_of(kind)}
    return tuple(s for s in SUBTYPES if s in wanted)


__all__ = ["GROUPS", "SUBTYPES", "KindError", "normalize_kinds", "valid_kinds"]


_NAME_KINDS = (
    (re.compile(r"(^|/)rawdata/[^/]+\.(mrc|st|ali)$", re.IGNORECASE), "tiltseries"),
    (re.compile(r"(^|/)3dimage_[^/]*/[^/]+\.(rec|mrc|map)$", re.IGNORECASE), "reconstruction"),
    (re.compile(r"(^|/)keyimg_[^/]*_s\.jpe?g$", re.IGNORECASE), "thumbnail"),
    (re.compile(r"(^|/)keyimg_[^/]*\.jpe?g$", re.IGNORECASE), "keyimg"),
    (re.compile(r"(^|/)keymov_[^/]*\.(flv|mp4)$", re.IGNORECASE), "keymov"),
    (re.compile(r"(^|/)AutoCaps/[^/]+\.jpe?g$", re.IGNORECASE), "snapshot"),
)


def kind_from_name(path: str) -> str:
    """The kind of a lab-folder file by its path, for homes that give names but no subtypes (the folder layout
    go-etdb added to IPFS: ``rawdata/*.mrc|st|ali``, ``3dimage_<n>/*.rec|mrc``, ``keyimg_<id>[_s].jpg``,
    ``keymov_<id>.flv|mp4``, ``AutoCaps/*.jpg``).

    Returns:
        One of :data:`SUBTYPES` ("other" when no pattern fits).
    """
    for pattern, kind in _NAME_KINDS:
        if pattern.search(path):
            return kind
    return "other"

"""File typing as ETDB did it: a dataset folder's layout says what each file is, overridable per file.

``rawdata/`` holds the tilt-series (its other files, like ``.rawtlt`` angles, are ``other``), ``3dimage_<n>/`` the
reconstructions, ``AutoCaps/`` and ``file_<n>/`` snapshots, ``keyimg_<sid>.jpg`` the key image,
``keyimg_<sid>_s.jpg`` its thumbnail, ``keymov_<sid>.mp4``/``.flv`` the key movie; anything else is ``other``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from etdb_explore.records.kinds import KindError, normalize_kinds

TILT_SERIES_SUFFIXES = (".mrc", ".st", ".ali", ".tif", ".tiff")
RECONSTRUCTION_SUFFIXES = (".rec", ".mrc", ".map")
# the records' spelling of each subtype (the index lower-cases them)
RECORD_SUBTYPES = {"tiltseries": "tiltSeries", "reconstruction": "reconstruction", "snapshot": "snapshot",
                   "keyimg": "keyimg", "keymov": "keymov", "thumbnail": "thumbnail", "subvolume": "subvolume",
                   "preview": "preview", "other": "other"}
_THUMBNAIL = re.compile(r"keyimg_.+_s\.(jpe?g|png)$", re.IGNORECASE)
_KEYIMG = re.compile(r"keyimg_.+\.(jpe?g|png)$", re.IGNORECASE)
_KEYMOV = re.compile(r"keymov_.+\.(mp4|flv|webm)$", re.IGNORECASE)


def kind_of(relpath: str) -> str:
    """The kind of a file from its path inside the dataset folder (``/``-separated).

    Returns:
        One of the records' subtypes, lower case (``tiltseries``, ``reconstruction``, ``snapshot``, ``keyimg``,
        ``thumbnail``, ``keymov``, ``other``).
    """
    top, _, rest = relpath.partition("/")
    name = relpath.rsplit("/", 1)[-1]
    suffix = os.path.splitext(name)[1].lower()
    if rest and top == "rawdata":
        return "tiltseries" if suffix in TILT_SERIES_SUFFIXES else "other"
    if rest and top.startswith("3dimage_") and suffix in RECONSTRUCTION_SUFFIXES:
        return "reconstruction"
    if rest and (top == "AutoCaps" or top.startswith("file_")):
        return "snapshot"
    if not rest and _THUMBNAIL.match(name):
        return "thumbnail"
    if not rest and _KEYIMG.match(name):
        return "keyimg"
    if not rest and _KEYMOV.match(name):
        return "keymov"
    return "other"


def file_entry(relpath: str, size: int, kind: str) -> dict[str, Any]:
    """A record's ``storage.files`` entry, as go-etdb wrote them.

    Returns:
        ``{"dname", "fname", "fsize", "type", "subtype"}`` (type ``image`` for a thumbnail, else ``tomogram``).
    """
    return {"dname": relpath.rsplit("/", 1)[-1], "fname": relpath, "fsize": size,
            "type": "image" if kind == "thumbnail" else "tomogram", "subtype": RECORD_SUBTYPES[kind]}


def dataset_files(folder: str | Path, overrides: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The file entries of a dataset folder, sorted by path (symbolic links are left out: they hold no bytes).

    ``overrides`` maps a path inside the folder to a kind (any spelling :func:`normalize_kinds` reads; one
    subtype, not a group).

    Returns:
        The entries (see :func:`file_entry`).

    Raises:
        KindError: an override names an unknown kind or a group.
        FileNotFoundError: ``folder`` does not exist, or an override names a file it does not hold.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {folder} does not exist")
    found: dict[str, int] = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(root, d)))
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                found[path.relative_to(folder).as_posix()] = path.stat().st_size
    kinds = {rel: kind_of(rel) for rel in found}
    for rel, kind in (overrides or {}).items():
        if rel not in found:
            raise FileNotFoundError(f"file kind override for {rel!r}: no such file in {folder}")
        subtypes = normalize_kinds(kind) or ()
        if len(subtypes) != 1:
            raise KindError(f"file kind override for {rel!r}: {kind!r} is a group; name one kind")
        kinds[rel] = subtypes[0]
    return [file_entry(rel, found[rel], kinds[rel]) for rel in sorted(found)]

"""Hostile file names from records never leave the target folder."""

from __future__ import annotations

import os

import pytest

from etdb_explore.datasets.safepaths import safe_join, safe_relative_path
from etdb_explore.errors import UnsafePathError


@pytest.mark.parametrize("name", [
    "../x", "a/../../x", "/etc/passwd", "C:\\windows", "c:x", "a\\..\\b", "a//b", "./a", "a/.", "", "a\0b",
    "CON", "nul.txt", "a/LPT1.log", "trailing.", "space ", "x" * 256, "/".join(["d"] * 2100), "tab\tname", "q?",
])
def test_hostile_names_are_refused(tmp_path, name):
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, parts", [
    ("rawdata/stiv10h3_0004.mrc", ("rawdata", "stiv10h3_0004.mrc")),
    ("3dimage_37677/stiv10h3_0004_full.rec", ("3dimage_37677", "stiv10h3_0004_full.rec")),
    ("Portugal%2C+España=Peninsula Ibérica.txt", ("Portugal%2C+España=Peninsula Ibérica.txt",)),
    ("e\u0301.txt", ("\u00e9.txt",)),  # NFC
])
def test_real_names_pass(tmp_path, name, parts):
    assert safe_relative_path(name).parts == parts
    assert safe_join(tmp_path, name) == tmp_path.resolve().joinpath(*parts)


def test_symlink_escape_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        safe_join(root, "link/file.mrc")

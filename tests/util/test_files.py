"""The one atomic-write helper: the target holds the old file or the whole new one, never a mix, never debris."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util.files import TEMP_SUFFIX, atomic_open, atomic_write


def _debris(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_writes_bytes_text_and_through_a_callable(tmp_path):
    assert atomic_write(tmp_path / "a.bin", b"\x00\x01") == tmp_path / "a.bin"
    atomic_write(tmp_path / "b.txt", "µm, Å", encoding="utf-8")
    frame = pd.DataFrame({"x": [1, 2]})
    atomic_write(tmp_path / "c.parquet", frame.to_parquet)
    with atomic_open(tmp_path / "d.csv", "w", newline="", encoding="utf-8") as fh:
        fh.write("a,b\r\n")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "µm, Å"
    assert pd.read_parquet(tmp_path / "c.parquet").equals(frame)
    assert (tmp_path / "d.csv").read_bytes() == b"a,b\r\n"
    assert _debris(tmp_path) == []


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_debris(tmp_path, failure):
    target = tmp_path / "manifest.csv"
    target.write_text("old\n")

    def half_then_fail(path):
        path.write_text("new but cut sh")
        raise failure

    with pytest.raises(type(failure)):
        atomic_write(target, half_then_fail)
    with pytest.raises(type(failure)), atomic_open(target, "w") as fh:
        fh.write("new but cut sh")
        raise failure
    assert target.read_text() == "old\n" and _debris(tmp_path) == []


def test_concurrent_writers_never_share_a_temporary_file(tmp_path):
    target = tmp_path / "state.json"
    with atomic_open(target, "w") as first:
        first.write("first")
        with atomic_open(target, "w") as second:
            second.write("second")
        assert target.read_text() == "second"
    assert target.read_text() == "first" and _debris(tmp_path) == []


def test_only_whole_file_modes(tmp_path):
    for mode in ("a", "r+", "rb"):
        with pytest.raises(ValueError, match="whole files"), atomic_open(tmp_path / "x", mode):
            pass
    assert list(tmp_path.iterdir()) == []


def test_files_get_the_permissions_open_gives_not_private_ones(tmp_path):
    """A lab shares its store and snapshots: blocks used to be written 0600 (mkstemp), unreadable to the group."""
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "plain", b"x")
        store = LocalStore(tmp_path / "store")
        cid = CID.for_block(b"block")
        store.put(cid, b"block")
        block = next((tmp_path / "store" / "blocks").rglob(str(cid)))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o644
    assert stat.S_IMODE(block.stat().st_mode) == 0o644
    assert list(store.iter_cids()) == [cid]

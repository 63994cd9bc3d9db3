"""Ranges of a file read from an untrusted copy, every leaf checked against the DAG (only its interior nodes are
fetched): raw and Kubo DAG-PB leaves, several levels, a changed byte caught in the leaf that holds it."""

from __future__ import annotations

import random

import pytest

from etdb_explore.errors import VerificationError
from etdb_explore.ipfs.build.importer import GO_ETDB, KUBO_DEFAULT, Profile, add_bytes
from etdb_explore.ipfs.dag.local import verified_range
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.formats.cid import RAW
from etdb_explore.ipfs.sources.store import LocalStore

SMALL = 1024


@pytest.mark.parametrize("profile", [Profile(chunk_size=SMALL, max_links=8),
                                     Profile(raw_leaves=True, chunk_size=SMALL, max_links=8), GO_ETDB, KUBO_DEFAULT],
                         ids=["dag-pb leaves, 3 levels", "raw leaves, 3 levels", "go-etdb", "kubo default"])
async def test_ranges_from_a_copy_are_checked_leaf_by_leaf(tmp_path, profile):
    data = random.Random(1).randbytes(100 * SMALL + 17 if profile.chunk_size == SMALL else 700_000)
    full = LocalStore(tmp_path / "full")
    root = add_bytes(data, profile, full).cid
    interior = LocalStore(tmp_path / "interior")  # the DAG without its leaves: IPFS cannot give a byte of data
    for cid in full.iter_cids():
        block = full.get_sync(cid)
        if cid.codec != RAW and (cid == root or len(block) < 1024):
            interior.put(cid, block)
    reader = UnixFSReader(interior)
    calls = []

    async def fetch(a: int, b: int) -> bytes:
        calls.append((a, b))
        return copy[a:b]

    copy = data
    rng = random.Random(2)
    for _ in range(20):
        start = rng.randrange(len(data))
        end = min(len(data), start + rng.randrange(1, 3 * profile.chunk_size))
        assert await verified_range(reader, root, start, end, fetch) == data[start:end]
    assert await verified_range(reader, root, 0, len(data), fetch) == data
    assert all(b - a <= len(data) for a, b in calls)

    where = len(data) * 2 // 3
    copy = data[:where] + bytes([data[where] ^ 1]) + data[where + 1:]
    assert await verified_range(reader, root, 0, where - profile.chunk_size, fetch) == data[:where - profile.chunk_size]
    with pytest.raises(VerificationError, match="do not hash to leaf"):
        await verified_range(reader, root, where - 5, where + 5, fetch)

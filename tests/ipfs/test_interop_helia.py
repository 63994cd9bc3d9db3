"""Interoperability: Helia, an independent IPFS implementation, reads and verifies files from ``serve``.

Our trustless gateway runs on 127.0.0.1 over a LocalStore holding every gateway-conformance CAR plus what our
importer makes: 2–3 MiB of seeded random bytes under the Kubo default profile, the CIDv1 raw-leaves profile and a
deep tree (64 KiB chunks, three links a node); a small directory (a two-leaf file, a sub-folder, a Unicode name)
under both profiles; and a HAMT-sharded directory of 6000 names. The Node script ``interop/fetch.mjs``
(``@helia/verified-fetch`` on ``createHeliaLight`` + ``withHTTP``, whose only gateway is our server; no delegated
routers, no libp2p, DNS refused) fetches each path one raw block at a time, checking every block against its CID,
and reports status and sha256; the test asserts they are the expected bytes (multiblock.txt against
multiblock.txt.expected, the sub-folder files, the percent-encoded filename, the imported files). Then a server
whose block source flips a bit of one leaf must make Helia fail on that leaf instead of returning bytes.

Skips only when ``node`` or ``npm`` is missing; runs ``npm ci`` in ``interop/`` when its ``node_modules`` is
missing or older than the lockfile. Nothing contacts a public address (npm's registry is used only to install).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
from pathlib import Path
from urllib.parse import quote

import pytest

from etdb_explore.ipfs.build.importer import (
    KUBO_CIDV1,
    KUBO_DEFAULT,
    Entry,
    Profile,
    add_bytes,
    add_directory,
    directory_node,
)
from etdb_explore.ipfs.formats import dagpb, unixfs
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.ipfs.sources.store import LocalStore

from .conftest import expected_files
from .npm_deps import NODE, npm_folder

INTEROP = Path(__file__).with_name("interop")
DEEP = Profile(cid_version=1, raw_leaves=True, chunk_size=65536, max_links=3)


@pytest.fixture(scope="session")
def helia() -> Path:
    """The folder of fetch.mjs with its npm dependencies installed (``npm ci`` if needed)."""
    return npm_folder(INTEROP, "the Helia interop test")


async def helia_fetch(folder: Path, gateway: str, paths: list[str], timeout_ms: int = 20000) -> dict[str, dict]:
    """Run fetch.mjs against ``gateway`` (without blocking the event loop our server runs on); path → result."""
    env = {**os.environ, "INTEROP_TIMEOUT_MS": str(timeout_ms)}
    proc = await asyncio.create_subprocess_exec(NODE, "fetch.mjs", gateway, *paths, cwd=folder, env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")
    return {r["path"]: r for r in json.loads(out)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlockLog(dict):
    """A block sink that keeps the importer's blocks (CID → bytes, in the order they were made)."""

    def put(self, cid: CID, block: bytes) -> None:
        self[cid] = block


def _imported(store: LocalStore, tmp_path: Path) -> dict[str, bytes]:
    """Files and directories made by our importer, put in ``store``: IPFS path → content."""
    rng = random.Random(20240611)
    files: dict[str, bytes] = {}
    for profile, size in ((KUBO_DEFAULT, 3 * 2**20 - 17), (KUBO_CIDV1, 2 * 2**20 + 12345), (DEEP, 2**21 + 1)):
        data = rng.randbytes(size)
        files[f"/ipfs/{add_bytes(data, profile, store).cid}"] = data
    folder = tmp_path / "folder"
    (folder / "sub dir").mkdir(parents=True)
    listing = {"data.bin": rng.randbytes(300_000), "sub dir/Ünïcødé, name?.txt": "grüße\n".encode()}
    for name, content in listing.items():
        (folder / name).write_bytes(content)
    for profile in (KUBO_DEFAULT, KUBO_CIDV1):
        root = add_directory(folder, profile, store).cid
        files.update({f"/ipfs/{root}/{quote(name)}": content for name, content in listing.items()})
        # A HAMT-sharded directory (6000 names), built in memory: one shared file plus a few distinct ones.
        shared = add_bytes(b"shared\n", profile, store)
        entries = {f"tomogram_{i:05d}.rec": Entry(shared.cid, shared.size, shared.tsize) for i in range(6000)}
        for i in (0, 1234, 5999):
            added = add_bytes(f"tomogram {i}\n".encode(), profile, store)
            entries[f"tomogram_{i:05d}.rec"] = Entry(added.cid, added.size, added.tsize)
        shard = directory_node(entries, profile, store.put).cid
        assert unixfs.decode(dagpb.decode(store.get_sync(shard)).data).type == unixfs.HAMT_SHARD
        files.update({f"/ipfs/{shard}/tomogram_{i:05d}.rec": f"tomogram {i}\n".encode() for i in (0, 1234, 5999)})
        files[f"/ipfs/{shard}/tomogram_02024.rec"] = b"shared\n"
    return files


async def test_helia_verifies_every_file_we_serve(helia, conformance_store, conformance, tmp_path):
    store, roots = conformance_store
    files = {f"/ipfs/{roots[car]}/{quote(path)}": data for (car, path), data in expected_files(conformance).items()}
    files.update(_imported(store, tmp_path))
    runner, url = await start_server(store)
    try:
        results = await helia_fetch(helia, url, list(files))
    finally:
        await runner.cleanup()
    for path, content in files.items():
        got = results[path]
        assert (got.get("error"), got.get("status"), got.get("size")) == (None, 200, len(content)), got
        assert got["sha256"] == _sha(content), path


class CorruptingSource:
    """Our store, except that one block comes back with its last bit flipped (as a faulty disk or a lying
    gateway upstream would give it); counts how often that block was served."""

    def __init__(self, store: LocalStore, bad: CID) -> None:
        self.store, self.bad, self.name, self.served_bad = store, bad, "corrupting store", 0

    async def get(self, cid: CID) -> bytes:
        block = await self.store.get(cid)
        if cid == self.bad:
            self.served_bad += 1
            return block[:-1] + bytes([block[-1] ^ 1])
        return block


async def test_helia_refuses_a_corrupted_block(helia, conformance_store):
    store, roots = conformance_store
    blocks = BlockLog()
    add_bytes(random.Random(7).randbytes(3 * 262144 + 5), KUBO_CIDV1, blocks)
    for cid, block in blocks.items():
        store.put(cid, block)
    *leaves, root = blocks  # 4 raw leaves, then the file's root node
    source = CorruptingSource(store, leaves[1])
    good = f"/ipfs/{roots['dir-with-files']}/hello.txt"
    runner, url = await start_server(source)
    try:
        # Helia keeps waiting for a good copy of the block, so a short time limit ends its wait.
        results = await helia_fetch(helia, url, [good, f"/ipfs/{root}"], timeout_ms=3000)
    finally:
        await runner.cleanup()
    assert source.served_bad >= 1  # Helia did ask for the bad block…
    bad = results[f"/ipfs/{root}"]
    assert "status" not in bad and str(leaves[1]) in bad["error"], bad  # …and failed on it, returning nothing
    assert (results[good]["status"], results[good]["sha256"]) == (200, _sha(b"hello world\n"))  # the rest is fine

"""KuboSource against a real IPFS node: a js-ipfs daemon (npm ``ipfs`` 0.66.1, core 0.18.1) run offline on 127.0.0.1.

No Kubo binary can be installed here, but js-ipfs is an independent IPFS implementation serving Kubo's RPC API
(``block/get``, ``cat``, ``dag/export``, ``add``, ``block/put``, ``pin/add``, ``pin/ls``, ``id``), so the client code
under test is the one used with Kubo. The module's fixture installs ``jsipfs/`` (``npm ci`` when needed), inits a
repo in a temporary folder (``--profile test --empty-repo``) and configures it never to dial out: no Swarm addresses
(libp2p listens nowhere), no Bootstrap peers, no MDNS, no WebRTC (its optional packages are replaced, see
``jsipfs/package.json``), no delegates, no DHT, no pubsub, no NAT mapping, no preload, no update check; the RPC API
on 127.0.0.1 at a port the daemon picks (read from ``$IPFS_PATH/api`` as for Kubo), no gateway. The daemon runs in
its own process group, killed at the end; the last test checks that its only sockets are on 127.0.0.1.

Findings: js-ipfs' import defaults are Kubo's (CIDv0, DAG-PB leaves, 256 KiB chunks, 174 links a node; CIDv1 implies
raw leaves), so ``add`` gives our importer's CIDs with no options, and the chunker/raw-leaves options agree too.
``--offline`` does not stop js-ipfs waiting for an absent block (it waits for ever), and it serves a block corrupted
in its repo as stored: KuboSource sends the RPC ``timeout`` option and verifies every block.

Skips only when ``node`` or ``npm`` is missing.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from etdb_explore.errors import BlockNotFoundError, VerificationError
from etdb_explore.ipfs.build.importer import (
    KUBO_CIDV1,
    KUBO_DEFAULT,
    Profile,
    add_bytes,
)
from etdb_explore.ipfs.dag.reader import UnixFSReader
from etdb_explore.ipfs.formats import dagpb
from etdb_explore.ipfs.formats.car import read_car
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.sources.kubo import (
    CLIENT_GRACE,
    KuboSource,
    api_url,
    discover_api,
)
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util.bridge import run

from .conftest import check_conformance_reads
from .npm_deps import NODE, npm_folder

pytest.importorskip("aioipfs")

JSIPFS = Path(__file__).with_name("jsipfs")
CHUNK = 262144
BIG_SIZE = 174 * CHUNK + 1000  # 175 leaves: one more than a node may link, so the root links two sub-trees
MISSING_TIMEOUT = 1.0  # seconds the node may look for a block in these tests


class BlockLog(dict):
    """A block sink keeping what our importer made: CID → block."""

    def put(self, cid: CID, block: bytes) -> None:
        self[cid] = block


@dataclass(frozen=True)
class Node:
    repo: Path
    url: str
    pid: int


def offline(config: dict) -> dict:
    """The repo config of a node that never dials out: nothing to listen on, no peers, no discovery or routing."""
    config["Addresses"].update({"Swarm": [], "Announce": [], "NoAnnounce": [], "API": "/ip4/127.0.0.1/tcp/0",
                                "Gateway": "", "RPC": "", "Delegates": []})
    config.update({"Bootstrap": [], "Routing": {"Type": "none"},
                   "Discovery": {"MDNS": {"Enabled": False}, "webRTCStar": {"Enabled": False}}})
    config["Pubsub"]["Enabled"] = False
    config["Swarm"]["DisableNatPortMap"] = True
    return config


def _wait_for_api(proc: subprocess.Popen, repo: Path, log: Path, limit: float = 60.0) -> str:
    """The API URL once ``$IPFS_PATH/api`` exists and ``POST /api/v0/id`` answers."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the js-ipfs daemon exited ({proc.returncode}):\n{log.read_text(errors='replace')}")
        if (repo / "api").is_file():
            url = api_url((repo / "api").read_text().strip())
            try:
                with urllib.request.urlopen(urllib.request.Request(f"{url}/api/v0/id", method="POST"), timeout=2) as r:
                    if json.load(r).get("ID"):
                        return url
            except OSError:
                pass
        time.sleep(0.1)
    pytest.fail(f"the js-ipfs API did not answer within {limit:g} s:\n{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def jsipfs(tmp_path_factory) -> Iterator[Node]:
    """A js-ipfs daemon on its own repo, offline, its API on 127.0.0.1; stopped (process group) at the end."""
    folder = npm_folder(JSIPFS, "the js-ipfs test")
    repo = tmp_path_factory.mktemp("jsipfs") / "repo"
    env = {**os.environ, "IPFS_PATH": str(repo), "NO_UPDATE_NOTIFIER": "1"}
    cli = [NODE, str(folder / "node_modules" / "ipfs" / "src" / "cli.js")]
    init = subprocess.run([*cli, "init", "--profile", "test", "--empty-repo"], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert init.returncode == 0, init.stdout + init.stderr
    config = repo / "config"
    config.write_text(json.dumps(offline(json.loads(config.read_text())), indent=2))
    log = repo.parent / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*cli, "daemon", "--offline", "--no-enable-preload"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield Node(repo, _wait_for_api(proc, repo, log), proc.pid)
    finally:
        _stop(proc)


@pytest.fixture
async def source(jsipfs):
    source = KuboSource(jsipfs.url, timeout=MISSING_TIMEOUT)
    yield source
    await source.close()


async def rpc(node: Node, command: str, upload: bytes | None = None, **params: str) -> bytes:
    """A raw RPC call (POST, as Kubo requires), optionally with one multipart file; the answer's bytes."""
    form = None
    if upload is not None:
        form = aiohttp.FormData()
        form.add_field("file", upload, filename="upload")
    async with aiohttp.ClientSession() as http, \
            http.post(f"{node.url}/api/v0/{command}", params=params, data=form) as response:
        body = await response.read()
        assert response.status == 200, body
        return body


async def put_blocks(node: Node, blocks: dict[CID, bytes]) -> None:
    """``block/put`` each DAG-PB CIDv0 block (unpinned), checking the CID js-ipfs gives it."""
    for cid, block in blocks.items():
        assert json.loads(await rpc(node, "block/put", block, format="dag-pb", version="0"))["Key"] == str(cid)


@dataclass(frozen=True)
class Added:
    cid: CID  # what the node reported
    data: bytes
    ours: CID  # our importer's CID of the same bytes…
    blocks: BlockLog  # …and its DAG


@pytest.fixture(scope="module")
def big(jsipfs, tmp_path_factory) -> Added:
    """A 45.6 MB file added to the node through KuboSource.add, and our importer's DAG of the same bytes."""
    data = random.Random(20240612).randbytes(BIG_SIZE)
    path = tmp_path_factory.mktemp("big") / "tomogram.mrc"
    path.write_bytes(data)

    async def add() -> CID:
        source = KuboSource(jsipfs.url)
        try:
            return await source.add(path)
        finally:
            await source.close()

    blocks = BlockLog()
    return Added(run(add()), data, add_bytes(data, KUBO_DEFAULT, blocks).cid, blocks)


def test_add_of_a_file_gives_our_importers_cid(big):
    assert big.cid == big.ours
    root = dagpb.decode(big.blocks[big.cid], big.cid)
    assert [len(dagpb.decode(big.blocks[link.cid]).links) for link in root.links] == [174, 1]  # two levels


@pytest.mark.parametrize(("profile", "options"), [
    (KUBO_DEFAULT, {}),
    (KUBO_DEFAULT, {"cid_version": 0, "raw_leaves": False, "chunker": f"size-{CHUNK}"}),
    (KUBO_CIDV1, {"cid_version": 1}),
    (Profile(cid_version=1, raw_leaves=False), {"cid_version": 1, "raw_leaves": False}),
    (Profile(cid_version=1, raw_leaves=True, chunk_size=65536), {"cid_version": 1, "chunker": "size-65536"}),
], ids=["defaults", "kubo-options", "cidv1", "cidv1-dag-pb-leaves", "cidv1-64k-chunks"])
@pytest.mark.parametrize("size", [12, 3 * CHUNK + 99])
async def test_add_bytes_gives_our_importers_cid(source, profile, options, size):
    data = random.Random(size).randbytes(size)
    assert await source.add_bytes(data, **options) == add_bytes(data, profile).cid


async def test_block_get_is_verified_and_equal_to_ours(source, big):
    for cid in (big.cid, *list(big.blocks)[:2], *list(big.blocks)[-3:]):
        assert await source.get(cid) == big.blocks[cid]


async def test_dag_export_is_our_dag_and_reads_back(big, jsipfs, tmp_path):
    # the RPC timeout bounds the whole export, not one block: 1 s is too tight for 178 blocks on a busy machine
    patient = KuboSource(jsipfs.url, timeout=30.0)
    try:
        blocks = await patient.dag_export(big.cid)
    finally:
        await patient.close()
    assert blocks[0][0] == big.cid and dict(blocks) == big.blocks and len(blocks) == len(big.blocks) == 178
    roots, again = read_car(await rpc(jsipfs, "dag/export", arg=str(big.cid)), "js-ipfs dag/export")
    assert roots == [big.cid] and again == blocks
    store = LocalStore(tmp_path / "store")
    for cid, block in again:
        store.put(cid, block)
    assert await UnixFSReader(store).read(big.cid, BIG_SIZE - 300_000) == big.data[-300_000:]


@pytest.mark.parametrize(("offset", "length"), [
    (0, 10), (CHUNK - 5, 10), (3 * CHUNK + 7, 2 * CHUNK), (174 * CHUNK - 3, 500), (BIG_SIZE - 100, None),
    (BIG_SIZE, 10), (12345, 0)])
async def test_cat_ranges_agree_with_the_node(source, big, jsipfs, offset, length):
    end = BIG_SIZE if length is None else offset + length
    assert await UnixFSReader(source).read(big.cid, offset, end) == big.data[offset:end]
    if length != 0:  # js-ipfs refuses length=0 ("Invalid request query input")
        params = {"arg": f"/ipfs/{big.cid}", "offset": str(offset)}
        params |= {} if length is None else {"length": str(length)}
        assert await rpc(jsipfs, "cat", **params) == big.data[offset:end]  # js-ipfs' own (unverified) reading


async def test_pin_of_our_dag(source, jsipfs):
    data = random.Random(5).randbytes(2 * CHUNK + 3)
    ours = BlockLog()
    root = add_bytes(data, KUBO_DEFAULT, ours).cid
    await put_blocks(jsipfs, ours)  # our importer's blocks, unpinned
    async with aiohttp.ClientSession() as http, \
            http.post(f"{jsipfs.url}/api/v0/pin/ls", params={"arg": str(root)}) as response:
        assert response.status == 500 and "not pinned" in (await response.json())["Message"]
    await source.pin(root)
    assert json.loads(await rpc(jsipfs, "pin/ls", arg=str(root)))["Keys"] == {str(root): {"Type": "recursive"}}
    assert await UnixFSReader(source).read(root) == data == await rpc(jsipfs, "cat", arg=str(root))


async def test_missing_blocks_are_clear_errors(source, jsipfs):
    absent = CID.for_block(b"never added to the node")
    started = time.monotonic()
    with pytest.raises(BlockNotFoundError, match=f"block/get {absent}: not found within 1 s"):
        await source.get(absent)
    assert time.monotonic() - started < MISSING_TIMEOUT + CLIENT_GRACE
    ours = BlockLog()
    root = add_bytes(random.Random(6).randbytes(3 * CHUNK + 5), KUBO_DEFAULT, ours).cid
    await put_blocks(jsipfs, {root: ours[root]})  # the root node only: its four leaves are nowhere
    leaves = [link.cid for link in dagpb.decode(ours[root]).links]
    with pytest.raises(BlockNotFoundError, match=f"dag/export {root} lacks block {leaves[0]} "
                                                 fr"\(linked from {root}; 3 more missing\)"):
        await source.dag_export(root)
    with pytest.raises(BlockNotFoundError, match=f"block/get {leaves[1]}: not found"):
        await UnixFSReader(source).read(root, CHUNK + 1, CHUNK + 11)
    with pytest.raises(BlockNotFoundError, match=f"dag/export {absent} lacks block {absent} \\(the root\\)"):
        await source.dag_export(absent)


async def test_a_block_corrupted_in_the_nodes_repo_is_refused(source, jsipfs):
    cid = await source.add_bytes(b"a block the node's disk will damage\n")
    key = base64.b32encode(cid.multihash).decode().rstrip("=")  # flatfs, /repo/flatfs/shard/v1/next-to-last/2
    stored = jsipfs.repo / "blocks" / key[-3:-1] / f"{key}.data"
    block = stored.read_bytes()
    stored.write_bytes(block[:-1] + bytes([block[-1] ^ 1]))
    with pytest.raises(VerificationError, match=str(cid)):
        await source.get(cid)


def test_the_api_is_found_from_ipfs_path(jsipfs, monkeypatch):
    monkeypatch.delenv("IPFS_API", raising=False)
    monkeypatch.setenv("IPFS_PATH", str(jsipfs.repo))
    assert discover_api().startswith("/ip4/127.0.0.1/tcp/")
    assert KuboSource().url == jsipfs.url


def _sockets(pid: int) -> list[tuple[str, str, str]]:
    """(table, local address, remote address) of every TCP/UDP socket the process holds, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                found.append((table, _address(fields[1]), _address(fields[2])))
    return found


def _address(hex_address: str) -> str:
    """/proc/net's ``0100007F:1F91`` → ``127.0.0.1``, an IPv6 one to its hex digits (the port dropped)."""
    host = hex_address.split(":")[0]
    if len(host) == 8:
        return ".".join(str(b) for b in bytes.fromhex(host)[::-1])
    return host


def test_the_node_only_uses_loopback(jsipfs):
    if not Path(f"/proc/{jsipfs.pid}/fd").is_dir():
        pytest.skip("needs Linux /proc to list the daemon's sockets")
    sockets = _sockets(jsipfs.pid)
    assert sockets and any(local == "127.0.0.1" for _, local, _ in sockets)
    assert all(table == "tcp" and local == "127.0.0.1" and remote in ("127.0.0.1", "0.0.0.0")
               for table, local, remote in sockets), sockets


async def test_every_conformance_file_and_many_ranges_through_the_node(source, jsipfs, conformance):
    """The gateway-conformance CARs imported into the node (``dag/import``), every file read back through
    KuboSource whole and by many ranges."""
    roots = {}
    for car in sorted(conformance.glob("*.car")):
        await rpc(jsipfs, "dag/import", car.read_bytes())
        roots[car.stem] = str(read_car(car.read_bytes(), car.name)[0][0])
    await check_conformance_reads(UnixFSReader(source), roots, conformance, ranges=10)

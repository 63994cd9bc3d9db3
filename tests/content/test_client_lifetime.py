"""Client lifetimes: closed by ``close()``, ``with``, ``async with``, its finalizer or the exit hook, never leaving
an unclosed session; sessions on the I/O loop whatever loop awaits; safe after fork; pickled with its sources, and one
client per configuration on a dask worker. Reads go over real HTTP to ``serve`` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import threading
import time
import warnings
import weakref

import numpy as np
import pytest

from etdb_explore.content.client import Client
from etdb_explore.errors import ClientClosedError, NotPicklableError
from etdb_explore.ipfs.build.importer import add_bytes
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.ipfs.sources.gateway import GatewaySource
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util import bridge

from ..subprocesses import run_python

FILES = [np.random.default_rng(seed).bytes(size) for seed, size in ((1, 3 << 20), (2, 600_000), (3, 700_000))]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Three files (one of several leaves) in a store served by ``serve`` on 127.0.0.1: (gateway URL, CIDs)."""
    store = LocalStore(tmp_path_factory.mktemp("served") / "store")
    cids = [str(add_bytes(data, sink=store).cid) for data in FILES]
    runner, url = bridge.run(start_server(store))
    yield url, cids
    bridge.run(runner.cleanup())


@contextlib.contextmanager
def no_resource_warnings():
    """Fail if an unclosed session (or anything else) is garbage-collected with a ResourceWarning meanwhile."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []


READ_AND_EXIT = """
import sys
from etdb_explore import Client
client = Client(sys.argv[1], [sys.argv[2]])
print(len(client.read(sys.argv[3])))
"""


def test_a_script_that_never_closes_its_client_exits_quietly(served, tmp_path):
    url, cids = served
    code, out, err = run_python(READ_AND_EXIT, tmp_path / "store", url, cids[0])
    assert (code, out, err) == (0, f"{len(FILES[0])}\n", "")


def test_with_closes_the_client(served, tmp_path):
    url, cids = served
    with no_resource_warnings():
        with Client(tmp_path / "store", [url]) as client:
            assert client.read(cids[1]) == FILES[1]
        assert client.closed and "(closed)" in repr(client)
        with pytest.raises(ClientClosedError, match="is closed"):
            client.read(cids[1])
        client.close()  # again: nothing to do
        del client


async def test_async_with_closes_the_client_from_the_callers_loop(served, tmp_path):
    url, cids = served
    with no_resource_warnings():
        async with Client(tmp_path / "store", [url]) as client:
            assert await client.aread(cids[1], 0, 100) == FILES[1][:100]
            assert (await client.afile(cids[2])).size == len(FILES[2])
        with pytest.raises(ClientClosedError):
            await client.astat(cids[1])
        del client


def test_a_forgotten_client_is_closed_by_its_finalizer(served, tmp_path):
    url, cids = served
    with no_resource_warnings():
        client = Client(tmp_path / "store", [url])
        assert client.read(cids[1]) == FILES[1]
        session = weakref.ref(bridge.run(client.source.sources[-1]._client()))
        del client
        deadline = time.monotonic() + 10
        while session() is not None and time.monotonic() < deadline:  # closed on the I/O loop, then freed
            gc.collect()
            time.sleep(0.01)
        assert session() is None


def test_a_methods_awaited_on_other_loops_share_the_plain_calls_session(served, tmp_path):
    url, cids = served
    client = Client(tmp_path / "store", [url])

    async def notebook_cell():
        first = await client.aread(cids[0], 0, 1000)
        return first + client.read(cids[0], 1000, 2000)  # a plain call while the notebook's loop runs

    with no_resource_warnings():
        assert asyncio.run(notebook_cell()) == FILES[0][:2000]
        assert asyncio.run(client.aread(cids[1])) == FILES[1]  # another loop, closed afterwards
        assert client.read(cids[1], 5, 9) == FILES[1][5:9]
    client.close()


FORK = """
import os, sys
from etdb_explore.content.client import Client
from etdb_explore.ipfs.sources.gateway import GatewaySource
from etdb_explore.ipfs.sources.store import LocalStore

store, url, first, second = sys.argv[1:]

def client():
    return Client(store, sources=[LocalStore(store), GatewaySource([url], timeout=60)])

parent = client()
size = len(parent.read(first))  # the parent's I/O loop now keeps a connection to the gateway
pid = os.fork()
if pid == 0:  # plain calls in the child, then a normal exit (the exit hook closes the child's sessions)
    sys.exit(0 if len(parent.read(second)) == len(client().read(second)) > 0 else 1)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), flush=True)
print("parent", size, len(parent.read(second)), flush=True)  # its kept connection still works
"""


def test_plain_calls_work_in_a_forked_child_and_leave_the_parent_intact(served, tmp_path):
    url, cids = served
    code, out, err = run_python(FORK, tmp_path / "store", url, cids[0], cids[1], timeout=40)
    assert (code, err) == (0, "")
    assert out.splitlines() == ["child 0", f"parent {len(FILES[0])} {len(FILES[1])}"]


class LockedSource:
    """A block source holding a lock: it cannot travel to another process."""

    name = "a source with a lock"

    def __init__(self) -> None:
        self.lock = threading.Lock()

    async def get(self, cid):
        raise KeyError(cid)


def test_a_client_pickles_with_its_custom_sources(tmp_path):
    client = Client(tmp_path / "a", sources=[LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b"),
                                             GatewaySource(["http://127.0.0.1:9"], timeout=3)])
    again = pickle.loads(pickle.dumps(client))
    assert again.source.name == client.source.name and again.source.sources[2].timeout == 3
    assert pickle.loads(pickle.dumps(client)) is again  # one client per configuration in a process
    plain = Client(tmp_path / "a", ["http://127.0.0.1:9"])
    assert pickle.loads(pickle.dumps(plain)).source.name == plain.source.name
    with pytest.raises(NotPicklableError, match="a source with a lock"):
        pickle.dumps(Client(tmp_path / "a", sources=[LockedSource()]))


_kept: list = []  # on the worker: every client a task received, so that no id is reused


def _read_on_worker(client: Client, path: str) -> tuple[int, int, int]:
    _kept.append(client)
    return os.getpid(), id(client), len(client.read(path))


def test_dask_worker_tasks_share_one_client_per_process(served, tmp_path):
    distributed = pytest.importorskip("distributed")
    url, cids = served
    client = Client(tmp_path / "store", [url])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as dask:
        seen = dask.gather(dask.map(_read_on_worker, [client] * 4, [cids[1]] * 4, pure=False))
    assert len({pid for pid, _, _ in seen}) == 1 and seen[0][0] != os.getpid()
    assert len({ident for _, ident, _ in seen}) == 1 and {n for *_, n in seen} == {len(FILES[1])}

"""Fixtures of the dataset tests: the demo ETDB served by ``etdb-explore serve`` on 127.0.0.1, and clients of it."""

from __future__ import annotations

import pytest

from etdb_explore.content.client import Client
from etdb_explore.ipfs.gateway_server import start_server
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.util import bridge


@pytest.fixture(scope="module")
def gateway(demo, tmp_path_factory):
    """``serve`` over the demo store on 127.0.0.1 (the demo's files live in the session's default store)."""
    store = LocalStore(tmp_path_factory.getbasetemp() / "data" / "etdb-explore" / "store")
    runner, url = bridge.run(start_server(store))
    yield url
    bridge.run(runner.cleanup())


@pytest.fixture
def remote(gateway, tmp_path) -> Client:
    """A client with an empty local store: every byte comes over HTTP from the gateway, verified."""
    return Client(tmp_path / "empty-store", [gateway])

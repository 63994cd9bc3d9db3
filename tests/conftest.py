"""Shared fixtures: the real-world vectors in tests/vectors (see its README for where each comes from)."""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import shutil
from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parent / "vectors"
# what every test's environment holds (also for the processes of module- and session-scoped fixtures, set up before
# a test's own environment): no public gateway, the small demo ETDB for load_index() and `etdb-explore demo`
ISOLATED = {"IPFS_GATEWAY": "http://127.0.0.1:9", "ETDB_EXPLORE_DEMO": "small"}


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"the test vectors are missing: {VECTORS}")
    return VECTORS


@pytest.fixture(scope="session")
def etdb_record(vectors: Path) -> dict:
    """The real ETDB record (oipd response) of txid 8a07e957…."""
    return json.loads((vectors / "etdb_record_oipd.json").read_text())


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache and data dirs of etdb-explore point into a per-session temp folder, never the user's; the default
    gateway is a closed port on 127.0.0.1, so no test can reach a public address by accident; the default demo is
    the small one (a test that needs the full one asks for ``demo_index(size="full")``)."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))
    for name, value in ISOLATED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("IPFS_API", raising=False)
    from etdb_explore.content.client import set_default_client

    set_default_client(None)


def _small_demo(data: Path, cache: Path):
    """The small demo ETDB with ``data`` and ``cache`` as the data and cache dirs: built there, or read back if a
    build is there already."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(data))
        mp.setenv("XDG_CACHE_HOME", str(cache))
        from etdb_explore.demo import demo_index

        return demo_index(size="small")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The small demo ETDB, built once per test run in the session's data dir (the same one subprocesses and
    ``load_index()`` use). Under pytest-xdist the first worker builds it in the run's folder (the workers' temp
    folders' parent, under a lock) and every worker copies that build into its own data dir: the same seed builds
    the same bytes, and each worker's tests still read and change only their own copy."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run = base.parent
        with open(run / "demo.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            _small_demo(run / "demo-data", run / "demo-cache")
        shutil.copytree(run / "demo-data", base / "data", dirs_exist_ok=True)
    return _small_demo(base / "data", base / "cache")


@pytest.fixture(scope="session")
def demo_shape():
    """(z, y, x) of every tomogram of the test demo."""
    from etdb_explore.demo import DEMO_SIZES

    return DEMO_SIZES["small"].phantom.shape


# pytest-xdist (the README's `-n auto --dist loadfile`) sends each test file to one worker. Files matching one of
# these patterns share a session fixture too costly to start twice and go to one worker together (the same work
# unit); the longest units start first, so no worker is left running one of them alone at the end.
SHARED_FIXTURES = {
    "tests/widgets/*_lab.py": "lab",  # one JupyterLab and Chromium (tests/widgets/conftest.py)
    "tests/napari/*.py": "napari",  # one Xvfb and napari import (tests/napari/conftest.py)
}
LONGEST_FIRST = ["tests/test_binder.py", "lab", "napari"]


def work_unit(nodeid: str) -> str:
    """The work unit of a test under pytest-xdist: its file, or the name of the files' shared fixture."""
    path = nodeid.split("::", 1)[0]
    return next((unit for pattern, unit in SHARED_FIXTURES.items() if fnmatch.fnmatch(path, pattern)), path)


def _rank(item: pytest.Item) -> int:
    unit = work_unit(item.nodeid)
    return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the rest keep their order, each file's tests stay together


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile`` with the work units of :func:`work_unit`, in collection order (longest first)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFixtureScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # xdist would order the units by their number of tests
    return SharedFixtureScheduling(config, log)

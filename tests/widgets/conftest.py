"""Fixtures of the widget tests: one JupyterLab for every browser test of the session, Chromium per module (see
lab.py).

The browser test files (``*_lab.py``) form one pytest-xdist work unit (tests/conftest.py), so the server starts once
per run. Each test gets it reset: no page open, no kernel running, no error collected from an earlier test.
"""

from __future__ import annotations

import pytest

from .lab import Lab, session_env


@pytest.fixture(scope="session")
def lab_server(demo, tmp_path_factory):
    """JupyterLab on 127.0.0.1 over the session's small demo ETDB; its kernels have no screen, as on Binder (no
    napari window opens). Chromium runs while a browser-test module does (``_browser``)."""
    env = {**session_env(tmp_path_factory), "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    with Lab(tmp_path_factory.mktemp("lab"), env) as lab:
        yield lab


@pytest.fixture(scope="module")
def _browser(lab_server):
    """Chromium for this module's tests: Playwright's sync API holds an event loop in this thread while it runs, so
    it stops at the end of each browser-test module, before other modules' asyncio tests run on this worker."""
    lab_server.start_browser()
    yield
    lab_server.reset()
    lab_server.stop_browser()


@pytest.fixture
def lab(lab_server, _browser):
    """The session's JupyterLab, reset for this test; a JavaScript error in its pages fails the test, also one
    thrown after the test's own checks."""
    lab_server.reset()
    yield lab_server
    errors = list(lab_server.errors)
    lab_server.reset()
    assert not errors, errors

"""Fixtures of the widget tests: one JupyterLab and Chromium per test module (see lab.py)."""

from __future__ import annotations

import pytest

from .lab import Lab, session_env


@pytest.fixture(scope="module")
def lab(demo, tmp_path_factory):
    """JupyterLab on 127.0.0.1 over the session's small demo ETDB, with a headless Chromium."""
    with Lab(tmp_path_factory.mktemp("lab"), session_env(tmp_path_factory)) as lab:
        yield lab

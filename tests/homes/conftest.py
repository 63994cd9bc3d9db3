"""The three homes of one tilt series, built once per session (see fixture.py); servers start per test."""

from __future__ import annotations

import pytest

from .fixture import Homes, build_homes


@pytest.fixture(scope="session")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Homes:
    return build_homes(tmp_path_factory.mktemp("homes"))

"""Demo sizes: `etdb-explore demo` and `load_index()` keep the full demo; tests ask for the small one."""

from __future__ import annotations

import pytest

from etdb_explore.demo import DEMO_SIZES, DemoSize, demo_dir, demo_size
from etdb_explore.demo.phantom import PhantomSpec
from etdb_explore.errors import EtdbError


def test_the_full_demo_is_the_default_without_the_variable(monkeypatch):
    monkeypatch.delenv("ETDB_EXPLORE_DEMO")
    assert demo_size() == "full" and DEMO_SIZES["full"] == DemoSize(32, PhantomSpec())
    assert demo_dir().name == "demo" and demo_dir("small").name == "demo-small"


def test_the_variable_and_the_argument_choose_the_size(monkeypatch):
    assert demo_size() == "small"  # the test session's setting (conftest)
    assert demo_size("full") == "full" and demo_dir().name == "demo-small"
    small, full = DEMO_SIZES["small"], DEMO_SIZES["full"]
    assert small.datasets < full.datasets and small.phantom.shape < full.phantom.shape
    monkeypatch.setenv("ETDB_EXPLORE_DEMO", "huge")
    with pytest.raises(EtdbError, match=r"'huge' \(from \$ETDB_EXPLORE_DEMO\).*full, small"):
        demo_size()
    with pytest.raises(EtdbError, match="'tiny'"):
        demo_dir("tiny")

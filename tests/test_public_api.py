"""The public API: ``etdb_explore.__all__`` resolves, README.md's "Public API" section lists exactly it (plus names of
submodules that resolve there), and every public name has a docstring."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

import etdb_explore

README = Path(__file__).resolve().parents[1] / "README.md"
NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]*)`")
MEMBERS = re.compile(r"`([A-Za-z_]\w*)` \(([^()]*)\)")


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Public API\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _bullets() -> list[str]:
    """The section's bullets, continuation lines joined."""
    bullets: list[str] = []
    in_bullet = False
    for line in _section().splitlines():
        if line.startswith("- "):
            bullets.append(line[2:])
            in_bullet = True
        elif line.startswith("  ") and in_bullet:
            bullets[-1] += " " + line.strip()
        else:
            in_bullet = False
    return bullets


def _top_level() -> list[tuple[str, list[str]]]:
    """(name, members) for each name the README lists as ``etdb_explore``'s own (bullets without a module)."""
    listed = []
    for bullet in _bullets():
        if bullet.startswith("`etdb_explore."):
            continue
        members = {name: NAME.findall(inner) for name, inner in MEMBERS.findall(bullet)}
        outer = re.sub(r"\([^()]*\)", "", bullet)
        listed += [(name, members.get(name, [])) for name in NAME.findall(outer)]
    return listed


def _submodules() -> list[tuple[str, list[str]]]:
    """(module, names) for each bullet naming a submodule."""
    out = []
    for bullet in _bullets():
        m = re.match(r"`(etdb_explore\.[\w.]+)`: (.*)", bullet)
        if m:
            out.append((m[1], NAME.findall(re.sub(r"\([^()]*\)", "", m[2]))))
    return out


@pytest.mark.parametrize("name", etdb_explore.__all__)
def test_every_name_in_all_resolves(name):
    value = getattr(etdb_explore, name)  # what ``from etdb_explore import name`` does, lazy names included
    assert value is not None
    assert name in dir(etdb_explore)
    assert getattr(etdb_explore, name) is value


def test_readme_lists_exactly_all():
    listed = [name for name, _ in _top_level()]
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert sorted(listed) == sorted(etdb_explore.__all__)


def _has_member(obj, member: str) -> bool:
    """``obj.member`` exists on the class, is a dataclass field, or is set on instances by its classes' own code."""
    if hasattr(obj, member) or (dataclasses.is_dataclass(obj) and member in {f.name for f in dataclasses.fields(obj)}):
        return True
    pattern = re.compile(rf"self\.{member}\s*[:=]")
    return any(pattern.search(inspect.getsource(cls)) for cls in getattr(obj, "__mro__", ())
               if cls.__module__.startswith("etdb_explore"))


def test_readme_members_exist():
    checked = 0
    for name, members in _top_level():
        for member in members:
            assert _has_member(getattr(etdb_explore, name), member), f"README lists {name}.{member}"
            checked += 1
    assert checked > 20


def test_readme_submodule_names_resolve():
    modules = _submodules()
    assert modules, "the README names no submodules"
    for module, names in modules:
        assert names, module
        for name in names:
            assert getattr(importlib.import_module(module), name, None) is not None, f"README lists {module}.{name}"


def _public_members(cls: type) -> list[tuple[str, object]]:
    return [(name, value) for name, value in vars(cls).items() if not name.startswith("_")
            and (inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod)))]


@pytest.mark.parametrize("name", etdb_explore.__all__)
def test_every_public_name_has_a_docstring(name):
    obj = getattr(etdb_explore, name)
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    assert doc and doc.strip(), f"{name} has no docstring"
    if isinstance(obj, type):
        for member, value in _public_members(obj):
            func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            assert inspect.getdoc(func if not isinstance(func, property) else func.fget), f"{name}.{member}"


def test_every_error_of_the_errors_module_is_exported():
    from etdb_explore import errors

    defined = {name for name, value in vars(errors).items()
               if isinstance(value, type) and issubclass(value, errors.EtdbError)}
    assert defined - set(etdb_explore.__all__) == set()

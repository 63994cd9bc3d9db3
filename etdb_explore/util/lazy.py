"""Packages whose public names are imported on first use (PEP 562), so importing a package stays cheap."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping
from typing import Any


def lazy_names(package: str, names: Mapping[str, str]) -> None:
    """Make the public ``names`` of ``package`` (name → the relative module that defines it) import on first use:
    call ``lazy_names(__name__, _LAZY)`` at the end of the package's ``__init__``.

    A name that is also a submodule's (``etdb_explore.publish.broadcast``, the function, in the module of that name)
    keeps meaning the name once the submodule is imported, as an eager ``from .broadcast import broadcast`` made it.
    """
    module = sys.modules[package]

    class LazyPackage(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            if name not in names:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(names[name], package), name)
            setattr(self, name, value)
            return value

        def __dir__(self) -> list[str]:
            return sorted({*vars(self), *names})

        def __setattr__(self, name: str, value: Any) -> None:
            if name in names and isinstance(value, types.ModuleType) and value.__name__ == f"{package}.{name}":
                return  # the import system binding the submodule: the public name is not replaced by it
            super().__setattr__(name, value)

    module.__class__ = LazyPackage

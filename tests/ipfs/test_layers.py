"""Imports inside ``etdb_explore.ipfs`` flow one way: formats → sources → dag → build → gateway_server."""

from __future__ import annotations

import ast
from pathlib import Path

import etdb_explore

PACKAGE = Path(etdb_explore.__file__).parent
ORDER = ["formats", "sources", "dag", "build", "gateway_server"]  # each may import only itself and those before it
OUTSIDE = ["content", "volumes", "datasets", "demo", "cli"]  # the layers above ipfs


def _layer(module: str) -> str:
    """``etdb_explore.ipfs.dag.reader`` → ``dag``; a module of another layer → its own name."""
    parts = module.split(".")
    return parts[2] if parts[1] == "ipfs" and len(parts) > 2 else parts[1]


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name.startswith("etdb_explore.")]


def test_ipfs_layers_import_only_themselves_and_the_layers_before_them():
    wrong = []
    for path in sorted((PACKAGE / "ipfs").rglob("*.py")):
        if path.name == "__init__.py" and path.parent.name == "ipfs":
            continue  # the package's public face re-exports every layer
        own = _layer(".".join(("etdb_explore", *path.relative_to(PACKAGE).with_suffix("").parts)))
        for module in _imports(path):
            layer = _layer(module)
            if layer in OUTSIDE or (layer in ORDER and ORDER.index(layer) > ORDER.index(own)):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert wrong == []

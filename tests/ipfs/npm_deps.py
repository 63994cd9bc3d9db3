"""The npm packages of the tests driven through Node.js (``interop/`` for Helia, ``jsipfs/`` for a js-ipfs node).

They skip only when ``node`` or ``npm`` is missing, and run ``npm ci`` in a folder whose ``node_modules`` is missing or
older than its manifests (npm's registry is used only to install; nothing else is contacted).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE, NPM = shutil.which("node"), shutil.which("npm")


def installed(folder: Path) -> bool:
    """npm's hidden lockfile is written last by an install; one older than the manifests means a stale install."""
    hidden = folder / "node_modules" / ".package-lock.json"
    return hidden.is_file() and all(hidden.stat().st_mtime >= (folder / name).stat().st_mtime
                                    for name in ("package.json", "package-lock.json"))


def npm_folder(folder: Path, what: str) -> Path:
    """``folder`` with its npm dependencies installed; skips ``what`` without Node.js and npm."""
    if NODE is None or NPM is None:
        missing = " and ".join(name for name, found in (("node", NODE), ("npm", NPM)) if found is None)
        pytest.skip(f"{what} needs Node.js and npm: {missing} not found on PATH")
    if not installed(folder):
        done = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True,
                              timeout=900, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            pytest.fail(f"npm ci in {folder} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return folder

"""Start-up cost: the command and the packages load only what the work asked for needs (real processes, so nothing
this test session has imported already hides an import)."""

from __future__ import annotations

import json

from tests.subprocesses import run_python

# Libraries that cost tens to hundreds of milliseconds to import: loaded by the commands that use them, not before.
HEAVY = ("aiohttp", "aiohttp.web", "pandas", "numpy", "pyarrow", "mrcfile", "matplotlib", "coincurve", "fsspec", "napari")

# Runs the command with the given arguments in this process, then prints its exit code and the modules it loaded.
RUN_COMMAND = """
import json, sys
from etdb_explore.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def run_command(*args: object) -> tuple[int, str, set[str]]:
    """``etdb-explore args…`` in a fresh interpreter.

    Returns:
        (exit code, standard output, the heavy modules it loaded).
    """
    code, out, err = run_python(RUN_COMMAND, *args)
    assert code == 0, err
    report = json.loads(err.strip().splitlines()[-1])
    return report["code"], out, set(HEAVY) & set(report["modules"])


def test_help_and_version_load_no_heavy_library():
    from etdb_explore import __version__

    code, out, heavy = run_command("--version")
    assert (code, out, heavy) == (0, f"etdb-explore {__version__}\n", set())
    for args in (["--help"], ["search", "--help"], ["publish", "release", "--help"], ["bench", "pull", "--help"]):
        code, out, heavy = run_command(*args)
        assert code == 0 and out.startswith("usage: etdb-explore"), args
        assert not heavy, args


def test_add_only_hash_loads_only_the_importer(tmp_path):
    """Hashing a file needs the UnixFS importer: not the gateway server, the HTTP client, pandas or numpy."""
    from etdb_explore.ipfs import KUBO_DEFAULT, add_file

    path = tmp_path / "a.bin"
    path.write_bytes(bytes(range(256)) * 1000)
    code, out, heavy = run_command("add", "--only-hash", "--json", path)
    assert code == 0 and json.loads(out) == [{"path": str(path), "cid": str(add_file(path, KUBO_DEFAULT).cid),
                                              "size": path.stat().st_size}]
    assert not heavy


# Imports the named packages, prints the heavy modules loaded; then uses every public name of each.
IMPORT_PACKAGES = """
import importlib, json, sys
heavy = sys.argv[1].split(",")
packages = [importlib.import_module(name) for name in sys.argv[2:]]
print(json.dumps(sorted(set(heavy) & set(sys.modules))))
missing = [f"{p.__name__}.{name}" for p in packages for name in p.__all__ if getattr(p, name, None) is None]
import etdb_explore.volumes.preview  # the submodule of a public name's name: the name keeps meaning the function
print(json.dumps(missing + ([] if callable(sys.modules["etdb_explore.volumes"].preview) else ["preview"])))
"""


def test_packages_import_their_public_names_on_first_use():
    packages = ["etdb_explore", "etdb_explore.ipfs", "etdb_explore.records", "etdb_explore.volumes",
                "etdb_explore.index", "etdb_explore.publish"]
    code, out, err = run_python(IMPORT_PACKAGES, ",".join(HEAVY), *packages)
    assert code == 0, err
    heavy, missing = map(json.loads, out.splitlines())
    assert heavy == []
    assert missing == []  # and each public name still resolves


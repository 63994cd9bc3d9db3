"""Binder (repo2docker: binder/environment.yml, then binder/postBuild). repo2docker needs a container engine, which
is not here; what it would do is checked: the environment names every package imported by the notebooks and the
package, and postBuild, run in a fresh virtual environment, installs the checkout and leaves a demo ETDB that every
notebook then executes against."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib

from .conftest import ISOLATED
from .test_notebooks import NOTEBOOKS, check_outputs, read

yaml = pytest.importorskip("yaml")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
# imports that are not Binder's to satisfy, and why
NOT_ON_BINDER = {
    "napari": "the napari extra draws in a window; Binder has no screen (the notebooks use layer_data only)",
    "qtpy": "napari's Qt, for the plugin's dock widget",
    "aioipfs": "the kubo extra talks to a Kubo daemon; Binder runs none",
    "keyring": "the publish extra's system keyring; Binder has none (notebook 04 keeps its key in a file)",
}
CONDA_NAMES = {"matplotlib": {"matplotlib", "matplotlib-base"}, "yaml": {"pyyaml"}, "PIL": {"pillow"}}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)")


def environment() -> dict:
    return yaml.safe_load((BINDER / "environment.yml").read_text())


def packages(env: dict) -> set[str]:
    """Names of the conda and pip packages of an environment.yml, lower-cased, versions dropped."""
    names = set()
    for dep in env["dependencies"]:
        for spec in dep["pip"] if isinstance(dep, dict) else [dep]:
            names.add(REQUIREMENT.match(spec)[1].lower())
    return names


def top_level_imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"etdb_explore", "__future__"}


def imported() -> dict[str, str]:
    """Every third-party module imported by the notebooks' code cells and the package's modules → one importer."""
    found: dict[str, str] = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                found.update({name: f"{path.name}:{cell.id}" for name in top_level_imports(cell.source)})
    for path in sorted((ROOT / "etdb_explore").rglob("*.py")):
        found.update({name: str(path.relative_to(ROOT)) for name in top_level_imports(path.read_text())})
    return found


def test_environment_names_every_import():
    env = environment()
    assert env["channels"] == ["conda-forge"]
    have = packages(env)
    modules = imported()
    assert {"numpy", "pandas", "dask", "matplotlib", "mrcfile"} <= set(modules)  # the scan found the imports
    missing = {name: where for name, where in modules.items()
               if name not in NOT_ON_BINDER and not (CONDA_NAMES.get(name, {name.lower()}) & have)}
    assert not missing, f"binder/environment.yml lacks {missing}"
    assert {"jupyterlab", "ipykernel", "python", "pip", "setuptools"} <= have


def test_environment_has_the_package_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    have = packages(environment())
    for requirement in project["dependencies"]:
        name = REQUIREMENT.match(requirement)[1].lower()
        assert CONDA_NAMES.get(name, {name}) & have, f"environment.yml lacks {requirement}"
    python = next(d for d in environment()["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert tuple(map(int, python.split("=")[1].split("."))) >= (3, 10)


def test_readme_badge_opens_notebook_01():
    """The badge links to the ``[binder]:`` definition, the one place naming the repository on GitHub."""
    readme = (ROOT / "README.md").read_text()
    assert "[![Binder](https://mybinder.org/badge_logo.svg)][binder]" in readme
    badge = re.search(r"^\[binder\]: (https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/HEAD\?\S+)$", readme, re.MULTILINE)
    assert badge, "README has no [binder]: link definition"
    assert readme.count("mybinder.org/v2/gh/") == 1, "the repository is named in more than one Binder link"
    target = re.search(r"urlpath=([^&)\s]+)", badge[0])
    assert target and target[1] == "lab/tree/notebooks/01-explore-the-index.ipynb"
    assert (ROOT / "notebooks" / "01-explore-the-index.ipynb").is_file()


def _copy_checkout(dest: Path) -> None:
    """The checkout's tracked files as they are on disk (what repo2docker copies into the image)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_symlink():  # a link git tracks (the widgets' front end) stays a link
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).symlink_to(os.readlink(source))
        elif source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@dataclass
class Binder:
    """A fresh venv after binder/postBuild, and the Jupyter kernel spec of its Python (``binder``)."""

    repo: Path  # the copy of the checkout postBuild ran in
    demo: Path  # the demo ETDB postBuild left
    built: dict[Path, int]  # its files and their modification times
    env: dict[str, str]  # the environment of the venv's processes
    folder: Path  # the notebooks' working directory


@pytest.fixture(scope="module")
def binder(tmp_path_factory) -> Binder:
    """binder/postBuild run in a fresh virtual environment on a copy of the checkout, once for this module."""
    tmp_path = tmp_path_factory.mktemp("binder")
    repo, venv, data = tmp_path / "repo", tmp_path / "venv", tmp_path / "data"
    _copy_checkout(repo)
    # the venv sees this machine's packages (nothing is downloaded; pip and setuptools too, not the older ones a venv
    # would bundle), but has no etdb-explore of its own yet
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    # Binder has no screen: no DISPLAY a session's Xvfb (tests/napari) may have left in this process's environment
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "IPFS_API")}
    env.update(ISOLATED, PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv), XDG_DATA_HOME=str(data),
               XDG_CACHE_HOME=str(tmp_path / "cache"), JUPYTER_PATH=str(tmp_path / "jupyter"))
    build = subprocess.run(["bash", str(repo / "binder" / "postBuild")], cwd=repo, env=env, capture_output=True,
                           text=True, timeout=900, check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    assert (venv / "bin" / "etdb-explore").exists()
    where = subprocess.run([str(venv / "bin" / "python"), "-c", ("import etdb_explore.demo as d, json; "
                            "print(json.dumps([d.__file__, str(d.demo_dir())]))")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    module, demo = map(Path, json.loads(where.stdout))
    assert module.is_relative_to(repo) and demo.is_relative_to(data)
    built = {p: p.stat().st_mtime_ns for p in demo.rglob("*") if p.is_file()}
    # a kernel of the venv, as Binder's JupyterLab starts it
    spec = tmp_path / "jupyter" / "kernels" / "binder"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "binder venv", "language": "python"}))
    folder = tmp_path / "work"
    folder.mkdir()
    return Binder(repo, demo, built, env, folder)


def test_postbuild_in_a_fresh_venv_leaves_a_demo(binder):
    assert any(p.suffix == ".parquet" for p in binder.built), "postBuild left no demo index"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_the_binder_kernel(binder, path, monkeypatch):
    """Executed top to bottom in a fresh kernel of the Binder venv (postBuild's demo ETDB, no network, no screen; a
    scratch folder as working directory), importing the checkout postBuild installed: no errors and nothing on
    stderr, every plotting cell shows an image/png output (a Figure's text repr is not one), and the demo is left as
    postBuild made it."""
    monkeypatch.setenv("JUPYTER_PATH", binder.env["JUPYTER_PATH"])  # where the client looks the kernel up
    nb = read(path)
    nb.cells.append(nbformat.v4.new_code_cell("import etdb_explore; print(etdb_explore.__file__)"))
    nbclient.NotebookClient(nb, timeout=600, kernel_name="binder",
                            resources={"metadata": {"path": str(binder.folder)}}).execute(env=binder.env)
    assert nb.cells[-1].outputs[0]["text"].startswith(str(binder.repo)), path.name
    check_outputs(nb.cells[:-1], path.name)
    assert {p: p.stat().st_mtime_ns for p in binder.demo.rglob("*") if p.is_file() and p in binder.built} == \
        binder.built

"""Real JupyterLab on 127.0.0.1 driven by Debian's Chromium through Playwright, for the widgets' browser tests.

The server gets fresh config, runtime, settings and workspace folders (news and update checks off), its kernels
import this checkout's etdb_explore and inherit the test session's data dirs (the small demo ETDB) and its closed-port
gateway. Every uncaught exception and console error of the page is collected: a widget whose JavaScript throws
fails its test. Screenshots go to ``test-artifacts/widgets/`` in the checkout.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest

from ..conftest import ISOLATED

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "widgets"
IDLE_FOR = 1.5  # seconds the kernel must stay idle before cells run


def session_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment tests/conftest.py gives each test (its data and cache dirs, the small demo, a closed-port
    gateway), for a server started by a session-scoped fixture, before that per-test environment exists.

    Returns:
        The variables to add.
    """
    base = tmp_path_factory.getbasetemp()
    return {"XDG_CACHE_HOME": str(base / "cache"), "XDG_DATA_HOME": str(base / "data"), **ISOLATED}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server and a headless Chromium; ``with Lab(folder) as lab: lab.start_browser(); page =
    lab.run(cells)``; ``lab.reset()`` between tests that share it."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.env = env or {}
        self.errors: list[str] = []
        self.pages: list[Any] = []
        self.server: subprocess.Popen | None = None
        self._playwright: Any = None
        self._browser: Any = None

    def __enter__(self) -> Lab:
        if not CHROMIUM.exists():
            pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)")
        dirs = {name: self.folder / name for name in ("config", "runtime", "settings", "workspaces", "notebooks")}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        notify = dirs["settings"] / "@jupyterlab" / "apputils-extension"
        notify.mkdir(parents=True, exist_ok=True)
        (notify / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        tracker = dirs["settings"] / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True, exist_ok=True)  # every cell stays in the page, also those scrolled out of view
        (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        self.port, self.token = _free_port(), secrets.token_hex(16)
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
               "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]), "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **self.env}
        self.notebooks = dirs["notebooks"]
        self.log = open(self.folder / "jupyterlab.log", "wb")  # noqa: SIM115 - closed in __exit__
        self.server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.notebooks}"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_for_server()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def start_browser(self) -> None:
        """Start Playwright and Chromium (if not running)."""
        from playwright.sync_api import sync_playwright

        if self._browser is None:
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])

    def stop_browser(self) -> None:
        """Close Chromium and stop Playwright, whose sync API holds an event loop in this thread while it runs (the
        asyncio tests after a browser test need it gone); the server keeps running."""
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def reset(self) -> None:
        """Close every page opened since the last reset, shut down every kernel, and forget the errors seen: the
        next test starts on a server with no notebook open and no kernel running."""
        for page in self.pages:
            if not page.is_closed():
                page.close()
        self.pages.clear()
        for session in self._api("GET", "sessions"):
            self._api("DELETE", f"sessions/{session['id']}")
        self.errors.clear()

    def _api(self, method: str, path: str) -> Any:
        """A call of the server's REST API.

        Returns:
            The decoded JSON answer (None if it has no body).
        """
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def _wait_for_server(self, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.server.poll() is not None:
                raise AssertionError(f"JupyterLab exited: {self.logged()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"JupyterLab did not listen within {timeout} s: {self.logged()}")

    def logged(self) -> str:
        """The end of the server's log.

        Returns:
            Its last 3,000 characters.
        """
        self.log.flush()
        return (self.folder / "jupyterlab.log").read_text(errors="replace")[-3000:]

    def __exit__(self, *exc: object) -> None:
        self.stop_browser()
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        self.log.close()

    # ---- notebooks ----------------------------------------------------------------------------------------------

    def run(self, cells: list[str], name: str = "test.ipynb", viewport: tuple[int, int] = (1400, 1000)) -> Any:
        """Write a notebook of ``cells``, open it alone in a new page, wait for an idle kernel, and run all cells.

        Returns:
            The Playwright page (its errors are collected in :attr:`errors`).
        """
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(code) for code in cells]
        nbformat.write(nb, self.notebooks / name)
        return self.run_all(name, viewport)

    def run_all(self, name: str, viewport: tuple[int, int] = (1400, 1000)) -> Any:
        """Open notebook ``name`` of the server's folder in a new page, wait for an idle kernel, and choose Run → Run
        All Cells.

        Returns:
            The Playwright page (its errors are collected in :attr:`errors`).
        """
        page = self._browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.pages.append(page)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", lambda msg: self.errors.append(f"console.error: {msg.text}") if msg.type == "error"
                else None)
        # reset: the page shows this notebook alone, not also those the workspace kept open from earlier pages
        page.goto(f"http://127.0.0.1:{self.port}/lab/tree/{name}?reset&token={self.token}")
        self.wait_idle(page)
        page.click("text=Run", timeout=10_000)
        page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
        return page

    def wait_idle(self, page: Any, timeout: float = 120, settle: float = IDLE_FOR) -> None:
        """Wait until the status bar has said "| Idle" for ``settle`` seconds in a row."""
        idle = page.get_by_text("| Idle")
        end = time.monotonic() + timeout
        since = None
        while time.monotonic() < end:
            if idle.count() and idle.first.is_visible():
                since = since or time.monotonic()
                if time.monotonic() - since >= settle:
                    return
            else:
                since = None
            page.wait_for_timeout(100)
        raise AssertionError(f"the kernel was not idle within {timeout} s: {self.logged()}")

    def rerun_cell(self, page: Any, n: int) -> str:
        """Run cell ``n`` (0-based) again and wait for it to finish.

        Returns:
            The text of its output.
        """
        cell = page.locator(".jp-Notebook .jp-Cell").nth(n)
        cell.scroll_into_view_if_needed()
        prompt = cell.locator(".jp-InputPrompt").inner_text()
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        page.wait_for_function(
            "([n, before]) => { const p = document.querySelectorAll('.jp-Notebook .jp-Cell')[n]"
            ".querySelector('.jp-InputPrompt').textContent; return p !== before && !p.includes('*'); }",
            arg=[n, prompt], timeout=60_000)
        return cell.locator(".jp-OutputArea").inner_text()

    @staticmethod
    def screenshot(page: Any, name: str) -> Path:
        """Keep a screenshot of the page as a test artifact.

        Returns:
            Its path (``test-artifacts/widgets/<name>.png``).
        """
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

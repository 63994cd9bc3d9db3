"""Python scripts run as real processes (exits, signals, forks), their whole process group killed if they hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: scripts import its etdb_explore


def start_python(code: str, *args: object, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -c code args…`` in a new session (so its forked children can be killed with it), text pipes; ``env``
    is added to this process's environment."""
    return subprocess.Popen([sys.executable, "-W", "default", "-c", code, *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **env} if env else None)


def finish(process: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    """Wait for ``process``; on timeout kill its process group and fail naming what it printed.

    Returns:
        (exit code, standard output, standard error).
    """
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(f"still running after {timeout} s; stdout {out!r}, stderr {err!r}") from None
    return process.returncode, out, err


def read_line(process: subprocess.Popen, timeout: float) -> str:
    """The next line ``process`` prints; if none comes within ``timeout`` seconds kill its process group and fail
    naming what it printed.

    Returns:
        The line, with its newline ("" if the process ended first).
    """
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        os.killpg(process.pid, signal.SIGKILL)
        reader.join()
        out, err = process.communicate()
        raise AssertionError(f"no line within {timeout} s; stdout {line + [out]!r}, stderr {err!r}")
    return line[0]


def run_python(code: str, *args: object, timeout: float = 60, env: dict[str, str] | None = None
               ) -> tuple[int, str, str]:
    """``python -W default -c code args…`` to its end (ResourceWarnings shown, as in development), ``env`` added to
    the environment.

    Returns:
        (exit code, standard output, standard error).
    """
    return finish(start_python(code, *args, env=env), timeout)

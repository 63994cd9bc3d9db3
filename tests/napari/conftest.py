"""napari under a real X server: Xvfb (from Debian, installed by .ci/run) started for the session on a free display.

Qt's offscreen platform has no OpenGL, so napari's canvas cannot draw there; Xvfb with Mesa can. Every viewer a
test makes is closed at its end, and the X server is stopped after the Qt application has shut down.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

pytest.importorskip("napari", reason="the napari extra is not installed (pip install -e '.[napari]')")


@pytest.fixture(scope="session")
def xserver():
    """The DISPLAY of an Xvfb started for the session (QT_QPA_PLATFORM=xcb while it runs)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb; .ci/run does)")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b""
    with os.fdopen(read_fd, "rb") as pipe:
        while not number.endswith(b"\n"):
            chunk = pipe.read(1)
            if not chunk:
                xvfb.wait()
                pytest.fail(f"Xvfb exited with {xvfb.returncode} before naming its display")
            number += chunk
    display = f":{number.decode().strip()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISPLAY", display)
        mp.setenv("QT_QPA_PLATFORM", "xcb")
        yield display
        from qtpy.QtWidgets import QApplication

        app = QApplication.instance()
        if app is not None:
            app.processEvents()
            if hasattr(app, "shutdown"):  # PySide6: the application lets go of the display before it goes away
                app.shutdown()
    xvfb.terminate()
    xvfb.wait(timeout=10)


@pytest.fixture
def viewer(xserver):
    """A shown napari viewer (a hidden one draws nothing), closed at the end of the test."""
    import napari

    v = napari.Viewer(show=True)
    yield v
    v.close()

"""What every etdb-explore notebook widget shares: where its front-end files are, work run off the kernel's event
loop with the result applied back on it, and a static picture for pages without a live front end.

The front-end ES modules and CSS live in the repository's top-level ``widgets/`` folder; ``etdb_explore/widgets/
frontend`` points there in a checkout (a symbolic link) and is a real folder inside the wheel (package data), so
both find them at :data:`FRONTEND`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anywidget
import numpy as np

from etdb_explore.util import bridge

FRONTEND = Path(__file__).resolve().parent / "frontend"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class EtdbWidget(anywidget.AnyWidget):
    """The base of etdb-explore's widgets: background jobs (:meth:`_start`) and a static fallback.

    Its rich display carries, next to the live widget view, ``text/plain`` and whatever :meth:`fallback_png` and
    :meth:`fallback_html` give, so nbconvert, a terminal or a notebook rendered on a website shows a picture or a
    table instead of "Error displaying widget".
    """

    def __init__(self, **kwargs: Any) -> None:
        self._jobs: set[Any] = set()
        super().__init__(**kwargs)

    def fallback_png(self) -> bytes | None:
        """A PNG of what the widget shows, for pages without a live front end (None: no picture).

        Returns:
            The PNG bytes, or None.
        """
        return None

    def fallback_html(self) -> str | None:
        """Static HTML of what the widget shows, for pages without a live front end (None: none).

        Returns:
            An HTML fragment (every value escaped), or None.
        """
        return None

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        shown = super()._repr_mimebundle_(**kwargs)
        if shown is None:
            return None
        data, metadata = shown if isinstance(shown, tuple) else (shown, {})
        data = dict(data)
        png, page = self.fallback_png(), self.fallback_html()
        if png is not None:
            data["image/png"] = png
        if page is not None:
            data["text/html"] = page
        return data, dict(metadata)

    def _start(self, job: Coroutine[Any, Any, Any], done: Callable[[Any, BaseException | None], None]) -> Any:
        """Run ``job`` on the I/O loop, then ``done(result, error)`` on the kernel's loop (the caller's running loop);
        with no running loop, run it and call ``done`` at once.

        Returns:
            The job's ``concurrent.futures.Future`` (None when it already ran).
        """
        try:
            kernel_loop = asyncio.get_running_loop()
        except RuntimeError:
            kernel_loop = None
        if kernel_loop is None:
            try:
                result = bridge.run(job)
            except Exception as exc:  # noqa: BLE001 - handed to done, which shows it in the widget
                done(None, exc)
            else:
                done(result, None)
            return None
        future = bridge.submit(job)
        self._jobs.add(future)

        def finished(f: Any) -> None:
            self._jobs.discard(f)
            if f.cancelled():
                outcome: tuple[Any, BaseException | None] = (None, asyncio.CancelledError())
            else:
                outcome = (None, f.exception()) if f.exception() is not None else (f.result(), None)
            with contextlib.suppress(RuntimeError):  # the kernel's loop is closed: nobody is left to show it
                kernel_loop.call_soon_threadsafe(done, *outcome)

        future.add_done_callback(finished)
        return future

    def close(self) -> None:
        """Cancel running background work and close the widget."""
        for future in list(self._jobs):
            future.cancel()
        super().close()


def describe(exc: BaseException) -> str:
    """An error as a widget shows it: its type and message.

    Returns:
        ``"Type: message"`` (the type alone for an empty message).
    """
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 grey (2-D) or RGB (3-D) image as PNG.

    Returns:
        The PNG file's bytes.
    """
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(out, format="PNG")
    return out.getvalue()

"""Small HTML tables for notebook displays (``_repr_html_``): every value escaped, long lists cut short."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

STYLE = "border-collapse:collapse;text-align:left"
CELL = "padding:1px 8px;text-align:left;vertical-align:top"


def short(text: Any, keep: int = 12) -> str:
    """``text`` cut to its first ``keep`` characters and an ellipsis (txids and CIDs are long).

    Returns:
        The shortened string (unchanged when it is not longer than ``keep`` + 1).
    """
    text = str(text)
    return text if len(text) <= keep + 1 else text[:keep] + "…"


def short_path(path: str, keep: int = 10) -> str:
    """An IPFS path with its CID (the first segment) shortened: ``QmUfKsYWfp…/rawdata/x.mrc``.

    Returns:
        The shortened path.
    """
    head, sep, rest = str(path).partition("/")
    return short(head, keep) + sep + rest


def size(n: float) -> str:
    """A byte count for people: ``1.5 MB``.

    Returns:
        The count in B, kB, MB, GB or TB (powers of 1000).
    """
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def table(rows: Iterable[Sequence[Any]], header: Sequence[str] = (), title: str = "") -> str:
    """An HTML table of ``rows`` (each a sequence of cells) under an optional ``header`` and bold ``title``.

    Returns:
        The HTML text; every cell and the title escaped.
    """
    head = "".join(f"<th style='{CELL}'>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='{CELL}'>{escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    caption = f"<b>{escape(title)}</b>" if title else ""
    return f"<div>{caption}<table style='{STYLE}'>{'<tr>' + head + '</tr>' if head else ''}{body}</table></div>"


def listing(items: Sequence[Any], limit: int = 5) -> str:
    """The first ``limit`` items joined by commas, then how many more.

    Returns:
        Plain text (escape it, or pass it to :func:`table`).
    """
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", … {len(items) - limit} more" if len(items) > limit else "")

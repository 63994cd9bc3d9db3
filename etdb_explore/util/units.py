"""Quantities as people read them."""

from __future__ import annotations


def human_size(size: int) -> str:
    """Bytes as a binary-prefixed size: ``2.3 GiB``; under 1 KiB, ``512 B``.

    Returns:
        The text.
    """
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, i = float(size), 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{size} B" if i == 0 else f"{value:.1f} {units[i]}"

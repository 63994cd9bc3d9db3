"""CaltechDATA's ``technical-info`` HTML, read by label into index columns.

The tomography records keep tilt range, step, dosage, defocus, magnification and microscope only inside an HTML
description, with odd escaping (``&lt;strong&gt;Tilt Series Settings:&lt;/strong&gt;``). The text is unescaped (at
most three rounds), its tags become line breaks, and each value is found by its label, case-insensitively:
``Tilt range: -55° to 55°`` (also ``-55/55``, ``-55 - 55``), ``Tilt step`` / ``Step``, ``Dosage`` (in e/Å², written
"eV/Å²" by the importer), ``Defocus`` (µm), ``Magnification`` (``22500x``), ``Microscope``, ``Tilt scheme``
(single/dual). Only the first 64 KiB of a description are read.
"""

from __future__ import annotations

import html
import re
from typing import Any

MAX_HTML = 64 << 10
_TAG = re.compile(r"<[^<>]{0,500}>")
_NUM = r"([-+−]?\d{1,7}(?:\.\d{1,6})?)"
_LABELS: dict[str, re.Pattern[str]] = {
    "tilt_range": re.compile(r"tilt\s*range\s*:?\s*" + _NUM + r"\s*°?\s*(?:to|/|–|—|-|,)\s*" + _NUM, re.IGNORECASE),
    "tilt_step": re.compile(r"(?:tilt\s*)?(?:step|increment)\s*:?\s*" + _NUM, re.IGNORECASE),
    "dosage": re.compile(r"dos(?:age|e)\s*:?\s*" + _NUM, re.IGNORECASE),
    "defocus": re.compile(r"defocus\s*:?\s*" + _NUM, re.IGNORECASE),
    "magnification": re.compile(r"magnification\s*:?\s*" + _NUM, re.IGNORECASE),
    "microscope": re.compile(r"microscope\s*:?\s*([^\n]{1,80})", re.IGNORECASE),
    "tilt_scheme": re.compile(r"tilt\s*scheme\s*:?\s*(single|dual)", re.IGNORECASE),
}


def html_text(raw: str) -> str:
    """Plain text of an HTML description: entities unescaped (up to three rounds), tags as line breaks.

    Returns:
        The text, one item per line, blank lines removed.
    """
    text = raw[:MAX_HTML]
    for _ in range(3):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = _TAG.sub("\n", text).replace("\xa0", " ")
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _number(literal: str) -> float:
    return float(literal.replace("−", "-"))


def parse_technical_info(raw: str) -> dict[str, Any]:
    """The acquisition values of a ``technical-info`` description.

    Returns:
        A dict with the keys found among ``tilt_min``, ``tilt_max``, ``tilt_step``, ``dosage``, ``defocus``,
        ``magnification``, ``microscope``, ``tilt_scheme`` (numbers as floats; nothing for labels absent).
    """
    text = html_text(raw)
    out: dict[str, Any] = {}
    for key, pattern in _LABELS.items():
        match = pattern.search(text)
        if not match:
            continue
        if key == "tilt_range":
            lo, hi = sorted((_number(match[1]), _number(match[2])))
            out["tilt_min"], out["tilt_max"] = lo, hi
        elif key == "microscope":
            out[key] = match[1].strip() or None
        elif key == "tilt_scheme":
            out[key] = match[1].lower()
        else:
            out[key] = _number(match[1])
    return out

"""Tilt-series: a stack of 2-D projections, one per tilt angle, and where those angles come from."""

from __future__ import annotations

from typing import Any

import mrcfile.dtypes
import numpy as np

from etdb_explore.errors import EtdbError
from etdb_explore.volumes.byteranges import ByteRanges
from etdb_explore.volumes.header import MrcHeader
from etdb_explore.volumes.volume import Volume

ANGLE_FIELD = "Alpha tilt"  # FEI1/FEI2 extended-header field of the stage tilt (degrees)


def parse_tilt_file(text: str, name: str = "tilt file") -> np.ndarray:
    """Angles (degrees) from an IMOD ``.rawtlt``/``.tlt`` file: one number per line, blank lines ignored.

    Returns:
        A float64 array, one angle per non-blank line.

    Raises:
        EtdbError: naming ``name`` and the line, for a line that does not start with a number.
    """
    angles = []
    for lineno, line in enumerate(text.splitlines(), 1):
        token = line.strip()
        if not token:
            continue
        try:
            angles.append(float(token.split()[0]))
        except ValueError as exc:
            raise EtdbError(f"{name} line {lineno}: {token!r} is not a tilt angle") from exc
    return np.asarray(angles, dtype=np.float64)


def angles_from_extended_header(header: MrcHeader) -> np.ndarray | None:
    """Per-section tilt angles stored in an FEI extended header (its "Alpha tilt" field).

    Returns:
        A float64 array, one angle per section; None when the header has no such field, too few entries, or
        angles that are not finite or all equal.
    """
    byte_order = header.header.mode.dtype.byteorder
    dtype = mrcfile.dtypes.get_ext_header_dtype(bytes(header.header.exttyp), byte_order)
    raw = header.extended_header.tobytes()
    if dtype is None or ANGLE_FIELD not in (dtype.names or ()) or len(raw) < dtype.itemsize * header.shape[0]:
        return None
    sections = np.frombuffer(raw, dtype=dtype, count=header.shape[0])
    angles = sections[ANGLE_FIELD].astype(np.float64)
    return angles if np.isfinite(angles).all() and np.ptp(angles) > 0 else None


def angles_from_record(details: dict[str, Any], count: int) -> np.ndarray | None:
    """tiltMin..tiltMax by tiltStep from a record's details, when that gives exactly ``count`` angles.

    The record's fields are unsigned input: the number of angles they describe is computed, and compared with
    ``count``, before any array is made.

    Returns:
        A float64 array of ``count`` angles; None when the fields are missing, not numbers, inconsistent or
        describe another number of angles.
    """
    try:
        lo, hi, step = (float(details[key]) for key in ("tiltMin", "tiltMax", "tiltStep"))
    except (KeyError, TypeError, ValueError):
        return None
    if not (np.isfinite([lo, hi, step]).all() and step > 0 and hi >= lo):
        return None
    intervals = (hi - lo) / step
    if not (np.isfinite(intervals) and round(intervals) + 1 == count):
        return None
    angles = lo + step * np.arange(count)
    return angles if abs(angles[-1] - hi) <= step / 2 else None


class TiltSeries(Volume):
    """A tilt-series stack; ``angles[i]`` is the tilt (degrees) of section ``i``, ``angle_source`` says whence.

    Raises:
        EtdbError: ``angles`` is given and its length differs from the number of sections.
    """

    axes = ("angle", "y", "x")

    def __init__(self, source: ByteRanges, header: MrcHeader, metadata: dict[str, Any] | None = None, *,
                 angles: np.ndarray | None = None, angle_source: str = "", **options: Any) -> None:
        super().__init__(source, header, metadata, **options)
        if angles is not None and len(angles) != self.shape[0]:
            raise EtdbError(f"{source.name}: {len(angles)} tilt angles for {self.shape[0]} images ({angle_source})")
        self.angles = None if angles is None else np.asarray(angles, dtype=np.float64)
        self.angle_source = angle_source if angles is not None else "unknown"

    def _summary(self) -> list[tuple[str, str]]:
        rows = super()._summary()
        if self.angles is None:
            rows.insert(2, ("tilt angles", "unknown"))
        else:
            described = f"{self.angles.min():g}° … {self.angles.max():g}°, {len(self.angles)} images"
            rows.insert(2, ("tilt angles", f"{described} (from {self.angle_source})"))
        return rows

    def index_of(self, angle: float) -> int:
        """The section whose tilt is nearest ``angle`` (degrees), for an angle within the series' tilt range
        (widened by half its median step, so the first and last images answer for their neighbourhood).

        Returns:
            The section's index.

        Raises:
            EtdbError: the angles are unknown (``angles`` is None), or ``angle`` is not a finite number within the
                tilt range.
        """
        if self.angles is None:
            raise EtdbError(f"{self.source.name}: tilt angles unknown (no tilt file, extended header or record)")
        lo, hi = float(np.min(self.angles)), float(np.max(self.angles))
        steps = np.diff(np.sort(self.angles))
        slack = float(np.median(steps)) / 2 if len(steps) else 0.5
        if not (np.isfinite(angle) and lo - slack <= angle <= hi + slack):
            raise EtdbError(f"{self.source.name}: no image at {angle}°; the tilt-series covers {lo:g}° to {hi:g}°")
        return int(np.argmin(np.abs(self.angles - angle)))

    def at_angle(self, angle: float) -> np.ndarray:
        """The image taken nearest ``angle`` degrees (see :meth:`index_of`).

        Returns:
            That section as a 2-D array.

        Raises:
            EtdbError: the angles are unknown, or ``angle`` is outside the tilt range.
            MrcError, VerificationError, BlockNotFoundError, SourceError: as :meth:`Volume.aget` for the read.
        """
        return self[self.index_of(angle)]

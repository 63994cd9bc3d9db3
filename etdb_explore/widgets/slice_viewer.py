"""``SliceViewer(volume)`` and ``TiltSeriesViewer(ts)``: a lazily read tomogram or tilt-series, one section at a time,
in a notebook.

The front end (``widgets/slice_viewer.js``, shared by both) owns the slider, play button, arrow keys, zoom and pan,
and sends the wanted state as traits: ``z``, ``contrast`` ("auto": between the ``percentiles`` of the section;
"manual": the ``window``), ``binning`` (0: automatic, at most ``max_size`` pixels a side) and ``colormap``. Python
answers with ``frame``: the section after binning and contrast as uint8, one byte a pixel, sent as a binary widget
buffer, and ``frame_info`` (which section, its size, the window used, or the error that section hit).

Reads run on etdb-explore's I/O loop (:mod:`etdb_explore.util.bridge`), never on the kernel's, so the kernel keeps
answering while a remote tomogram streams in. One read is in flight at a time: when the slider moves faster than
sections arrive, a result that is no longer wanted is dropped and the newest position is read next. After each shown
section its neighbours are read ahead in the background. A section that cannot be read (a gateway gone, a corrupt
block) shows its error in the widget; other sections keep working.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets

from etdb_explore.errors import EtdbError
from etdb_explore.util import bridge
from etdb_explore.widgets.base import FRONTEND, EtdbWidget, describe, png_bytes
from etdb_explore.widgets.frames import auto_binning, bin_factors, binned, contrast_limits, to_frame

if TYPE_CHECKING:
    from etdb_explore.volumes.volume import Volume

CONTRASTS = ("auto", "manual")
COLORMAPS = ("gray", "inverted")
PREFETCH = 1  # sections read ahead on each side of the one shown


class ViewerError(EtdbError, ValueError):
    """A viewer setting is out of range (naming the setting and the value)."""


class SliceViewer(EtdbWidget):
    """A notebook viewer of a :class:`~etdb_explore.Volume`'s z-sections.

    Args:
        volume: the volume (read lazily, section by section).
        z: the first section shown (default the middle one).
        options: initial values of the traits below (``contrast``, ``percentiles``, ``window``, ``binning``,
            ``max_size``, ``colormap``).

    Traits set by the page or from Python: ``z``; ``contrast`` ("auto" or "manual"); ``percentiles`` ([low, high]
    for auto contrast); ``window`` ([vmin, vmax] for manual contrast); ``binning`` (0: automatic); ``max_size``;
    ``colormap`` ("gray" or "inverted"). Set by the viewer: ``frame`` (uint8 bytes), ``frame_info`` and ``info``.
    Without a live front end it shows a PNG of the current section.

    Raises:
        ViewerError: an option is out of range.
    """

    _esm = FRONTEND / "slice_viewer.js"
    _css = FRONTEND / "slice_viewer.css"

    z = traitlets.Int(0).tag(sync=True)
    contrast = traitlets.Unicode("auto").tag(sync=True)
    percentiles = traitlets.List(traitlets.Float(), [1.0, 99.0], minlen=2, maxlen=2).tag(sync=True)
    window = traitlets.List(traitlets.Float(), [0.0, 1.0], minlen=2, maxlen=2).tag(sync=True)
    binning = traitlets.Int(0).tag(sync=True)
    max_size = traitlets.Int(1024).tag(sync=True)
    colormap = traitlets.Unicode("gray").tag(sync=True)

    info = traitlets.Dict().tag(sync=True)  # the volume: name, shape, dtype, voxel size, kind (and tilt angles)
    frame = traitlets.Bytes(b"").tag(sync=True)  # the shown section as uint8 (a binary buffer), row-major
    frame_info = traitlets.Dict().tag(sync=True)  # {"z", "width", "height", "bin", "lo", "hi", "ms"} or {"z", "error"}
    loading = traitlets.Int(-1).tag(sync=True)  # the section being read (-1: none)

    def __init__(self, volume: Volume, *, z: int | None = None, **options: Any) -> None:
        self._volume = volume
        self._busy = False
        self._shown: np.ndarray | None = None  # the raw section shown (for values under the cursor)
        self.dropped = 0  # results dropped because the slider had moved on
        nz = volume.shape[0]
        super().__init__(z=nz // 2 if z is None else z, info=self._describe_volume(), **options)
        self.on_msg(self._on_message)
        self._pump()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._volume!r} at z={self.z}>"

    @property
    def volume(self) -> Volume:
        """The volume shown."""
        return self._volume

    def _describe_volume(self) -> dict[str, Any]:
        vol = self._volume
        return {"name": vol.source.name, "shape": list(vol.shape), "dtype": str(vol.dtype),
                "voxel_size": [float(v) for v in vol.voxel_size], "kind": "volume"}

    # ---- settings -------------------------------------------------------------------------------------------------

    @traitlets.validate("z")
    def _valid_z(self, proposal: dict[str, Any]) -> int:
        return min(max(int(proposal["value"]), 0), self._volume.shape[0] - 1)

    @traitlets.validate("contrast")
    def _valid_contrast(self, proposal: dict[str, Any]) -> str:
        return _one_of("contrast", proposal["value"], CONTRASTS)

    @traitlets.validate("colormap")
    def _valid_colormap(self, proposal: dict[str, Any]) -> str:
        return _one_of("colormap", proposal["value"], COLORMAPS)

    @traitlets.validate("percentiles")
    def _valid_percentiles(self, proposal: dict[str, Any]) -> list[float]:
        low, high = proposal["value"]
        if not 0 <= low < high <= 100:
            raise ViewerError(f"percentiles must satisfy 0 <= low < high <= 100, not {proposal['value']}")
        return [float(low), float(high)]

    @traitlets.validate("window")
    def _valid_window(self, proposal: dict[str, Any]) -> list[float]:
        if not np.isfinite(proposal["value"]).all():
            raise ViewerError(f"window must be two finite numbers, not {proposal['value']}")
        return sorted(float(v) for v in proposal["value"])

    @traitlets.validate("binning", "max_size")
    def _valid_positive(self, proposal: dict[str, Any]) -> int:
        name, value = proposal["trait"].name, int(proposal["value"])
        if value < (0 if name == "binning" else 1):
            raise ViewerError(f"{name} must be {'>= 0' if name == 'binning' else '>= 1'}, not {value}")
        return value

    # ---- reading --------------------------------------------------------------------------------------------------

    def _wanted(self) -> tuple[Any, ...]:
        return (self.z, self.contrast, tuple(self.percentiles), tuple(self.window), self.binning, self.max_size)

    @traitlets.observe("z", "contrast", "percentiles", "window", "binning", "max_size")
    def _settings_changed(self, change: dict[str, Any]) -> None:
        if change["name"] == "window" and self.contrast != "manual":
            return
        self._pump()

    def _pump(self) -> None:
        """Read the wanted section unless a read is in flight (its result is then checked against what is wanted
        when it arrives, and this is called again)."""
        if self._busy:
            return
        wanted = self._wanted()
        self._busy, self.loading = True, wanted[0]
        started = time.perf_counter()

        def done(result: tuple[np.ndarray, np.ndarray, float, float, tuple[int, int]] | None,
                 exc: BaseException | None) -> None:
            self._busy = False
            if isinstance(exc, asyncio.CancelledError):
                return
            if wanted != self._wanted():  # the slider moved on while this was read: the newest position wins
                self.dropped += 1
                self._pump()
                return
            z = wanted[0]
            with self.hold_sync():
                self.loading = -1
                if exc is not None:
                    self._shown = None
                    self.frame, self.frame_info = b"", {"z": z, "error": describe(exc)}
                    return
                section, frame, lo, hi, bins = result
                self._shown = section
                self.frame = frame.tobytes()
                self.frame_info = {"z": z, "width": frame.shape[1], "height": frame.shape[0], "bin": list(bins),
                                   "lo": lo, "hi": hi, "ms": round((time.perf_counter() - started) * 1000, 1)}
            self._prefetch(z)

        self._start(self._aframe(wanted), done)

    async def _aframe(self, wanted: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, float, float, tuple[int, int]]:
        """On the I/O loop: read section ``z`` and make its frame (in a worker thread: the loop keeps serving)."""
        z, contrast, percentiles, window, binning, max_size = wanted
        section = await self._volume.aget(z)
        return await asyncio.to_thread(_render, section, contrast, percentiles, window, binning, max_size)

    def _prefetch(self, z: int) -> None:
        """Read the neighbours of ``z`` into the volume's cache in the background (errors show once asked for)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # a plain script waits for every read: nothing to hide latency from
        nz = self._volume.shape[0]
        for near in range(max(0, z - PREFETCH), min(nz, z + PREFETCH + 1)):
            if near != z:
                self._start(self._volume.aget(near), lambda result, exc: None)

    # ---- the page's questions -------------------------------------------------------------------------------------

    def _on_message(self, widget: Any, content: Any, buffers: list[Any]) -> None:
        if isinstance(content, dict) and content.get("action") == "probe":
            self.send({"probe": self.value_at(content.get("x"), content.get("y"))})

    def value_at(self, x: Any, y: Any) -> dict[str, Any]:
        """The value of the shown section at pixel (``x``, ``y``) of the section (not of the binned frame).

        Returns:
            ``{"z", "x", "y", "value"}``; ``value`` is None outside the section or while no section is shown, and a
            string for NaN and infinities.
        """
        z = self.frame_info.get("z", self.z)
        if self._shown is None or not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            return {"z": z, "x": x, "y": y, "value": None}
        xi, yi = int(x), int(y)
        ny, nx = self._shown.shape
        if not (0 <= xi < nx and 0 <= yi < ny):
            return {"z": z, "x": xi, "y": yi, "value": None}
        value = self._shown[yi, xi].item()
        return {"z": z, "x": xi, "y": yi, "value": value if np.isfinite(value) else str(value)}

    # ---- static display -------------------------------------------------------------------------------------------

    def current_frame(self) -> np.ndarray:
        """The current section as the page shows it (uint8 after binning and contrast, before the colormap); read
        now when none has arrived yet.

        Returns:
            A 2-D uint8 array.

        Raises:
            EtdbError: the section cannot be read (as :meth:`Volume.aget`).
        """
        info = self.frame_info
        if self.frame and info.get("z") == self.z and "error" not in info:
            return np.frombuffer(self.frame, dtype=np.uint8).reshape(info["height"], info["width"])
        return bridge.run(self._aframe(self._wanted()))[1]

    def fallback_png(self) -> bytes | None:
        """A PNG of the current section after contrast and colormap (None when it cannot be read).

        Returns:
            The PNG bytes, or None.
        """
        try:
            frame = self.current_frame()
        except (EtdbError, OSError):
            return None
        return png_bytes(255 - frame if self.colormap == "inverted" else frame)


class TiltSeriesViewer(SliceViewer):
    """A :class:`SliceViewer` of a :class:`~etdb_explore.TiltSeries`: the slider is labelled with each image's tilt
    angle (degrees) and where the angles came from (``ts.angle_source``).

    Args:
        volume: the tilt-series.
        z: the first image shown (default the one nearest 0°, else the middle one).
        options: as :class:`SliceViewer`.
    """

    def __init__(self, volume: Volume, *, z: int | None = None, **options: Any) -> None:
        angles = getattr(volume, "angles", None)
        if z is None and angles is not None:
            z = int(np.argmin(np.abs(angles)))
        super().__init__(volume, z=z, **options)

    def _describe_volume(self) -> dict[str, Any]:
        angles = getattr(self._volume, "angles", None)
        return {**super()._describe_volume(), "kind": "tiltseries",
                "angles": None if angles is None else [round(float(a), 3) for a in angles],
                "angle_source": getattr(self._volume, "angle_source", "unknown")}

    def __repr__(self) -> str:
        angles = getattr(self._volume, "angles", None)
        at = f"{angles[self.z]:+.1f}°" if angles is not None else "unknown angle"
        return f"<{type(self).__name__} of {self._volume!r} at image {self.z} ({at})>"


def viewer_for(volume: Volume, **options: Any) -> SliceViewer:
    """The viewer of ``volume``: a :class:`TiltSeriesViewer` for a tilt-series, else a :class:`SliceViewer`.

    Returns:
        The widget.
    """
    from etdb_explore.volumes.tiltseries import TiltSeries

    kind = TiltSeriesViewer if isinstance(volume, TiltSeries) else SliceViewer
    return kind(volume, **options)


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ViewerError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _render(section: np.ndarray, contrast: str, percentiles: tuple[float, float], window: tuple[float, float],
            binning: int, max_size: int) -> tuple[np.ndarray, np.ndarray, float, float, tuple[int, int]]:
    """A section's frame: binned, then the window (the percentiles of the binned section, or the manual one)."""
    factor = binning or auto_binning(section.shape, max_size)
    small = binned(section, factor)
    lo, hi = contrast_limits(small, *percentiles) if contrast == "auto" else window
    return section, to_frame(small, lo, hi), lo, hi, bin_factors(section.shape, factor)

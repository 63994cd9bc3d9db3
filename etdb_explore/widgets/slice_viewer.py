"""``SliceViewer(volume)`` and ``TiltSeriesViewer(ts)``: a lazily read tomogram or tilt-series, one section at a time,
in a notebook.

The front end (``widgets/slice_viewer.js``, shared by both) owns the slider, play button, arrow keys, zoom and pan,
and sends the wanted state as traits: ``z``, ``contrast`` ("auto": between the ``percentiles`` of the section;
"manual": the ``window``), ``binning`` (0: automatic, at most ``max_size`` pixels a side) and ``colormap`` (any
matplotlib colormap; Python sends its 256 colours once as ``lut`` and the page applies them to every frame). Python
answers with frames: the section after binning and contrast as uint8, one byte a pixel, sent as a binary buffer of a
widget message and tagged with a key (the settings' ``generation`` and the section); ``frame_info`` says which
frame is the wanted one (its size and window), or the error that section hit.

The page keeps the frames it received, first in first out up to ``FRONT_CACHE_BYTES``, and paints a frame it holds
as soon as the slider reaches it, without asking the kernel. Python keeps the same account of what it sent (both
sides evict in the same order), so it never sends a frame twice while the page still has it; a page shown anew
says hello and gets frames afresh.

Reads run on etdb-explore's I/O loop (:mod:`etdb_explore.util.bridge`), never on the kernel's, so the kernel keeps
answering while a remote tomogram streams in. One read for the wanted section is in flight at a time: when the
slider moves faster than sections arrive, a result that is no longer wanted is kept but not shown, and the newest
position is read next. After each shown section its ``PREFETCH`` neighbours on each side are read and rendered one
by one in the background and pushed to the page, so stepping through them paints at once. A section that cannot be
read (a gateway gone, a corrupt block) shows its error in the widget; other sections keep working.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets

from etdb_explore.errors import EtdbError
from etdb_explore.util import bridge
from etdb_explore.widgets.base import FRONTEND, EtdbWidget, describe, png_bytes
from etdb_explore.volumes.preview import finite_percentiles
from etdb_explore.widgets.frames import auto_binning, bin_factors, binned, to_frame
from etdb_explore.widgets.planes import NORMAL, PLANES, Progress, read_planes

if TYPE_CHECKING:
    from etdb_explore.volumes.volume import Volume

CONTRASTS = ("auto", "manual")
COLORMAPS = ("gray", "inverted", "viridis", "magma", "inferno", "cividis", "RdBu_r")  # offered by the page's menu
UNVERIFIED = ("mirror-unverified", "rewritten")  # content kinds the viewer marks (not the ETDB's verified bytes)
PREFETCH = 2  # sections read ahead on each side of the one shown
FRONT_CACHE_BYTES = 96 * 1024 * 1024  # frames the page keeps (first in, first out); Python mirrors the account
KEPT_BYTES = 160 * 1024 * 1024  # raw sections and frames the kernel keeps (least recently used out)
RENDER_SETTINGS = ("contrast", "percentiles", "window", "binning", "max_size")  # a change makes every frame anew


class ViewerError(EtdbError, ValueError):
    """A viewer setting is out of range (naming the setting and the value)."""


def _lut(name: str) -> bytes:
    """The 256 RGB colours (768 bytes) the page maps frame levels 0..255 through, for colormap ``name``.

    Raises:
        ViewerError: ``name`` is neither "gray", "inverted" nor a matplotlib colormap.
    """
    levels = np.arange(256, dtype=np.uint8)
    if name in ("gray", "inverted"):
        grey = levels if name == "gray" else 255 - levels
        return np.repeat(grey, 3).tobytes()
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except (KeyError, TypeError, ValueError):
        raise ViewerError(f"colormap {name!r} is neither gray, inverted nor a matplotlib colormap "
                          f"(e.g. {', '.join(COLORMAPS[2:])})") from None
    return np.round(cmap(levels)[:, :3] * 255).astype(np.uint8).tobytes()


def read_from(volume: Volume) -> dict[str, Any] | None:
    """Where ``volume``'s bytes came from, for the readout: ``home``, ``content`` (ipfs-verified, mirror-verified,
    mirror-unverified or rewritten; the file's own word when it knows better, as a mirror file once checked) and
    ``where``, from ``volume.metadata["read_from"]``; ``unverified`` says whether the viewer marks it.

    Returns:
        The fields as JSON-ready strings and a bool, or None when the volume does not say (opened from a path).
    """
    said = volume.metadata.get("read_from")
    if not isinstance(said, dict):
        return None
    content = getattr(volume.source, "content", None) or said.get("content")
    fields = {k: str(v) for k, v in (("home", said.get("home")), ("content", content), ("where", said.get("where")))
              if v is not None}
    return {**fields, "unverified": fields.get("content") in UNVERIFIED}


@dataclass(frozen=True)
class Rendered:
    """One section as read (``raw``, for the values under the cursor) and as sent (``frame``, uint8), with the
    ``info`` the page gets along with it."""

    raw: np.ndarray
    frame: np.ndarray
    info: dict[str, Any]

    @property
    def nbytes(self) -> int:
        """Bytes held by the raw section and the frame."""
        return self.raw.nbytes + self.frame.nbytes


class SliceViewer(EtdbWidget):
    """A notebook viewer of a :class:`~etdb_explore.Volume`'s z-sections, or its xz or yz planes.

    Args:
        volume: the volume (read lazily, section by section).
        z: the first section shown (default the middle one).
        plane: "xy" (z-sections, the slider moves z), "xz" (the slider moves y) or "yz" (the slider moves x); a
            menu of the page switches it. xz and yz planes are read as :mod:`etdb_explore.widgets.planes` says
            (bounded memory; a yz plane reads the whole file in chunks and shows its progress) and painted with the
            voxel size's proportions.
        cmap: the colormap, matplotlib's spelling of ``colormap`` (any name ``matplotlib.colormaps`` knows, plus
            "gray" and "inverted").
        options: initial values of the traits below (``contrast``, ``percentiles``, ``window``, ``binning``,
            ``max_size``, ``colormap``).

    Traits set by the page or from Python: ``plane``; ``z``, ``y`` and ``x`` (the position of each plane, default
    the middle); ``contrast`` ("auto" or "manual"); ``percentiles`` ([low, high]
    for auto contrast); ``window`` ([vmin, vmax] for manual contrast); ``binning`` (0: automatic); ``max_size``;
    ``colormap`` (a matplotlib colormap name, "gray" or "inverted"). Set by the viewer: ``lut`` (the colormap's 256
    RGB colours, 768 bytes), ``frame_info`` (the wanted frame), ``generation`` (bumped when a rendering setting
    changes), ``loading``, ``progress`` and ``info`` (the volume, and ``read_from``: where its bytes came from, as
    ``Volume.metadata["read_from"]`` says; the readout names it and marks mirror-unverified and rewritten bytes);
    :attr:`frame` is the wanted frame's bytes. Without a live front end it shows a PNG of the current section.

    Raises:
        ViewerError: an option is out of range, or ``cmap``/``colormap`` names no colormap.
    """

    _esm = FRONTEND / "slice_viewer.js"
    _css = FRONTEND / "slice_viewer.css"

    plane = traitlets.Unicode("xy").tag(sync=True)
    z = traitlets.Int(0).tag(sync=True)
    y = traitlets.Int(0).tag(sync=True)
    x = traitlets.Int(0).tag(sync=True)
    contrast = traitlets.Unicode("auto").tag(sync=True)
    percentiles = traitlets.List(traitlets.Float(), [1.0, 99.0], minlen=2, maxlen=2).tag(sync=True)
    window = traitlets.List(traitlets.Float(), [0.0, 1.0], minlen=2, maxlen=2).tag(sync=True)
    binning = traitlets.Int(0).tag(sync=True)
    max_size = traitlets.Int(1024).tag(sync=True)
    colormap = traitlets.Unicode("gray").tag(sync=True)
    lut = traitlets.Bytes(_lut("gray")).tag(sync=True)  # 256 RGB colours of the colormap, applied by the page

    info = traitlets.Dict().tag(sync=True)  # the volume: name, shape, dtype, voxel size, kind (and tilt angles)
    generation = traitlets.Int(0).tag(sync=True)  # part of every frame key: bumped when a rendering setting changes
    frame_info = traitlets.Dict().tag(sync=True)  # {"key", "plane", "position", "z" (xy), "width", "height", "bin",
    # "lo", "hi", "ms"} or {"key", "plane", "position", "error"}
    loading = traitlets.Int(-1).tag(sync=True)  # the position being read (-1: none)
    progress = traitlets.List(traitlets.Int(), [0, 0]).tag(sync=True)  # [sections read, of] for an xz/yz plane

    def __init__(self, volume: Volume, *, z: int | None = None, plane: str = "xy", cmap: str | None = None,
                 **options: Any) -> None:
        if cmap is not None:
            options["colormap"] = cmap
        self._volume = volume
        self._busy = False  # a read of the wanted section is in flight
        self._prefetching = False
        self._kept: OrderedDict[str, Rendered] = OrderedDict()  # key → rendered section, least recently used first
        self._sent: OrderedDict[str, int] = OrderedDict()  # key → frame bytes, as the page's cache holds them
        self.dropped = 0  # results not shown because the slider had moved on
        self._ready = False  # the initial settings are being set: nothing is read yet
        nz, ny, nx = volume.shape
        options = {"y": ny // 2, "x": nx // 2, **options}
        super().__init__(plane=plane, z=nz // 2 if z is None else z, info=self._describe_volume(), **options)
        self._ready = True
        self.on_msg(self._on_message)
        self._pump()

    def __repr__(self) -> str:
        axis = "zyx"[NORMAL[self.plane]]
        return f"<{type(self).__name__} of {self._volume!r}: {self.plane} plane at {axis}={self._position()}>"

    @property
    def volume(self) -> Volume:
        """The volume shown."""
        return self._volume

    @property
    def frame(self) -> bytes:
        """The wanted frame as the page paints it (uint8, row-major; ``frame_info`` gives its size); empty while it
        is read or when its read failed."""
        kept = self._kept.get(self.frame_info.get("key", ""))
        return b"" if kept is None else kept.frame.tobytes()

    def _describe_volume(self) -> dict[str, Any]:
        vol = self._volume
        return {"name": vol.source.name, "shape": list(vol.shape), "dtype": str(vol.dtype),
                "voxel_size": [float(v) for v in vol.voxel_size], "kind": "volume",
                "front_cache_bytes": FRONT_CACHE_BYTES, "read_from": read_from(vol), "colormaps": list(COLORMAPS)}

    # ---- settings -------------------------------------------------------------------------------------------------

    @traitlets.validate("z", "y", "x")
    def _valid_position(self, proposal: dict[str, Any]) -> int:
        n = self._volume.shape["zyx".index(proposal["trait"].name)]
        return min(max(int(proposal["value"]), 0), n - 1)

    @traitlets.validate("plane")
    def _valid_plane(self, proposal: dict[str, Any]) -> str:
        return _one_of("plane", proposal["value"], PLANES)

    @traitlets.validate("contrast")
    def _valid_contrast(self, proposal: dict[str, Any]) -> str:
        return _one_of("contrast", proposal["value"], CONTRASTS)

    @traitlets.validate("colormap")
    def _valid_colormap(self, proposal: dict[str, Any]) -> str:
        _lut(proposal["value"])  # raises for an unknown name
        return proposal["value"]

    @traitlets.observe("colormap")
    def _colormap_changed(self, change: dict[str, Any]) -> None:
        self.lut = _lut(change["new"])

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

    def _position(self) -> int:
        """The wanted position along the shown plane's normal axis (z for xy, y for xz, x for yz)."""
        return getattr(self, "zyx"[NORMAL[self.plane]])

    def _key(self, position: int | None = None) -> str:
        """The key of the shown plane at ``position`` (default the wanted one) under the current settings, as the
        page spells it."""
        return f"{self.generation}:{self.plane}:{self._position() if position is None else position}"

    def _settings(self) -> tuple[Any, ...]:
        return (self.contrast, tuple(self.percentiles), tuple(self.window), self.binning, self.max_size)

    @traitlets.observe(*RENDER_SETTINGS)
    def _settings_changed(self, change: dict[str, Any]) -> None:
        if change["name"] == "window" and self.contrast != "manual":
            return
        self._kept.clear()  # frames of the old settings are not shown again (the raw sections stay in the volume)
        self.generation += 1

    @traitlets.observe("plane", "z", "y", "x", "generation")
    def _wanted_changed(self, change: dict[str, Any]) -> None:
        if self._ready:
            self._pump()

    def _pump(self) -> None:
        """Show the wanted plane if it is rendered, else read it unless a read is in flight (its result is then
        kept, and this is called again)."""
        key = self._key()
        if key in self._kept:
            self._show(key)
            return
        if self._busy:
            return
        plane, position = self.plane, self._position()
        self._busy, self.loading, self.progress = True, position, [0, 0]
        started = time.perf_counter()

        def done(result: dict[str, Rendered] | None, exc: BaseException | None) -> None:
            self._busy = False
            if isinstance(exc, asyncio.CancelledError):
                return
            for near, rendered in (result or {}).items():
                rendered.info["ms"] = round((time.perf_counter() - started) * 1000, 1)
                self._keep(near, rendered)
            if key != self._key():  # the slider moved on while this was read: the newest position wins
                self.dropped += 1
                self._pump()
                return
            if exc is not None:
                with self.hold_sync():
                    self.loading = -1
                    self.frame_info = {"key": key, **_where(plane, position), "error": describe(exc)}
                return
            for near in result:
                if near != key and near in self._kept:
                    self._send_frame(near, self._kept[near])  # read along with it: the page may step there next
            self._show(key)

        self._start(self._arender(plane, position, self._settings(), self._progress(key)), done)

    def _progress(self, key: str) -> Progress | None:
        """A callback for the reader (on the I/O loop) that shows how far the read of ``key`` got, on the kernel's
        loop while ``key`` is still wanted (None without a running loop: nobody would see it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None

        def shown(done: int, total: int) -> None:
            if key == self._key() and self._busy:
                self.progress = [done, total]

        return lambda done, total: loop.call_soon_threadsafe(shown, done, total)

    async def _arender(self, plane: str, position: int, settings: tuple[Any, ...],
                       progress: Progress | None = None, span: int = PREFETCH) -> dict[str, Rendered]:
        """Read the plane at ``position`` and make its frame under ``settings``; an xz or yz plane brings its
        ``span`` neighbours on each side along (the same reads hold them). The reads run on the I/O loop, the
        frames in a worker thread: neither loop waits for them.

        Returns:
            ``{key: Rendered}`` for the planes read.
        """
        generation = self.generation
        n = self._volume.shape[NORMAL[plane]]
        first, stop = (position, position + 1) if plane == "xy" else \
            (max(0, position - span), min(n, position + span + 1))
        raws = await read_planes(self._volume, plane, first, stop, progress)
        out = {}
        for near, raw in raws.items():
            key = f"{generation}:{plane}:{near}"
            out[key] = await asyncio.to_thread(_render, raw, key, plane, near, *settings)
        return out

    def _keep(self, key: str, rendered: Rendered) -> None:
        if not key.startswith(f"{self.generation}:"):
            return  # made under settings changed since
        self._kept[key] = rendered
        self._kept.move_to_end(key)
        total = sum(r.nbytes for r in self._kept.values())
        while total > KEPT_BYTES and len(self._kept) > 1:
            total -= self._kept.popitem(last=False)[1].nbytes

    def _show(self, key: str) -> None:
        """Make the kept plane ``key`` the wanted frame: send it unless the page holds it, then read ahead."""
        rendered = self._kept[key]
        self._kept.move_to_end(key)
        self._send_frame(key, rendered)
        with self.hold_sync():
            self.loading = -1
            self.frame_info = dict(rendered.info)
        self._prefetch()

    def _send_frame(self, key: str, rendered: Rendered) -> None:
        """Send a frame to the page unless its cache still holds it (the account mirrors the page's eviction)."""
        if key in self._sent:
            return
        self.send({"frame": rendered.info}, [rendered.frame.tobytes()])
        self._sent[key] = rendered.frame.nbytes
        total = sum(self._sent.values())
        while total > FRONT_CACHE_BYTES and self._sent:
            total -= self._sent.popitem(last=False)[1]

    def _prefetch(self) -> None:
        """Read, render and send the wanted section's neighbours one at a time in the background, nearest first,
        while no read of the wanted plane is waiting (errors show once a section is asked for). Only for xy: an xz
        or yz plane's neighbours come with its own read."""
        if self._prefetching or self._busy or self.plane != "xy":
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # a plain script waits for every read: nothing to hide latency from
        nz = self._volume.shape[0]
        near = [self.z + d * s for d in range(1, PREFETCH + 1) for s in (1, -1)]
        for z in (z for z in near if 0 <= z < nz):
            key = self._key(z)
            if key not in self._kept:
                break
            self._send_frame(key, self._kept[key])  # read before; the page may not hold it
        else:
            return
        self._prefetching = True

        def done(result: dict[str, Rendered] | None, exc: BaseException | None) -> None:
            self._prefetching = False
            for key, rendered in (result or {}).items():
                self._keep(key, rendered)
                if key in self._kept:
                    self._send_frame(key, rendered)
            if result:
                self._prefetch()

        self._start(self._arender("xy", z, self._settings()), done)

    # ---- the page's questions -------------------------------------------------------------------------------------

    def _on_message(self, widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        if content.get("action") == "probe":
            self.send({"probe": self.value_at(content.get("x"), content.get("y"), content.get("key"))})
        elif content.get("action") == "hello":  # a new view: its cache is empty
            self._sent.clear()
            if self.frame_info.get("key") in self._kept:
                self._show(self.frame_info["key"])

    def value_at(self, x: Any, y: Any, key: str | None = None) -> dict[str, Any]:
        """The value of the shown plane at pixel (``x``, ``y``) of the plane (column, row; not of the binned frame):
        for xy that is voxel (z, y, x), for xz (row → z, column → x), for yz (row → z, column → y).

        Args:
            key: the frame the page shows (default the wanted one).

        Returns:
            ``{"plane", "position", "x", "y", "value"}`` (and ``"z"`` for xy); ``value`` is None outside the plane
            or while the plane is not at hand, and a string for NaN and infinities.
        """
        kept = self._kept.get(key if isinstance(key, str) else self.frame_info.get("key", ""))
        where = _where(self.plane, self._position()) if kept is None else \
            _where(kept.info["plane"], kept.info["position"])
        if kept is None or not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            return {**where, "x": x, "y": y, "value": None}
        xi, yi = int(x), int(y)
        ny, nx = kept.raw.shape
        if not (0 <= xi < nx and 0 <= yi < ny):
            return {**where, "x": xi, "y": yi, "value": None}
        value = kept.raw[yi, xi].item()
        return {**where, "x": xi, "y": yi, "value": value if np.isfinite(value) else str(value)}

    # ---- static display -------------------------------------------------------------------------------------------

    def current_frame(self) -> np.ndarray:
        """The current plane as the page shows it (uint8 after binning and contrast, before the colormap); read
        now when none has arrived yet.

        Returns:
            A 2-D uint8 array.

        Raises:
            EtdbError: the section cannot be read (as :meth:`Volume.aget`).
        """
        kept = self._kept.get(self._key())
        if kept is not None:
            return kept.frame
        rendered = bridge.run(self._arender(self.plane, self._position(), self._settings(), span=0))
        return rendered[self._key()].frame

    def fallback_png(self) -> bytes | None:
        """A PNG of the current section after contrast and colormap, grey for gray and inverted, else RGB (None
        when it cannot be read).

        Returns:
            The PNG bytes, or None.
        """
        try:
            frame = self.current_frame()
        except (EtdbError, OSError):
            return None
        table = np.frombuffer(self.lut, dtype=np.uint8).reshape(256, 3)
        grey = (table == table[:, :1]).all()
        return png_bytes(table[:, 0][frame] if grey else table[frame])


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


def _where(plane: str, position: int) -> dict[str, Any]:
    """Which plane a frame or a value belongs to: ``plane``, ``position`` and, for xy, ``z``."""
    return {"plane": plane, "position": position, **({"z": position} if plane == "xy" else {})}


def _render(section: np.ndarray, key: str, plane: str, position: int, contrast: str, percentiles: tuple[float, float],
            window: tuple[float, float], binning: int, max_size: int) -> Rendered:
    """A section's frame: binned, then the window (the percentiles of the binned section, or the manual one)."""
    factor = binning or auto_binning(section.shape, max_size)
    small = binned(section, factor)
    lo, hi = finite_percentiles(small, *percentiles) if contrast == "auto" else window
    frame = to_frame(small, lo, hi)
    info = {"key": key, **_where(plane, position), "width": frame.shape[1], "height": frame.shape[0],
            "bin": list(bin_factors(section.shape, factor)), "lo": float(lo), "hi": float(hi)}
    return Rendered(section, frame, info)

"""Tomograms and tilt-series as lazy arrays: MRC headers, byte-range reads, slab cache, tilt angles, previews."""

from __future__ import annotations

from etdb_explore.util.lazy import lazy_names

# Public names and the modules that define them, imported on first use: importing a submodule (the homes' byte
# ranges, an MRC header) then starts without loading numpy and mrcfile for the rest.
_LAZY = {
    "ByteRanges": ".byteranges", "LocalFile": ".byteranges", "MrcError": ".header", "MrcHeader": ".header",
    "read_header": ".header", "bin_image": ".preview", "preview": ".preview", "robust_contrast": ".preview",
    "to_float32": ".preview", "TiltSeries": ".tiltseries", "parse_tilt_file": ".tiltseries", "Volume": ".volume",
}

__all__ = [
    "ByteRanges", "LocalFile", "MrcError", "MrcHeader", "TiltSeries", "Volume", "bin_image", "parse_tilt_file",
    "preview", "read_header", "robust_contrast", "to_float32",
]
lazy_names(__name__, _LAZY)

"""Tomograms and tilt-series as lazy arrays: MRC headers, byte-range reads, slab cache, tilt angles, previews."""

from .byteranges import ByteRanges, LocalFile
from .header import MrcError, MrcHeader, read_header
from .preview import bin_image, preview, robust_contrast, to_float32
from .tiltseries import TiltSeries, parse_tilt_file
from .volume import Volume

__all__ = [
    "ByteRanges", "LocalFile", "MrcError", "MrcHeader", "TiltSeries", "Volume", "bin_image", "parse_tilt_file",
    "preview", "read_header", "robust_contrast", "to_float32",
]

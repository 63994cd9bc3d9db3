"""Tomograms and tilt-series as lazy arrays: MRC headers, byte-range reads, slab cache, tilt angles, previews."""

from etdb_explore.volumes.byteranges import ByteRanges, LocalFile
from etdb_explore.volumes.header import MrcError, MrcHeader, read_header
from etdb_explore.volumes.preview import bin_image, preview, robust_contrast, to_float32
from etdb_explore.volumes.tiltseries import TiltSeries, parse_tilt_file
from etdb_explore.volumes.volume import Volume

__all__ = [
    "ByteRanges", "LocalFile", "MrcError", "MrcHeader", "TiltSeries", "Volume", "bin_image", "parse_tilt_file",
    "preview", "read_header", "robust_contrast", "to_float32",
]

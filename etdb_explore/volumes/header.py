"""MRC headers read from the first bytes of a file, parsed with mrcfile and checked before any data is fetched."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import mrcfile.utils
import numpy as np
from mrcfile.mrcinterpreter import MrcInterpreter

from etdb_explore.errors import EtdbError
from etdb_explore.volumes.byteranges import ByteRanges

HEADER_SIZE = 1024
MAX_EXTENDED_HEADER = 64 * 1024 * 1024  # FEI extended headers of long series stay well below this
SUPPORTED_MODES = {0: "int8", 1: "int16", 2: "float32", 4: "complex64", 6: "uint16", 12: "float16", 101: "uint4"}


class MrcError(EtdbError, ValueError):
    """An MRC file is truncated, inconsistent or of an unsupported kind."""


@dataclass(frozen=True)
class MrcHeader:
    """What a lazy volume needs from an MRC header, plus mrcfile's parsed header and extended header."""

    name: str
    shape: tuple[int, int, int]  # (nz, ny, nx)
    mode: int
    dtype: np.dtype
    data_offset: int
    voxel_size: tuple[float, float, float]  # (x, y, z) in Å
    origin: tuple[float, float, float]
    labels: tuple[str, ...]
    exttyp: str
    header: np.recarray
    extended_header: np.ndarray

    @property
    def slice_bytes(self) -> int:
        """Bytes of one z-section."""
        return section_bytes(self.mode, self.dtype, self.shape[2], self.shape[1])


def section_bytes(mode: int, dtype: np.dtype, nx: int, ny: int) -> int:
    """Bytes of one nx×ny section of MRC mode ``mode`` stored as ``dtype``.

    Returns:
        ``nx * ny * dtype.itemsize``; for mode 101 (two 4-bit voxels per byte, rows padded to whole bytes)
        ``(nx + 1) // 2 * ny``.
    """
    return (nx + 1) // 2 * ny if mode == 101 else nx * ny * dtype.itemsize


def _interpret(name: str, data: bytes) -> MrcInterpreter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # permissive mode warns about old files; our own checks follow
        try:
            return MrcInterpreter(io.BytesIO(data), permissive=True, header_only=True)
        except (ValueError, EOFError) as exc:
            raise MrcError(f"{name}: not a readable MRC header ({exc})") from exc


NSYMBT = slice(92, 96)  # the extended-header size field of the 1024-byte main header


def _main_header(name: str, first: bytes) -> tuple[np.recarray, int]:
    """The main header, and the extended-header size it claims, without letting mrcfile allocate that size.

    mrcfile sizes a buffer by ``nsymbt`` before any check can run, so the field is zeroed for its parse and read
    back afterwards in the byte order mrcfile chose.
    """
    main = _interpret(name, first[:NSYMBT.start] + bytes(4) + first[NSYMBT.stop:]).header
    nsymbt = int(np.frombuffer(first, dtype=main.dtype, count=1)["nsymbt"][0])
    return main, nsymbt


def _text(value: Any) -> str:
    raw = bytes(value).rstrip(b"\0 ")
    return raw.decode("ascii", errors="replace")


async def read_header(source: ByteRanges) -> MrcHeader:
    """Fetch and check the header (1024 bytes + extended header) of an MRC file; nothing else is read.

    Returns:
        The :class:`MrcHeader`.

    Raises:
        MrcError: naming the file, for a file shorter than a header, a header mrcfile cannot read, an unknown mode,
            non-positive dimensions, an extended header larger than the file (or 64 MiB), or dimensions whose data
            size disagrees with the file size.
        EtdbError: whatever ``source.read`` raises (e.g. VerificationError, BlockNotFoundError for IPFS files).
    """
    name = source.name
    if source.size < HEADER_SIZE:
        raise MrcError(f"{name}: {source.size} bytes is too short for an MRC file (header alone is 1024)")
    first = await source.read(0, HEADER_SIZE)
    main, nsymbt = _main_header(name, first)
    byte_order = main.mode.dtype.byteorder  # as mrcfile read it (the machine stamp, or its guess when invalid)
    if nsymbt < 0 or nsymbt > min(MAX_EXTENDED_HEADER, source.size - HEADER_SIZE):
        raise MrcError(f"{name}: extended header of {nsymbt} bytes is impossible in a file of {source.size} bytes")
    mode = int(main.mode)
    if mode not in SUPPORTED_MODES:
        raise MrcError(f"{name}: unknown MRC mode {mode}")
    nx, ny, nz = (int(main.nx), int(main.ny), int(main.nz))
    if min(nx, ny, nz) <= 0:
        raise MrcError(f"{name}: dimensions {nx}×{ny}×{nz} are not positive")
    dtype = np.dtype("u1") if mode == 101 else mrcfile.utils.dtype_from_mode(mode).newbyteorder(byte_order)
    data_offset = HEADER_SIZE + nsymbt
    expected = data_offset + section_bytes(mode, dtype, nx, ny) * nz
    if expected != source.size:
        state = "truncated" if expected > source.size else "longer than its header says"
        raise MrcError(f"{name}: file is {state}: header {nx}×{ny}×{nz} mode {mode} needs {expected} bytes, "
                       f"the file has {source.size}")
    full = first + (await source.read(HEADER_SIZE, data_offset) if nsymbt else b"")
    parsed = _interpret(name, full)
    voxel = parsed.voxel_size
    labels = tuple(t for t in (_text(lbl) for lbl in parsed.header.label[: int(parsed.header.nlabl)]) if t)
    origin = parsed.header.origin
    return MrcHeader(name, (nz, ny, nx), mode, dtype, data_offset,
                     (float(voxel.x), float(voxel.y), float(voxel.z)),
                     (float(origin.x), float(origin.y), float(origin.z)), labels, _text(parsed.header.exttyp),
                     parsed.header, np.asarray(parsed.extended_header))

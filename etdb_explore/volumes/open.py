"""Opening a dataset's tomogram or tilt-series lazily, from a dataset row, a txid, or an IPFS path."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from etdb_explore.content.client import Client, default_client
from etdb_explore.content.homes import HomeReader, default_reader
from etdb_explore.errors import EtdbError
from etdb_explore.index.registry import index_holding, tagged_index
from etdb_explore.ipfs.dag.reader import PathError
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import IpfsPath, IpfsPathError, parse_ipfs_path
from etdb_explore.util import bridge
from etdb_explore.volumes.homes import choose_file
from etdb_explore.volumes.tiltseries import (
    TiltSeries,
    angles_from_extended_header,
    angles_from_record,
    parse_tilt_file,
)
from etdb_explore.volumes.volume import Volume

if TYPE_CHECKING:
    from etdb_explore.index.index import Index

TILT_FILE_SUFFIXES = (".rawtlt", ".tlt")
_TXID = re.compile(r"[0-9a-fA-F]+|(?:caltechdata|czportal):\S+")  # a txid, or a row key of another home


def _owner(x: Any, txid: str) -> Index:
    """The Index a row came from (its tag), else the newest live Index holding ``txid``; never a default one."""
    index = tagged_index(x) or index_holding(txid)
    if index is None:
        raise EtdbError(f"no index loaded in this process has txid {txid!r} (an index is forgotten once nothing "
                        f"refers to it); pass the index it belongs to: open_tomogram(..., index=idx)")
    return index


def _dataset(x: Any, index: Index | None) -> tuple[pd.Series, pd.DataFrame]:
    """The dataset row and its files for a row or a txid (prefix), from ``index`` or the one ``x`` came from."""
    if isinstance(x, pd.Series):
        if pd.isna(x.get("txid")):
            raise EtdbError(f"the row has no txid, so no dataset to open: {x.to_dict()}")
        txid = str(x["txid"])
    elif isinstance(x, str):
        txid = x.strip()
    else:
        raise TypeError(f"expected a dataset row, a txid or an IPFS path, not {type(x).__name__}")
    index = index if index is not None else _owner(x, txid)
    matches = index.datasets[index.datasets["txid"].str.startswith(txid).fillna(False)]
    if len(matches) != 1:
        raise EtdbError(f"{len(matches)} datasets match txid {txid!r} in {index!r}")
    row = matches.iloc[0]
    return row, index.files[index.files["txid"] == row["txid"]]


def _ipfs_path(x: Any) -> str | None:
    """``x`` as a canonical IPFS path, or None when it is a dataset row or a txid (hex digits, or a prefix).

    Raises:
        IpfsPathError: ``x`` is a string that is neither a txid nor an IPFS path.
    """
    if isinstance(x, (CID, IpfsPath)):
        return str(parse_ipfs_path(x))
    if not isinstance(x, str) or _TXID.fullmatch(x.strip()):
        return None
    try:
        return str(parse_ipfs_path(x))
    except IpfsPathError as exc:
        raise IpfsPathError(f"{x!r} is neither a txid (hex) nor an IPFS path: {exc}") from exc


def _pick(files: pd.DataFrame, subtype: str, suffixes: tuple[str, ...], what: str, txid: str) -> str:
    chosen = files[files["subtype"] == subtype]
    if chosen.empty:
        raise EtdbError(f"dataset {txid} has no {what} file")
    preferred = chosen[chosen["fname"].str.lower().str.endswith(suffixes)]
    return str((preferred if not preferred.empty else chosen).iloc[0]["ipfs_path"])


def _metadata(row: pd.Series | None) -> dict[str, Any]:
    return {} if row is None else {k: (None if pd.isna(v) else v) for k, v in row.items()}


def _from_homes(files: pd.DataFrame) -> bool:
    """Whether a dataset's files come from a joined or home index (a ``home`` column), not the ETDB alone."""
    return "home" in files.columns


def _choose(row: pd.Series, files: pd.DataFrame, subtype: str, suffixes: tuple[str, ...], client: Client,
            reader: HomeReader | None, homes: Iterable[str] | None) -> tuple[Any, dict[str, Any]]:
    source, read_from = bridge.run(choose_file(row, files, subtype, suffixes, client, reader or default_reader(),
                                               homes=homes))
    return source, {**_metadata(row), "read_from": read_from}


def open_tomogram(x: Any, *, index: Index | None = None, client: Client | None = None,
                  reader: HomeReader | None = None, homes: Iterable[str] | None = None) -> Volume:
    """A dataset's reconstruction as a lazy :class:`Volume` (only its header is read now).

    ``x``: a row of any Index's ``datasets`` (it opens from that Index), a txid or unique prefix (looked up in
    ``index``, else in the indexes alive in this process, newest first), or an IPFS path to an MRC file in any
    spelling :func:`~etdb_explore.ipfs.formats.paths.parse_ipfs_path` reads. No index is ever loaded implicitly.
    A row of a joined or home index (``join_homes``, ``load_home``) opens from the best home that can serve it:
    verified IPFS first, then the OSN mirror, then the portal's rewritten MRC (see
    :mod:`etdb_explore.volumes.homes`; ``reader`` reads those over HTTPS; ``homes``, e.g. ``["czportal"]``, tries
    only those, to compare the homes); ``metadata["read_from"]`` says which, and whether its bytes are
    ``ipfs-verified``, ``mirror-verified``, ``mirror-unverified`` or ``rewritten``.

    Returns:
        The :class:`Volume`, with the dataset's row as ``metadata`` (empty for a path).

    Raises:
        EtdbError: the row has no txid, no live index has the txid, not exactly one dataset matches it, or the
            dataset has no reconstruction (no home can serve one, for a joined or home index: every reason listed).
        IpfsPathError: a string is neither a txid nor an IPFS path.
        TypeError: ``x`` is neither a row, a string nor a CID/IpfsPath.
        PathError, IsADirectoryError: the path does not resolve, or leads to a directory.
        BlockNotFoundError, SourceError, VerificationError: a block cannot be fetched truthfully.
        MrcError: the file's MRC header is bad (see :func:`~etdb_explore.volumes.header.read_header`).
        ValueError: ``homes`` names an unknown home.
    """
    client = client or default_client()
    path = _ipfs_path(x)
    if path is not None:
        return Volume.open(client.file(path))
    row, files = _dataset(x, index)
    if _from_homes(files):
        return Volume.open(*_choose(row, files, "reconstruction", (".rec", ".mrc", ".map"), client, reader, homes))
    path = _pick(files, "reconstruction", (".rec", ".mrc", ".map"), "reconstruction", row["txid"])
    return Volume.open(client.file(path), _metadata(row))


async def _tilt_angles(path: str, client: Client, files: pd.DataFrame | None, row: pd.Series | None,
                       volume: Volume) -> tuple[np.ndarray | None, str]:
    stem = path.rsplit(".", 1)[0]
    candidates = []
    if files is not None:
        candidates += [p for p in files["ipfs_path"].dropna() if p.lower().endswith(TILT_FILE_SUFFIXES)]
    candidates += [stem + suffix for suffix in TILT_FILE_SUFFIXES]
    for candidate in dict.fromkeys(candidates):
        try:
            text = (await client.aread(candidate)).decode("utf-8", "replace")
        except (PathError, EtdbError, FileNotFoundError):
            continue
        angles = parse_tilt_file(text, candidate)
        if len(angles) == volume.shape[0]:
            return angles, candidate.rsplit("/", 1)[-1]
    angles = angles_from_extended_header(volume.header)
    if angles is not None:
        return angles, "extended header"
    if row is not None:
        details = {"tiltMin": row.get("tilt_min"), "tiltMax": row.get("tilt_max"), "tiltStep": row.get("tilt_step")}
        details = {k: (None if pd.isna(v) else float(v)) for k, v in details.items()}
        angles = angles_from_record(details, volume.shape[0])
        if angles is not None:
            return angles, "record tiltMin/tiltMax/tiltStep"
    return None, "unknown"


async def _aopen_tiltseries(path: str, client: Client, row: pd.Series | None,
                            files: pd.DataFrame | None) -> TiltSeries:
    volume = await Volume.aopen(await client.afile(path), _metadata(row))
    return await _with_angles(volume, path, client, row, files)


async def _with_angles(volume: Volume, path: str, client: Client, row: pd.Series | None,
                       files: pd.DataFrame | None) -> TiltSeries:
    angles, origin = await _tilt_angles(path, client, files, row, volume)
    return TiltSeries(volume.source, volume.header, volume.metadata, angles=angles, angle_source=origin)


def open_tiltseries(x: Any, *, index: Index | None = None, client: Client | None = None,
                    reader: HomeReader | None = None, homes: Iterable[str] | None = None) -> TiltSeries:
    """A dataset's tilt-series as a lazy :class:`TiltSeries`, with the angle of every image.

    ``x`` as for :func:`open_tomogram` (a row of a joined or home index opens from the best home of ``homes``, as
    there).
    Angles come from a ``.rawtlt``/``.tlt`` file of the dataset on IPFS if there is one, else the MRC extended
    header, else the record's tiltMin/tiltMax/tiltStep.

    Returns:
        The :class:`TiltSeries` (``angles`` None and ``angle_source`` "unknown" when no source has them).

    Raises:
        EtdbError: as :func:`open_tomogram`, or the dataset has no tilt-series, or a tilt file found has a line
            that is not a number (see :func:`parse_tilt_file`).
        IpfsPathError, TypeError, PathError, IsADirectoryError, BlockNotFoundError, SourceError, VerificationError,
            MrcError: as :func:`open_tomogram`.
    """
    client = client or default_client()
    path = _ipfs_path(x)
    if path is not None:
        return bridge.run(_aopen_tiltseries(path, client, None, None))
    row, files = _dataset(x, index)
    if _from_homes(files):
        source, metadata = _choose(row, files, "tiltseries", (".mrc", ".st", ".ali"), client, reader, homes)
        volume = Volume.open(source, metadata)
        ipfs = files[files["home"].astype("string") == "etdb"]
        return bridge.run(_with_angles(volume, source.name, client, row, ipfs))
    path = _pick(files, "tiltseries", (".mrc", ".st", ".ali"), "tilt-series", row["txid"])
    return bridge.run(_aopen_tiltseries(path, client, row, files))


__all__ = ["open_tiltseries", "open_tomogram"]

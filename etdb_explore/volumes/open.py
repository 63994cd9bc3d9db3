"""Opening a dataset's tomogram or tilt-series lazily, from a dataset row, a txid, or an IPFS path."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from etdb_explore.content.client import Client, default_client
from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.dag.reader import PathError
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.ipfs.formats.paths import IpfsPath, IpfsPathError, parse_ipfs_path
from etdb_explore.util import bridge
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
_TXID = re.compile(r"[0-9a-fA-F]+")


def _dataset(x: Any, index: Index | None) -> tuple[pd.Series, pd.DataFrame]:
    """The dataset row and its files for a row or a txid (prefix)."""
    if index is None:
        from etdb_explore.demo import demo_index

        index = demo_index()
    if isinstance(x, pd.Series):
        txid = x["txid"]
    elif isinstance(x, str):
        txid = x
    else:
        raise TypeError(f"expected a dataset row, a txid or an IPFS path, not {type(x).__name__}")
    matches = index.datasets[index.datasets["txid"].str.startswith(txid)]
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


async def _aopen_volume(path: str, client: Client, row: pd.Series | None) -> Volume:
    return await Volume.aopen(await client.afile(path), _metadata(row))


def open_tomogram(x: Any, *, index: Index | None = None, client: Client | None = None) -> Volume:
    """A dataset's reconstruction as a lazy :class:`Volume` (only its header is read now).

    ``x``: a row of ``Index.datasets``, a txid (or unique prefix, looked up in ``index``, default the loaded
    index), or an IPFS path to an MRC file.
    """
    client = client or default_client()
    path = _ipfs_path(x)
    if path is not None:
        return bridge.run(_aopen_volume(path, client, None))
    row, files = _dataset(x, index)
    path = _pick(files, "reconstruction", (".rec", ".mrc", ".map"), "reconstruction", row["txid"])
    return bridge.run(_aopen_volume(path, client, row))


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
    volume = await _aopen_volume(path, client, row)
    angles, origin = await _tilt_angles(path, client, files, row, volume)
    return TiltSeries(volume.source, volume.header, volume.metadata, angles=angles, angle_source=origin)


def open_tiltseries(x: Any, *, index: Index | None = None, client: Client | None = None) -> TiltSeries:
    """A dataset's tilt-series as a lazy :class:`TiltSeries`, with the angle of every image.

    Angles come from a ``.rawtlt``/``.tlt`` file of the dataset if there is one, else the MRC extended header,
    else the record's tiltMin/tiltMax/tiltStep.
    """
    client = client or default_client()
    path = _ipfs_path(x)
    if path is not None:
        return bridge.run(_aopen_tiltseries(path, client, None, None))
    row, files = _dataset(x, index)
    path = _pick(files, "tiltseries", (".mrc", ".st", ".ali"), "tilt-series", row["txid"])
    return bridge.run(_aopen_tiltseries(path, client, row, files))


__all__ = ["open_tiltseries", "open_tomogram"]

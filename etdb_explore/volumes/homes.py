"""Choosing where to read a dataset's file when several homes hold it: verified IPFS first, then the OSN mirror,
then the portal's rewritten files; the choice is returned to be shown (``Volume.metadata["read_from"]``).

1. ``etdb``: the ETDB record's IPFS path, every byte verified against its CID (``ipfs-verified``);
2. ``caltechdata``: the lab's file on the Open Storage Network (the record's ``mirror_url`` folder, listed, or a
   file link), its size checked against the ETDB record's; ``mirror-verified`` when its recomputed CID equals the
   ETDB DAG's (checked whole for files up to ``verify_bytes`` whose CID the DAG's directories give; a larger file
   whose DAG's nodes can be fetched is checked leaf by leaf as it is read, a differing leaf an error), else
   ``mirror-unverified``;
3. ``czportal``: the portal's MRC (``rewritten``: a new file made from the lab's, never ETDB bytes).

A home that fails is passed over, and why is kept (``read_from["passed_over"]``); when none can serve, the error
lists every reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pandas as pd

from etdb_explore.content.client import Client
from etdb_explore.content.homes import (
    IPFS_VERIFIED,
    MIRROR_UNVERIFIED,
    REWRITTEN,
    HomeReader,
    HttpFile,
    LeafCheckedFile,
    dag_cid,
    verify_mirror,
)
from etdb_explore.errors import EtdbError
from etdb_explore.records.kinds import kind_from_name
from etdb_explore.volumes.byteranges import ByteRanges

VERIFY_BYTES = 256 << 20
HOMES = ("etdb", "caltechdata", "czportal")  # the order homes are tried in
HOME_TIMEOUT = 30.0


def _preferred(files: pd.DataFrame, subtype: str, suffixes: tuple[str, ...]) -> pd.DataFrame:
    chosen = files[files["subtype"].astype("string") == subtype]
    fitting = chosen["fname"].fillna("").str.lower().str.endswith(suffixes)
    return pd.concat([chosen[fitting], chosen[~fitting]])


def _home(files: pd.DataFrame, home: str) -> pd.DataFrame:
    return files[files["home"].astype("string") == home] if "home" in files else \
        (files if home == "etdb" else files.iloc[:0])


async def _ipfs(files: pd.DataFrame, client: Client, passed: list[str]) -> tuple[ByteRanges, dict] | None:
    for path in files["ipfs_path"].dropna().head(1):
        try:
            return await client.afile(path), {"home": "etdb", "content": IPFS_VERIFIED, "where": path}
        except (EtdbError, OSError, asyncio.TimeoutError) as exc:
            passed.append(f"etdb {path}: {type(exc).__name__}: {exc}")
    return None


async def _expected(etdb_files: pd.DataFrame, key: str, client: Client) -> tuple[int | None, Any]:
    """The ETDB record's size of the file at relative path ``key`` and its CID (None when the DAG cannot say)."""
    for _, f in etdb_files.iterrows():
        fname = f.get("fname")
        if isinstance(fname, str) and (key == fname or key.endswith("/" + fname)):
            size = None if pd.isna(f.get("fsize")) else int(f["fsize"])
            return size, await dag_cid(client, f["ipfs_path"], HOME_TIMEOUT)
    return None, None


async def _has_node(client: Client, cid: Any) -> bool:
    """Whether the root node of file ``cid`` can be fetched (so its leaves can be checked read by read)."""
    try:
        await asyncio.wait_for(client.reader.node(cid), HOME_TIMEOUT)
    except (EtdbError, OSError, asyncio.TimeoutError):
        return False
    return True


async def _mirror(row: pd.Series, files: pd.DataFrame, etdb_files: pd.DataFrame, subtype: str,
                  suffixes: tuple[str, ...], client: Client, reader: HomeReader, verify_bytes: int,
                  passed: list[str]) -> tuple[ByteRanges, dict] | None:
    candidates: list[tuple[str, str, int | None]] = []  # (url, key relative to the folder, size)
    folder = row.get("mirror_url")
    if isinstance(folder, str) and folder:
        try:
            listed = await reader.listdir(folder)
        except EtdbError as exc:
            passed.append(f"caltechdata {folder}: {exc}")
            listed = []
        fitting = [o for o in listed if kind_from_name(o.key) == subtype]
        fitting.sort(key=lambda o: not o.key.lower().endswith(suffixes))
        candidates += [(o.url, o.key, o.size) for o in fitting]
    for _, f in _preferred(_home(files, "caltechdata"), subtype, suffixes).iterrows():
        if isinstance(f.get("url"), str):
            candidates.append((f["url"], f["fname"], None if pd.isna(f.get("fsize")) else int(f["fsize"])))
    for url, key, size in candidates:
        try:
            size = size if size is not None else (await reader.size(url))[1]
        except EtdbError as exc:
            passed.append(f"caltechdata {url}: {exc}")
            continue
        expected_size, cid = await _expected(etdb_files, key, client)
        if expected_size is not None and expected_size != size:
            passed.append(f"caltechdata {url}: {size} bytes, the ETDB record says {expected_size}")
            continue
        file = HttpFile(reader, url, size, MIRROR_UNVERIFIED)
        note = "no ETDB CID to check against" if cid is None else "larger than verify_bytes"
        if cid is not None and size > verify_bytes and await _has_node(client, cid):
            file, note = LeafCheckedFile(reader, url, size, client.reader, cid), \
                "each read checked leaf by leaf against the ETDB DAG"
        elif cid is not None and size <= verify_bytes:
            try:
                note = "CID matches the ETDB DAG" if await verify_mirror(file, cid) else \
                    f"CID differs from the ETDB DAG's {cid}"
            except EtdbError as exc:
                passed.append(f"caltechdata {url}: {exc}")
                continue
        return file, {"home": "caltechdata", "content": file.content, "where": url, "check": note}
    return None


async def _portal(files: pd.DataFrame, subtype: str, reader: HomeReader, passed: list[str]) \
        -> tuple[ByteRanges, dict] | None:
    mine = _home(files, "czportal")
    mine = mine[mine["ctype"].astype("string") == "mrc"] if "ctype" in mine else mine
    for _, f in _preferred(mine, subtype, (".mrc",)).iterrows():
        url = f.get("url")
        if not isinstance(url, str):
            continue
        try:
            size = int(f["fsize"]) if pd.notna(f.get("fsize")) else (await reader.size(url))[1]
        except EtdbError as exc:
            passed.append(f"czportal {url}: {exc}")
            continue
        return HttpFile(reader, url, size, REWRITTEN), {"home": "czportal", "content": REWRITTEN, "where": url}
    return None


async def choose_file(row: pd.Series, files: pd.DataFrame, subtype: str, suffixes: tuple[str, ...],
                      client: Client, reader: HomeReader, verify_bytes: int = VERIFY_BYTES,
                      homes: Iterable[str] | None = None) -> tuple[ByteRanges, dict[str, Any]]:
    """The best home's file of kind ``subtype`` for one dataset row (of a joined or home index), of ``homes``
    only when given (:data:`HOMES` by default, in that order; a mirror file is still checked against the ETDB
    DAG's CID).

    Returns:
        ``(file, read_from)``: the byte ranges and where they come from (``home``, ``content``, ``where``, and
        ``passed_over``: the homes tried first and why they were passed over).

    Raises:
        EtdbError: no home can serve such a file (listing each reason).
        ValueError: ``homes`` names an unknown home.
    """
    wanted = HOMES if homes is None else tuple(homes)
    if unknown := sorted(set(wanted) - set(HOMES)):
        raise ValueError(f"unknown home {', '.join(map(repr, unknown))}; the homes are {', '.join(HOMES)}")
    passed: list[str] = []
    chosen = None
    if "etdb" in wanted:
        chosen = await _ipfs(_preferred(_home(files, "etdb"), subtype, suffixes), client, passed)
    if chosen is None and "caltechdata" in wanted:
        chosen = await _mirror(row, files, _home(files, "etdb"), subtype, suffixes, client, reader, verify_bytes,
                               passed)
    if chosen is None and "czportal" in wanted:
        chosen = await _portal(files, subtype, reader, passed)
    if chosen is None:
        which = "no home" if homes is None else f"no home of {', '.join(wanted)}"
        raise EtdbError(f"{which} can give a {subtype} file of {row.get('txid')}: "
                        + ("; ".join(passed) or "none lists one"))
    source, read_from = chosen
    read_from["passed_over"] = passed
    return source, read_from

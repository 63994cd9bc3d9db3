"""Bulk downloads: concurrent, verified, resumable, atomic, with a manifest — the benchmark-set workhorse.

Files land at ``dest/<location>/<fname>`` (names from records are untrusted: see :mod:`etdb_explore.datasets.safepaths`).
A file is written as ``<name>.part`` and renamed when complete and verified; a re-run after a kill resumes each
``.part`` from where it stopped and skips finished files. Bytes already on disk are never trusted: a ``.part`` and a
finished file are checked leaf by leaf against the file's CID (only the DAG's interior nodes are fetched for that),
and fetched again from the first leaf that differs. ``manifest.csv``
(txid, path, cid, size, sha256, content) and ``metadata.json`` (the signed records) are written next to the data.

Rows of a joined or home index (:func:`~etdb_explore.index.joined.join_homes`) download from the best home of each
dataset: its ETDB files from IPFS when it has an ETDB record, else CaltechDATA's file links, else the portal's MRCs
(OME-Zarr folders are read with ``open_pyramid``, not downloaded). An ETDB file that IPFS cannot give is fetched
from the dataset's OSN folder instead. Bytes from OSN and the portal are not content-addressed: their manifest row
carries the UnixFS CID recomputed with go-etdb's ``ipfs add`` settings (or Kubo's defaults, when those give the
DAG's CID) and a ``content`` label – ``mirror-verified``
only when that CID equals the one the ETDB record's DAG gives the file, else ``mirror-unverified`` (``rewritten``
for the portal's files); ``report.unverified`` lists them. Such files are fetched whole again rather than resumed,
since nothing can check a ``.part`` of them.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import stat as stat_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pandas as pd

from etdb_explore.content.client import Client, default_client
from etdb_explore.content.homes import (
    IPFS_VERIFIED,
    MIRROR_UNVERIFIED,
    MIRROR_VERIFIED,
    REWRITTEN,
    HomeReader,
    MirrorHasher,
    MirrorObject,
    dag_cid,
    default_reader,
)
from etdb_explore.datasets.localcheck import local_sha256
from etdb_explore.datasets.safepaths import SafeRoot
from etdb_explore.datasets.writer import BatchWriter
from etdb_explore.errors import EtdbError, UnsafePathError
from etdb_explore.ipfs.dag.local import matching_prefix
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.records.kinds import normalize_kinds
from etdb_explore.util import bridge, html
from etdb_explore.util.files import atomic_open, atomic_write

if TYPE_CHECKING:
    from etdb_explore.index.index import Index

MANIFEST = "manifest.csv"
MANIFEST_FIELDS = ("txid", "path", "cid", "size", "sha256", "content")
HTTP_PIECE = 4 << 20


def select_files(index: Index, kinds: Iterable[str] | str | None = None) -> pd.DataFrame:
    """The files of ``index`` of the given kinds (all when None; see :mod:`etdb_explore.records.kinds`), with
    their dataset location.

    Returns:
        The files table with a ``location`` column.

    Raises:
        KindError: an unknown kind.
    """
    subtypes = normalize_kinds(kinds)
    columns = [c for c in ("txid", "location", "mirror_url") if c in index.datasets]
    files = index.files.merge(index.datasets[columns], on="txid", how="left")
    if "home" in files:
        files = _best_home(files)
    if subtypes is not None:
        files = files[files["subtype"].astype("string").isin(subtypes).fillna(False)]
    return files.reset_index(drop=True)


def _best_home(files: pd.DataFrame) -> pd.DataFrame:
    """Of a joined index's files, each dataset's from its best home (ETDB, else CaltechDATA, else the portal),
    OME-Zarr folders left out; files of other homes get ``location`` ``<home>/<dataset key>``."""
    home = files["home"].astype("string").fillna("etdb")
    if "ctype" in files:
        keep = (files["ctype"].astype("string") != "ome-zarr").fillna(True).to_numpy()
        files, home = files[keep], home[keep]
    rank = home.map({"etdb": 0, "caltechdata": 1, "czportal": 2}).fillna(3)
    best = (rank == rank.groupby(files["txid"]).transform("min")).to_numpy()
    files, home = files[best].copy(), home[best]
    other = (home != "etdb").to_numpy()
    key = files["txid"].astype("string").str.split(":").str[-1]
    files["location"] = files["location"].astype(object)
    files.loc[other, "location"] = (home[other] + "/" + key[other]).to_numpy()
    return files


def plan_by_kind(files: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """How many files, and bytes, of each kind ``files`` holds.

    Returns:
        ``{kind: (files, bytes)}``, the kind being the records' file subtype (``other`` when a record gives none).
    """
    kinds = files["subtype"].astype("string").fillna("other")
    sizes = files["fsize"].fillna(0).astype("int64").groupby(kinds).agg(["count", "sum"])
    return {str(kind): (int(row["count"]), int(row["sum"])) for kind, row in sizes.iterrows()}


@dataclass
class DownloadReport:
    """What a download did: files fetched, skipped (already complete), failed (with the reason), bytes moved, and
    the sha256 of every file now complete (``sha256``: IPFS path → hex digest, as in ``manifest.csv``)."""

    dest: Path
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes: int = 0
    planned: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind → (files, bytes)
    sha256: dict[str, str] = field(default_factory=dict)
    unverified: dict[str, str] = field(default_factory=dict)  # path → content label, for bytes no CID checked
    checked: dict[str, str] = field(default_factory=dict)  # path → what was checked of such a file (size, md5, …)

    @property
    def planned_bytes(self) -> int:
        """Bytes of every file planned, of all kinds."""
        return sum(size for _, size in self.planned.values())

    @property
    def ok(self) -> bool:
        """True when no file failed (nor was refused)."""
        return not self.failed

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.dest}: {len(self.fetched)} fetched, {len(self.skipped)} skipped, "
                f"{len(self.failed)} failed, {html.size(self.bytes)} moved>")

    def _repr_html_(self) -> str:
        summary = [("folder", str(self.dest)), ("fetched", f"{len(self.fetched)} files, {html.size(self.bytes)}"),
                   ("already there", f"{len(self.skipped)} files"), ("failed", f"{len(self.failed)} files")]
        kinds = [(kind, n, html.size(b)) for kind, (n, b) in sorted(self.planned.items())]
        failures = [(html.short(path, 60), reason) for path, reason in list(self.failed.items())[:10]]
        if len(self.failed) > 10:
            failures.append(("…", f"{len(self.failed) - 10} more in .failed"))
        return (html.table(summary, title=f"Download {'complete' if self.ok else 'incomplete'}")
                + (html.table(kinds, ("kind", "files", "size"), "planned") if kinds else "")
                + (html.table(failures, ("file", "reason"), "failures") if failures else ""))


def read_manifest(dest: Path) -> dict[str, dict[str, str]]:
    """The ``manifest.csv`` of download folder ``dest``.

    Returns:
        ``{IPFS path: row}`` with the row's ``txid``, ``path``, ``cid``, ``size`` and ``sha256`` as text; empty when
        there is no manifest.

    Raises:
        OSError: the manifest cannot be read.
        KeyError: it has no ``path`` column.
    """
    path = dest / MANIFEST
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:  # a row cut short by a kill mid-append is left out
        return {row["path"]: row for row in csv.DictReader(fh) if None not in row.values()}


def _append_manifest(dest: Path, row: dict[str, str]) -> None:
    """Add one row to the manifest while a download runs (never through a symbolic link); the end of the download
    rewrites it whole."""
    path = dest / MANIFEST
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        if not fh.tell():
            writer.writeheader()
        writer.writerow(row)


def _write_manifest(dest: Path, rows: dict[str, dict[str, str]]) -> None:
    with atomic_open(dest / MANIFEST, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        for key in sorted(rows):
            writer.writerow({k: rows[key].get(k) or "" for k in MANIFEST_FIELDS})


class _Progress:
    """Bars for bytes and files: tqdm.auto's (``progress=True``), a tqdm subclass's, or none (``False``)."""

    def __init__(self, total_bytes: int, total_files: int, progress: bool | type) -> None:
        from tqdm.auto import tqdm

        bar = progress if isinstance(progress, type) else tqdm
        self.bytes = bar(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="bytes",
                         disable=not progress)
        self.files = bar(total=total_files, unit="file", desc="files", disable=not progress)

    def close(self) -> None:
        self.bytes.close()
        self.files.close()


@dataclass(frozen=True)
class _Planned:
    """One file to download: its row of the files table, its IPFS path (``<location>/<fname>``) and its local
    target."""

    row: dict[str, Any]
    rel: str
    target: Path


def plan_targets(files: pd.DataFrame, dest: Path) -> tuple[list[_Planned], dict[str, str]]:
    """Local targets of ``files`` inside ``dest``, and the files refused with the reason.

    Names come from records, which anyone can publish: a name that would leave ``dest`` is refused, a file listed
    twice under the same IPFS path is fetched once, and different IPFS paths that map to the same local file (equal
    after Unicode normalisation) are all refused, since neither can be told from the other on disk.

    Returns:
        The files to fetch, and ``{ipfs path: reason}`` for those refused.
    """
    refused: dict[str, str] = {}
    by_target: dict[Path, list[_Planned]] = {}
    root = SafeRoot(dest)
    for row in files.to_dict("records"):
        rel = f"{row['location']}/{row['fname']}"
        try:
            target = root.join(rel, what=f"file name of dataset {row['txid']}")
        except EtdbError as exc:
            refused[rel] = str(exc)
            continue
        by_target.setdefault(target, []).append(_Planned(row, rel, target))
    planned = []
    for target, group in by_target.items():
        names = sorted({p.rel for p in group})
        if len(names) == 1:
            planned.append(group[0])
            continue
        for p in group:
            others = ", ".join(repr(n) for n in names if n != p.rel)
            refused[p.rel] = (f"name collision: {p.rel!r} (dataset {p.row['txid']}) and {others} map to the same "
                              f"local file {target}")
    return planned, refused


def _open_part(part: Path) -> BinaryIO:
    """``part`` opened for reading and appending; UnsafePathError if it is a symbolic link or not a regular file."""
    try:
        fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        if part.is_symlink():
            raise UnsafePathError(f"{part} is a symbolic link: refusing to write through it") from exc
        raise
    if not stat_module.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(f"{part} is not a regular file")
    return os.fdopen(fd, "r+b")


async def _matching(client: Client, cid: CID, path: Path, size: int) -> str | None:
    """The sha256 of the local file ``path`` if all of it equals file ``cid`` of ``size`` bytes, else None.

    The CID is first recomputed from the local bytes (no network); a file whose DAG Kubo's profiles do not rebuild
    is then checked leaf by leaf against the DAG's interior nodes."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size != size:
        return None
    local = await asyncio.to_thread(local_sha256, path, cid)
    if local is not None:
        return local
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        return digest.hexdigest() if await matching_prefix(client.reader, cid, fh, size, digest) == size else None


async def _resolve(client: Client, row: dict[str, Any], rel: str) -> tuple[CID, int]:
    """The CID and size of file ``rel``: the row's own (a frozen file: ``cid`` and ``fsize`` columns), else what
    its IPFS path resolves to, checked against the size its record gives."""
    if pd.notna(row.get("cid")):
        return CID.decode(row["cid"]), int(row["fsize"])
    stat = await client.astat(rel)
    if stat.type != "file":
        raise EtdbError(f"{rel} is a {stat.type}, not a file")
    if pd.notna(row.get("fsize")) and int(row["fsize"]) != stat.size:
        raise EtdbError(f"{rel}: the record says {int(row['fsize'])} bytes, IPFS holds {stat.size}")
    return stat.cid, stat.size


async def _fetch(client: Client, item: _Planned, manifest: dict[str, dict[str, str]], report: DownloadReport,
                 progress: _Progress) -> bool:
    """Fetch one file (or find it complete); True when its manifest row changed."""
    row, rel, target = item.row, item.rel, item.target
    cid, size = await _resolve(client, row, rel)
    finished = await _matching(client, cid, target, size)  # re-checked against the CID, not trusted
    if finished is not None:
        report.skipped.append(rel)
        progress.bytes.update(size)
        progress.files.update()
        return _record(manifest, report, row, rel, cid, size, finished)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with _open_part(part) as fh:
        # a resumed .part is checked leaf by leaf against the CID; from the first differing leaf on it is fetched again
        digest = hashlib.sha256()
        on_disk = min(os.fstat(fh.fileno()).st_size, size)
        offset = await matching_prefix(client.reader, cid, fh, on_disk, digest) if on_disk else 0
        fh.truncate(offset)
        progress.bytes.update(offset)
        async with BatchWriter(fh, [digest.update]) as out:  # written and hashed in a thread, off the event loop
            async for chunk in client.reader.iter_range(cid, offset, size):
                await out.write(chunk)
                report.bytes += len(chunk)
                progress.bytes.update(len(chunk))
        written = fh.tell()
    if written != size:
        raise EtdbError(f"{rel}: {written} bytes written for a file of {size} ({cid})")
    os.replace(part, target)
    report.fetched.append(rel)
    progress.files.update()
    return _record(manifest, report, row, rel, cid, size, digest.hexdigest())


def _record(manifest: dict[str, dict[str, str]], report: DownloadReport, row: dict[str, Any], rel: str, cid: CID,
            size: int, sha256: str, content: str = IPFS_VERIFIED) -> bool:
    """Note a complete file in the manifest and the report; True when its manifest row changed."""
    entry = {"txid": row["txid"], "path": rel, "cid": str(cid), "size": str(size), "sha256": sha256,
             "content": content}
    if content != IPFS_VERIFIED and content != MIRROR_VERIFIED:
        report.unverified[rel] = content
    report.sha256[rel] = sha256
    if manifest.get(rel) == entry:
        return False
    manifest[rel] = entry
    return True


class _Folders:
    """OSN folder listings, each made once per download."""

    def __init__(self, reader: HomeReader) -> None:
        self.reader = reader
        self._listed: dict[str, asyncio.Future] = {}

    async def find(self, folder: str, fname: str) -> MirrorObject | None:
        """The object of ``folder`` at relative path ``fname`` (or ending with it), None when there is none."""
        if folder not in self._listed:
            self._listed[folder] = asyncio.ensure_future(self.reader.listdir(folder))
        for item in await self._listed[folder]:
            if item.key == fname or item.key.endswith("/" + fname):
                return item
        return None


class _Digests:
    """The go-etdb CID, sha256 and md5 of bytes fed in pieces (a file no CID addresses, read over HTTP or from
    disk)."""

    def __init__(self) -> None:
        self.cid, self.sha256, self.md5 = MirrorHasher(), hashlib.sha256(), hashlib.md5()

    def feed(self, chunk: bytes) -> None:
        self.cid.feed(chunk)
        self.sha256.update(chunk)
        self.md5.update(chunk)

    def of_file(self, path: Path) -> _Digests:
        with open(path, "rb") as fh:
            while chunk := fh.read(HTTP_PIECE):
                self.feed(chunk)
        return self


def _known(row: dict[str, Any], key: str) -> str | None:
    """A digest the row pins its file to (``md5`` from its home, ``sha256`` frozen in a set), else None."""
    value = row.get(key)
    return value if isinstance(value, str) and value else None


def _mismatch(row: dict[str, Any], digests: _Digests) -> str | None:
    """What of the row's md5 and sha256 the bytes fail, else None."""
    for key, digest in (("md5", digests.md5), ("sha256", digests.sha256)):
        if (wanted := _known(row, key)) is not None and digest.hexdigest() != wanted:
            return f"{key} {digest.hexdigest()}, expected {wanted}"
    return None


def _checks(row: dict[str, Any]) -> str:
    """What was checked of a file no CID addresses (its size always)."""
    return ", ".join(["size"] + [key for key in ("md5", "sha256") if _known(row, key)])


async def _fetch_http(client: Client, reader: HomeReader, item: _Planned, url: str, size: int | None,
                      content: str, manifest: dict[str, dict[str, str]], report: DownloadReport,
                      progress: _Progress) -> bool:
    """A file of another home over HTTP(S), whole, its CID recomputed with go-etdb's settings and compared with the
    ETDB DAG's when the file is an ETDB record's: ``mirror-verified`` only then (a file pinned to a CID, as in a
    benchmark set, fails when they differ). Its size, and the md5 and sha256 its row gives, are checked. A local
    copy matching them is kept. True when its manifest row changed."""
    row, rel, target = item.row, item.rel, item.target
    etdb_file = row.get("home", "etdb") == "etdb"
    if size is None:
        size = (await reader.size(url))[1]
    if pd.notna(row.get("fsize")) and int(row["fsize"]) != size:
        raise EtdbError(f"{url}: {size} bytes, {'the ETDB record' if etdb_file else 'its home'} says "
                        f"{int(row['fsize'])}")
    pinned = CID.decode(row["cid"]) if etdb_file and pd.notna(row.get("cid")) else None
    expected = pinned or (await dag_cid(client, rel) if etdb_file else None)
    digests = None
    if (_known(row, "md5") or _known(row, "sha256")) and target.is_file() and not target.is_symlink() \
            and target.stat().st_size == size:
        digests = await asyncio.to_thread(_Digests().of_file, target)
        if _mismatch(row, digests) is not None:
            digests = None
        else:
            report.skipped.append(rel)
            progress.bytes.update(size)
    if digests is None:
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        digests = _Digests()
        with _open_part(part) as fh:
            fh.truncate(0)
            async with BatchWriter(fh, [digests.feed], HTTP_PIECE) as out:  # written and hashed in a thread
                for start in range(0, size, HTTP_PIECE):
                    chunk = await reader.read(url, start, min(size, start + HTTP_PIECE))
                    await out.write(chunk)
                    report.bytes += len(chunk)
                    progress.bytes.update(len(chunk))
        if (problem := _mismatch(row, digests)) is not None:
            raise EtdbError(f"{url}: {problem} ({content}; kept as {part.name})")
        cid = digests.cid.finish(expected)
        if pinned is not None and cid != pinned:
            raise EtdbError(f"{url}: the mirror's bytes have CID {cid}, the set pins {pinned} (kept as {part.name})")
        os.replace(part, target)
        report.fetched.append(rel)
    else:
        cid = digests.cid.finish(expected)
    if content == MIRROR_UNVERIFIED and expected is not None and cid == expected:
        content = MIRROR_VERIFIED
    if content != MIRROR_VERIFIED:
        report.checked[rel] = _checks(row)
    progress.files.update()
    return _record(manifest, report, row, rel, cid, size, digests.sha256.hexdigest(), content)


async def _fetch_other(client: Client, folders: _Folders, item: _Planned, manifest: dict[str, dict[str, str]],
                       report: DownloadReport, progress: _Progress, why: Exception | None) -> bool:
    """A file not read from IPFS: a row of another home, or an ETDB file IPFS failed to give (``why``), taken
    from the dataset's OSN folder. True when its manifest row changed."""
    row = item.row
    if row.get("home", "etdb") != "etdb":
        url = row.get("url")
        if not isinstance(url, str):
            raise EtdbError(f"{item.rel}: no URL to fetch it from")
        content = REWRITTEN if row.get("content") == "rewritten" else MIRROR_UNVERIFIED
        return await _fetch_http(client, folders.reader, item, url, None, content, manifest, report, progress)
    folder = row.get("mirror_url")
    found = await folders.find(folder, str(row["fname"])) if isinstance(folder, str) else None
    if found is None:
        raise EtdbError(f"{why} (and no OSN folder of the dataset has {row['fname']})")
    return await _fetch_http(client, folders.reader, item, found.url, found.size, MIRROR_UNVERIFIED, manifest,
                             report, progress)


async def _fetch_any(client: Client, folders: _Folders, item: _Planned, manifest: dict[str, dict[str, str]],
                     report: DownloadReport, progress: _Progress) -> bool:
    """One file from its home: IPFS for an ETDB file (its OSN folder when IPFS fails), else over HTTP(S)."""
    if item.row.get("home", "etdb") != "etdb":
        return await _fetch_other(client, folders, item, manifest, report, progress, None)
    try:
        return await _fetch(client, item, manifest, report, progress)
    except (EtdbError, OSError) as exc:
        if not isinstance(item.row.get("mirror_url"), str):
            raise
        return await _fetch_other(client, folders, item, manifest, report, progress, exc)


async def adownload(selection: Index, kinds: Iterable[str] | str | None = None, dest: str | Path = "etdb-download",
                    workers: int = 4, client: Client | None = None, dry_run: bool = False,
                    progress: bool | type = True) -> DownloadReport:
    """Async :func:`download` (same arguments and result), from any event loop: it runs on the I/O loop, and
    cancelling it stops the download (``.part`` files stay, to be resumed).

    Returns:
        The :class:`DownloadReport`.

    Raises:
        As :func:`download` (asyncio.CancelledError when cancelled).
    """
    return await bridge.arun(_download(selection, kinds, dest, workers, client, dry_run, progress))


async def _download(selection: Index, kinds: Iterable[str] | str | None, dest: str | Path, workers: int,
                    client: Client | None, dry_run: bool, progress: bool | type,
                    reader: HomeReader | None = None) -> DownloadReport:
    files = select_files(selection, kinds)
    if dry_run:
        return DownloadReport(Path(dest), planned=plan_by_kind(files))
    txids = set(files["txid"])
    records = [json.loads(r.to_json()) | {"txid": t} for t, r in selection.records.items() if t in txids]
    return await fetch_files(files, records, dest, workers, client, progress, reader)


async def fetch_files(files: pd.DataFrame, records: list[dict[str, Any]], dest: str | Path, workers: int = 4,
                      client: Client | None = None, progress: bool | type = True,
                      reader: HomeReader | None = None) -> DownloadReport:
    """Download ``files`` into ``dest``, with ``records`` as its ``metadata.json``: the engine of :func:`download`
    and of benchmark sets.

    ``files`` has a row per file with ``txid``, ``location``, ``fname``, ``fsize`` and ``subtype``; a ``cid``
    column, where set, pins a file to that CID (``fsize`` its size), else its IPFS path is resolved. Files of other
    homes (a ``home`` column) come over HTTP(S) through ``reader`` (see the module).

    Returns:
        The :class:`DownloadReport`.

    Raises:
        OSError: ``dest`` cannot be made, or its manifest cannot be read.
    """
    client = client or default_client()
    folders = _Folders(reader or default_reader())
    dest = Path(dest)
    report = DownloadReport(dest, planned=plan_by_kind(files))
    dest.mkdir(parents=True, exist_ok=True)
    planned, refused = plan_targets(files, dest)
    report.failed.update(refused)
    manifest = read_manifest(dest)
    changed = not (dest / MANIFEST).exists()
    bars = _Progress(report.planned_bytes, len(files), progress)
    limit = asyncio.Semaphore(workers)

    async def one(item: _Planned) -> None:
        nonlocal changed
        async with limit:
            try:
                if await _fetch_any(client, folders, item, manifest, report, bars):
                    # a killed run leaves the manifest right
                    changed = True
                    _save(report, MANIFEST, lambda: _append_manifest(dest, manifest[item.rel]))
            except (EtdbError, OSError, ValueError) as exc:
                report.failed[item.rel] = str(exc)

    try:
        await asyncio.gather(*(one(item) for item in planned))
    finally:
        bars.close()
        if changed:
            _save(report, MANIFEST, lambda: _write_manifest(dest, manifest))
    _save(report, "metadata.json", lambda: atomic_write(
        dest / "metadata.json", json.dumps(records, indent=1, ensure_ascii=False)))
    return report


def _save(report: DownloadReport, name: str, write: Callable[[], object]) -> None:
    """Write one of the download's own files; a full or read-only disk is reported under ``name``, not raised,
    so the report of what was fetched survives."""
    try:
        write()
    except OSError as exc:
        report.failed[name] = f"could not write {name}: {exc}"


def download(selection: Index, kinds: Iterable[str] | str | None = None, dest: str | Path = "etdb-download",
             workers: int = 4, client: Client | None = None, dry_run: bool = False,
             progress: bool | type = True, reader: HomeReader | None = None) -> DownloadReport:
    """Download the files of a selection; ``kinds`` (default all) as :mod:`etdb_explore.records.kinds` reads them
    (``"tiltseries"``, ``"reconstruction"``, …; ``"tilt-series"``, ``"reconstructions"``, ``"images"`` too).

    Verified, concurrent (``workers`` files at once), resumable and atomic; ``dry_run`` only sizes the job.
    ``progress``: tqdm.auto bars for bytes and files (True), none (False), or bars of a tqdm subclass given. Ctrl-C
    stops it: files being fetched stay as ``.part`` files, and the next run resumes them.

    Rows of a joined or home index download from each dataset's best home (see the module; ``reader`` reads OSN
    and the portal); files whose bytes no CID checked are in ``report.unverified`` and labelled in the manifest.

    Returns:
        A :class:`DownloadReport`: files fetched, skipped (already complete), failed (with the reason), bytes, the
        plan per kind, and the files not verified against a CID (``unverified``: path → label).

    Raises:
        KindError: an unknown kind.
        OSError: ``dest`` cannot be made, or its manifest cannot be read.
        KeyboardInterrupt: Ctrl-C (the download was stopped).

    A file that fails (a bad name, a source error, a wrong block, a full disk) is reported in ``failed``, not
    raised; so is a manifest or ``metadata.json`` that cannot be written.
    """
    return bridge.run(_download(selection, kinds, dest, workers, client, dry_run, progress, reader))


def report_dict(report: DownloadReport) -> dict[str, Any]:
    """``report`` as JSON-ready data (what ``etdb-explore download --json`` prints).

    Returns:
        ``dest``, the counts of files fetched and skipped, ``failed`` (path → reason), ``unverified`` (path →
        label), ``checked`` (path → what was checked of such a file), ``bytes``, ``planned_bytes``
        and ``planned`` (kind → files, bytes).
    """
    return {"dest": str(report.dest), "fetched": len(report.fetched), "skipped": len(report.skipped),
            "failed": report.failed, "unverified": report.unverified, "checked": report.checked,
            "bytes": report.bytes,
            "planned_bytes": report.planned_bytes,
            "planned": {k: {"files": n, "bytes": b} for k, (n, b) in report.planned.items()}}

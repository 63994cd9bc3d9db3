"""Bulk downloads: concurrent, verified, resumable, atomic, with a manifest — the benchmark-set workhorse.

Files land at ``dest/<location>/<fname>`` (names from records are untrusted: see :mod:`etdb_explore.datasets.safepaths`).
A file is written as ``<name>.part`` and renamed when complete and verified; a re-run after a kill resumes each
``.part`` from where it stopped and skips finished files whose sha256 matches the manifest. ``manifest.csv``
(txid, path, cid, size, sha256) and ``metadata.json`` (the signed records) are written next to the data.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from etdb_explore.content.client import Client, default_client
from etdb_explore.datasets.safepaths import safe_join
from etdb_explore.errors import EtdbError
from etdb_explore.util import bridge

if TYPE_CHECKING:
    from etdb_explore.index.index import Index

KINDS = {  # etdb-downloads' file types → record file subtypes
    "tilt-series": {"tiltseries"},
    "reconstructions": {"reconstruction"},
    "images": {"keyimg", "snapshot", "thumbnail"},
    "videos": {"keymov"},
    "others": {"other", "subvolume", "preview"},
}
MANIFEST = "manifest.csv"
MANIFEST_FIELDS = ("txid", "path", "cid", "size", "sha256")
STREAM_CHUNK = 4 << 20


def select_files(index: Index, kinds: Iterable[str] | str | None = None) -> pd.DataFrame:
    """The files of ``index`` of the given kinds (all when None), with their dataset location."""
    files = index.files.merge(index.datasets[["txid", "location"]], on="txid", how="left")
    if kinds is None:
        return files.reset_index(drop=True)
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise EtdbError(f"unknown kinds {sorted(unknown)}; choose from {sorted(KINDS)}")
    subtypes = set().union(*(KINDS[k] for k in kinds))
    return files[files["subtype"].astype("string").isin(subtypes)].reset_index(drop=True)


def plan_by_kind(files: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """(files, bytes) of each download kind among ``files`` (subtypes outside every kind count as ``others``)."""
    kind_of = {subtype: kind for kind, subtypes in KINDS.items() for subtype in subtypes}
    kinds = files["subtype"].astype("string").map(kind_of).fillna("others")
    sizes = files["fsize"].fillna(0).astype("int64").groupby(kinds).agg(["count", "sum"])
    return {str(kind): (int(row["count"]), int(row["sum"])) for kind, row in sizes.iterrows()}


@dataclass
class DownloadReport:
    """What a download did: files fetched, skipped (already complete), failed (with the reason), bytes moved."""

    dest: Path
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes: int = 0
    planned: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind → (files, bytes)

    @property
    def planned_bytes(self) -> int:
        return sum(size for _, size in self.planned.values())

    @property
    def ok(self) -> bool:
        return not self.failed


def read_manifest(dest: Path) -> dict[str, dict[str, str]]:
    path = dest / MANIFEST
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["path"]: row for row in csv.DictReader(fh)}


def _write_manifest(dest: Path, rows: dict[str, dict[str, str]]) -> None:
    tmp = dest / f".{MANIFEST}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        for key in sorted(rows):
            writer.writerow({k: rows[key][k] for k in MANIFEST_FIELDS})
    os.replace(tmp, dest / MANIFEST)


def _sha256_file(path: Path) -> Any:
    """The running sha256 of a file's bytes (run in a thread: hashing releases the GIL)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(STREAM_CHUNK):
            digest.update(chunk)
    return digest


class _Progress:
    """tqdm.auto bars for bytes and files (quiet when disabled)."""

    def __init__(self, total_bytes: int, total_files: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.bytes = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="bytes",
                          disable=not enabled)
        self.files = tqdm(total=total_files, unit="file", desc="files", disable=not enabled)

    def close(self) -> None:
        self.bytes.close()
        self.files.close()


async def _fetch(client: Client, row: pd.Series, dest: Path, manifest: dict[str, dict[str, str]],
                 report: DownloadReport, progress: _Progress) -> None:
    rel = f"{row['location']}/{row['fname']}"
    target = safe_join(dest, rel, what=f"file name of dataset {row['txid']}")
    done = manifest.get(rel)
    if target.exists() and done and int(done["size"]) == target.stat().st_size:
        if (await asyncio.to_thread(_sha256_file, target)).hexdigest() == done["sha256"]:
            report.skipped.append(rel)
            progress.bytes.update(target.stat().st_size)
            progress.files.update()
            return
    stat = await client.astat(rel)
    if stat.type != "file":
        raise EtdbError(f"{rel} is a {stat.type}, not a file")
    if pd.notna(row.get("fsize")) and int(row["fsize"]) != stat.size:
        raise EtdbError(f"{rel}: the record says {int(row['fsize'])} bytes, IPFS holds {stat.size}")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if offset > stat.size:
        part.unlink()
        offset = 0
    # resuming: the bytes already there were verified when they were written
    digest = await asyncio.to_thread(_sha256_file, part) if offset else hashlib.sha256()
    progress.bytes.update(offset)
    with open(part, "ab") as fh:
        async for chunk in client.reader.iter_range(stat.cid, offset, stat.size):
            fh.write(chunk)  # page-cache writes and hashing in place: cheaper here than a thread hop per batch
            digest.update(chunk)
            report.bytes += len(chunk)
            progress.bytes.update(len(chunk))
    os.replace(part, target)
    digest_hex = digest.hexdigest()
    manifest[rel] = {"txid": row["txid"], "path": rel, "cid": str(stat.cid), "size": str(stat.size),
                     "sha256": digest_hex}
    report.fetched.append(rel)
    progress.files.update()


async def adownload(selection: Index, kinds: Iterable[str] | str | None = None, dest: str | Path = "etdb-download",
                    workers: int = 4, client: Client | None = None, dry_run: bool = False,
                    progress: bool = True) -> DownloadReport:
    client = client or default_client()
    dest = Path(dest)
    files = select_files(selection, kinds)
    report = DownloadReport(dest, planned=plan_by_kind(files))
    if dry_run:
        return report
    dest.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(dest)
    bars = _Progress(report.planned_bytes, len(files), progress)
    limit = asyncio.Semaphore(workers)

    async def one(row: pd.Series) -> None:
        async with limit:
            try:
                await _fetch(client, row, dest, manifest, report, bars)
            except (EtdbError, OSError, ValueError) as exc:
                report.failed[f"{row['location']}/{row['fname']}"] = str(exc)
            _write_manifest(dest, manifest)

    try:
        await asyncio.gather(*(one(row) for _, row in files.iterrows()))
    finally:
        bars.close()
        _write_manifest(dest, manifest)
    records = [json.loads(r.to_json()) | {"txid": t} for t, r in selection.records.items()
               if t in set(files["txid"])]
    (dest / "metadata.json").write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    return report


def download(selection: Index, kinds: Iterable[str] | str | None = None, dest: str | Path = "etdb-download",
             workers: int = 4, client: Client | None = None, dry_run: bool = False,
             progress: bool = True) -> DownloadReport:
    """Download the files of a selection (``kinds`` from tilt-series, reconstructions, images, videos, others).

    Verified, concurrent (``workers`` files at once), resumable and atomic; ``dry_run`` only sizes the job.
    """
    return bridge.run(adownload(selection, kinds, dest, workers, client, dry_run, progress))


def report_dict(report: DownloadReport) -> dict[str, Any]:
    return {"dest": str(report.dest), "fetched": len(report.fetched), "skipped": len(report.skipped),
            "failed": report.failed, "bytes": report.bytes, "planned_bytes": report.planned_bytes,
            "planned": {k: {"files": n, "bytes": b} for k, (n, b) in report.planned.items()}}

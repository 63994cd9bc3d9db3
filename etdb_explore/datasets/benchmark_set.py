"""Benchmark sets: a frozen selection (filters, txids, every file's CID) that anyone can re-materialise bit-identically.

    bset = BenchmarkSet.freeze(idx, kinds=["reconstructions"], name="vc-recs", species="Vibrio cholerae",
                               license="CC-BY-4.0")             # the filters are applied, and recorded
    bset.save("vc-recs.json"); bset = BenchmarkSet.load("vc-recs.json")
    bset.materialize("data/"); bset.verify("data/")          # every file's CID recomputed from the local bytes
    bset.croissant()                                         # Croissant 1.0 JSON-LD for ML tooling
    for meta, vol in bset.volumes(): ...
    results = bset.map(fn, dask_client=dask_client)         # each worker streams its own data
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from etdb_explore.content.client import Client, default_client
from etdb_explore.datasets.croissant import croissant_document
from etdb_explore.datasets.download import DownloadReport, fetch_files, select_files
from etdb_explore.datasets.localcheck import local_sha256
from etdb_explore.datasets.safepaths import SafeRoot
from etdb_explore.errors import EtdbError
from etdb_explore.index.index import Index
from etdb_explore.ipfs.build.importer import add_bytes
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.records import safejson
from etdb_explore.records.kinds import normalize_kinds
from etdb_explore.util import bridge
from etdb_explore.util.files import atomic_write
from etdb_explore.util.units import human_size

FORMAT = "etdb-explore-benchmark-set/1"
FILTERS = tuple(name for name in inspect.signature(Index.mask).parameters if name != "self")  # filter's keywords


class BenchmarkSetError(EtdbError, ValueError):
    """A benchmark set cannot be made or read: unknown filters, an empty selection, a file that is not a set."""


class EmptySelectionError(BenchmarkSetError):
    """No file matches the filters and kinds of a set being frozen."""


@dataclass(frozen=True)
class FrozenFile:
    """One file of a benchmark set: its dataset's txid, IPFS path, CID and size when frozen, its kind, and its
    sha256 once known (from ``freeze(checksums=True)``, :meth:`BenchmarkSet.materialize` or
    :meth:`BenchmarkSet.verify`; empty before)."""

    txid: str
    path: str  # <location>/<fname>
    cid: str
    size: int
    subtype: str
    sha256: str = ""


@dataclass(repr=False)
class BenchmarkSet:
    """A frozen selection of ETDB files that anyone can materialise bit-identically, anywhere, later.

    It holds the filters that made it (applied by :meth:`freeze` itself, so they are what selected its files), the
    source they were applied to, its datasets' txids, every file pinned to its CID and size, the datasets' signed
    records, a licence, and each file's sha256 once known. Make one with :meth:`freeze` or :meth:`load`; share it
    with :meth:`save`; :meth:`materialize` downloads it (every byte checked against the frozen CIDs),
    :meth:`verify` checks a local copy, :meth:`croissant` describes it for ML tooling, :meth:`volumes` and
    :meth:`map` stream its volumes.

    Attributes:
        name, description, license: as given to :meth:`freeze`.
        filters: the keyword filters of :meth:`Index.filter` applied (JSON values: ranges as lists).
        source, searched: the index they were applied to, and its number of datasets.
        frozen: when the set was frozen (UTC, ISO 8601).
        txids: the selected datasets.
        files: the :class:`FrozenFile` entries.
        records: txid → the signed record (JSON), re-verified by :meth:`as_index`.
    """

    name: str
    filters: dict[str, Any]
    txids: list[str]
    files: list[FrozenFile]
    description: str = ""
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    license: str = ""
    source: str = ""
    searched: int = 0
    frozen: str = ""

    # ---- freezing -----------------------------------------------------------------------------------------------

    @classmethod
    def freeze(cls, index: Index, kinds: list[str] | str | None = None, *, name: str = "etdb-benchmark",
               description: str = "", license: str = "", filters: dict[str, Any] | None = None,
               client: Client | None = None, checksums: bool = False, workers: int = 4, progress: bool = False,
               **criteria: Any) -> BenchmarkSet:
        """Apply the filters to ``index`` and freeze the matching datasets' files of ``kinds`` (all when None), each
        resolved to its CID now (verified), so the set can never drift.

        The filters are the keywords of :meth:`Index.filter` (``species=``, ``tilt_range=``, …), given directly or as
        a ``filters`` dict; the set records exactly what was applied, to which source. ``checksums`` also reads
        every file (verified) for its sha256 now, so a saved set can be described by :meth:`croissant` before anyone
        materialises it.

        Returns:
            The benchmark set, with the selection's signed records.

        Raises:
            BenchmarkSetError: an unknown filter, or a filter given twice with different values.
            EmptySelectionError: no file matches (a BenchmarkSetError).
            KindError: an unknown kind.
            PathError, BlockNotFoundError, SourceError, VerificationError, IpfsPathError: a file cannot be resolved
                (see :meth:`Client.stat`).
            ValueError, TypeError: a filter value :meth:`Index.filter` cannot use.
        """
        applied = _merge_filters(filters or {}, criteria)
        selection = index.filter(**applied) if applied else index
        rows = select_files(selection, kinds)
        recorded = json.loads(json.dumps(applied, default=str))
        if rows.empty:
            kind_text = f"files of kinds {kinds}" if kinds else "files"
            raise EmptySelectionError(f"nothing to freeze: no {kind_text} in the {len(selection)} datasets of "
                                    f"{index.source or 'the index'} matching {recorded or 'no filter'}")
        client = client or default_client()
        files = bridge.run(_resolve_all(client, rows, checksums, workers, progress))
        records = {t: json.loads(r.to_json()) for t, r in selection.records.items()}
        return cls(name, recorded, list(selection.datasets["txid"]), files, description, records, license,
                   index.source, len(index), datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        """The set as JSON-ready data (what :meth:`save` writes).

        Returns:
            A dict with ``format``, ``name``, ``description``, ``license``, ``frozen``, ``source``, ``searched``,
            ``filters``, ``txids``, ``files`` and ``records``.
        """
        return {"format": FORMAT, "name": self.name, "description": self.description, "license": self.license,
                "frozen": self.frozen, "source": self.source, "searched": self.searched, "filters": self.filters,
                "txids": self.txids, "files": [asdict(f) for f in self.files], "records": self.records}

    def to_json(self) -> str:
        """The set as the JSON text :meth:`save` writes.

        Returns:
            The text.
        """
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False)

    def save(self, path: str | Path) -> Path:
        """Write the set as JSON to ``path`` (atomically).

        Returns:
            ``path`` as a Path.

        Raises:
            OSError: ``path`` cannot be written.
        """
        return atomic_write(path, self.to_json())

    @property
    def cid(self) -> CID:
        """The set's own content address: the CID ``ipfs add`` (Kubo's defaults) gives the file :meth:`save`
        writes."""
        return add_bytes(self.to_json().encode("utf-8")).cid

    @classmethod
    def load(cls, path: str | Path) -> BenchmarkSet:
        """Read a set written by :meth:`save` (its records are checked again by :meth:`as_index`).

        Returns:
            The benchmark set.

        Raises:
            BenchmarkSetError: naming the file, when it is not JSON, not a benchmark set of this format, or lacks a
                field or has one of the wrong type.
            OSError: ``path`` cannot be read.
        """
        raw = Path(path).read_bytes()
        try:
            data = safejson.loads(raw, f"benchmark set {path}")
        except EtdbError as exc:
            raise BenchmarkSetError(f"{path} is not a benchmark set: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise BenchmarkSetError(f"{path} is not an etdb-explore benchmark set ({found!r}, expected {FORMAT!r})")
        try:
            bset = cls(data["name"], data.get("filters", {}), data["txids"],
                       [FrozenFile(**f) for f in data["files"]], data.get("description", ""),
                       data.get("records", {}), data.get("license", ""), data.get("source", ""),
                       data.get("searched", 0), data.get("frozen", ""))
            _check_types(bset)
        except (KeyError, TypeError, EtdbError) as exc:
            raise BenchmarkSetError(f"{path} is not a valid benchmark set: {type(exc).__name__} {exc}") from None
        return bset

    @property
    def total_bytes(self) -> int:
        """Bytes of all the set's files."""
        return sum(f.size for f in self.files)

    # ---- displays ------------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        filters = ", ".join(f"{k}={v!r}" for k, v in self.filters.items()) or "no filter"
        return (f"<BenchmarkSet {self.name!r}: {len(self.txids)} datasets, {len(self.files)} files, "
                f"{human_size(self.total_bytes)}; {filters}>")

    def _repr_html_(self) -> str:
        e = html.escape
        filters = ", ".join(f"{k}={v!r}" for k, v in self.filters.items()) or "none"
        kinds = pd.Series([f.subtype for f in self.files]).value_counts()
        rows = "".join(f"<tr><td>{e(k)}</td><td>{n}</td></tr>" for k, n in kinds.items())
        shown = self.files[:10]
        listing = "".join(f"<tr><td><code>{e(f.txid[:10])}</code></td><td>{e(f.path.split('/', 1)[-1])}</td>"
                          f"<td>{e(f.subtype)}</td><td>{human_size(f.size)}</td><td><code>{e(f.cid)}</code></td></tr>"
                          for f in shown)
        more = f"<p>… and {len(self.files) - len(shown)} more files</p>" if len(self.files) > len(shown) else ""
        return (f"<div><strong>BenchmarkSet {e(self.name)}</strong>: {len(self.txids)} datasets, "
                f"{len(self.files)} files, {human_size(self.total_bytes)}<br>filters: {e(filters)} (of "
                f"{e(self.source or 'an index')}, {self.searched} datasets)<br>licence: {e(self.license or 'not given')}"
                f"<table><tr><th>kind</th><th>files</th></tr>{rows}</table>"
                f"<table><tr><th>txid</th><th>file</th><th>kind</th><th>size</th><th>CID</th></tr>{listing}</table>"
                f"{more}</div>")

    # ---- materialising and checking -----------------------------------------------------------------------------

    def as_index(self) -> Index:
        """The frozen records as an Index (signatures re-checked), with only the frozen files.

        Returns:
            The :class:`Index`; records whose signature fails are in its ``rejected`` table.
        """
        index = Index.from_records([{"artifact": r, "meta": {"txid": t}} for t, r in self.records.items()],
                                   source=f"benchmark set {self.name}")
        frozen = {f.path for f in self.files}
        paths = index.files["ipfs_path"].astype("string")
        return Index(index.datasets, index.files[paths.isin(frozen)].reset_index(drop=True), index.rejected,
                     index.source, index._records)

    def materialize(self, dest: str | Path, *, workers: int = 4, client: Client | None = None,
                    progress: bool = True) -> DownloadReport:
        """Download every frozen file into ``dest`` by its frozen CID (verified, resumable, atomic, with
        ``manifest.csv`` and ``metadata.json``), and note each file's sha256 in the set.

        A file already in ``dest`` is kept when its CID, recomputed from its bytes, is the frozen one; a re-run
        reads only the local bytes.

        Returns:
            The :class:`DownloadReport`; each failed file with the reason its download gave.

        Raises:
            OSError: ``dest`` cannot be made, or its manifest cannot be read.
            KeyboardInterrupt: Ctrl-C (files being fetched stay as ``.part`` files, resumed by the next run).
        """
        files = pd.DataFrame({
            "txid": [f.txid for f in self.files], "location": [f.path.split("/", 1)[0] for f in self.files],
            "fname": [f.path.split("/", 1)[-1] for f in self.files], "fsize": [f.size for f in self.files],
            "subtype": [f.subtype for f in self.files], "cid": [f.cid for f in self.files]})
        records = [r | {"txid": t} for t, r in self.records.items()]
        report = bridge.run(fetch_files(files, records, dest, workers, client, progress))
        self._note_sha256(report.sha256)
        return report

    def verify(self, dest: str | Path) -> dict[str, str]:
        """Problems of a local copy (missing, wrong size, CID mismatch), by path; empty when all is well.

        Each file's CID is recomputed from the local bytes with Kubo's profile of its frozen CID; its sha256,
        computed in the same read, is noted in the set (or, when the set has one, must equal it).

        Returns:
            ``{path: problem}``.

        Raises:
            UnsafePathError: a frozen path would leave ``dest`` (a tampered set file).
            OSError: a local file cannot be read.
        """
        problems, found = {}, {}
        root = SafeRoot(dest)
        for f in self.files:
            local = root.join(f.path)
            if not local.is_file():
                problems[f.path] = "missing" if not local.exists() else "not a regular file"
            elif local.stat().st_size != f.size:
                problems[f.path] = f"size {local.stat().st_size}, expected {f.size}"
            elif (digest := local_sha256(local, CID.decode(f.cid))) is None:
                problems[f.path] = f"content does not match CID {f.cid}"
            elif f.sha256 and digest != f.sha256:
                problems[f.path] = f"sha256 {digest} differs from the set's {f.sha256}"
            else:
                found[f.path] = digest
        self._note_sha256(found)
        return problems

    def _note_sha256(self, digests: dict[str, str]) -> None:
        self.files = [replace(f, sha256=digests[f.path]) if not f.sha256 and f.path in digests else f
                      for f in self.files]

    # ---- using ---------------------------------------------------------------------------------------------------

    def volumes(self, kind: str = "reconstruction", client: Client | None = None) -> Iterator[tuple[dict, Any]]:
        """(record metadata, lazy volume) pairs of the set's files of one kind (as
        :mod:`etdb_explore.records.kinds` reads it).

        Returns:
            An iterator; each volume is opened (its header read) when reached.

        Raises:
            KindError: an unknown kind.
            MrcError, PathError, BlockNotFoundError, SourceError, VerificationError: a volume cannot be opened.
        """
        from etdb_explore.volumes.open import open_tomogram

        for f in self._of_kind(kind):
            yield _metadata(f, self.records), open_tomogram(f"/ipfs/{f.cid}", client=client)

    def map(self, fn: Callable[[dict, Any], Any], kind: str = "reconstruction", *, client: Client | None = None,
            dask_client: Any = None) -> list[Any]:
        """``fn(metadata, volume)`` over the set's files of one kind, each volume read through the content
        ``client``; with a dask.distributed ``dask_client`` each task opens and streams its own volume on its worker.

        Returns:
            The results, in the order of :attr:`files`.

        Raises:
            KindError: an unknown kind.
            TypeError: ``client`` is not a content :class:`Client` (a dask client goes to ``dask_client``).
            MrcError, PathError, BlockNotFoundError, SourceError, VerificationError: a volume cannot be opened or
                read.
            Exception: whatever ``fn`` raises.
        """
        if client is not None and not isinstance(client, Client):
            raise TypeError(f"client= takes the content Client, not {type(client).__name__}; pass a dask client "
                            "as dask_client=")
        jobs = self._of_kind(kind)
        client = client or default_client()
        if dask_client is None:
            return [fn(meta, vol) for meta, vol in self.volumes(kind, client)]
        futures = dask_client.map(_run_one, [fn] * len(jobs), jobs, [self.records.get(f.txid, {}) for f in jobs],
                                  [client] * len(jobs), pure=False)
        return dask_client.gather(futures)

    def _of_kind(self, kind: str) -> list[FrozenFile]:
        subtypes = normalize_kinds(kind) or ()
        return [f for f in self.files if f.subtype.lower() in subtypes]

    # ---- ML metadata ---------------------------------------------------------------------------------------------

    def croissant(self, base_url: str = "https://ipfs.io/ipfs/", *, url: str | None = None,
                  license: str | None = None) -> dict[str, Any]:
        """Croissant 1.0 (JSON-LD) metadata of the set, for ML tooling (``mlcroissant.Dataset(jsonld=…)``).

        One FileObject per file (its URL ``base_url`` + IPFS path, size, sha256, CID); one RecordSet ``files`` with a
        record per file (path, CID, size, kind, txid and the dataset's main fields), held inline. ``url`` defaults to
        ``ipfs://`` + :attr:`cid`, the set file's own address; ``license`` to the set's.

        Returns:
            The JSON-LD document as a dict.

        Raises:
            BenchmarkSetError: a file's sha256 is not known yet (materialise or verify the set first, or freeze it
                with ``checksums=True``).
        """
        missing = [f.path for f in self.files if not f.sha256]
        if missing:
            raise BenchmarkSetError(f"no sha256 yet for {len(missing)} files (first {missing[0]}); materialize or "
                                    "verify the set first, or freeze it with checksums=True")
        return croissant_document(
            name=self.name, description=self.description or _describe(self), url=url or f"ipfs://{self.cid}",
            license=self.license if license is None else license, published=self.frozen,
            files=[asdict(f) for f in self.files], records=self.records, base_url=base_url)

def _run_one(fn: Callable[[dict, Any], Any], f: FrozenFile, record: dict[str, Any], content: Client) -> Any:
    from etdb_explore.volumes.open import open_tomogram

    return fn(_metadata(f, {f.txid: record}), open_tomogram(f"/ipfs/{f.cid}", client=content))


def _metadata(f: FrozenFile, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"txid": f.txid, "path": f.path, "cid": f.cid, **records.get(f.txid, {}).get("details", {})}


def _merge_filters(given: dict[str, Any], criteria: dict[str, Any]) -> dict[str, Any]:
    """The filters of ``filters=`` and of keywords together, checked against :meth:`Index.filter`'s."""
    for key in given.keys() & criteria.keys():
        if given[key] != criteria[key]:
            raise BenchmarkSetError(f"filter {key!r} given twice: {given[key]!r} and {criteria[key]!r}")
    applied = {k: v for k, v in {**given, **criteria}.items() if v is not None}
    unknown = sorted(set(applied) - set(FILTERS))
    if unknown:
        raise BenchmarkSetError(f"unknown filter {', '.join(map(repr, unknown))}; the filters are {', '.join(FILTERS)}")
    return applied


async def _resolve_all(client: Client, rows: pd.DataFrame, checksums: bool, workers: int,
                       progress: bool) -> list[FrozenFile]:
    """Each row's file resolved to its CID (and, with ``checksums``, read for its sha256), ``workers`` at once."""
    from tqdm.auto import tqdm

    limit = asyncio.Semaphore(workers)
    bar = tqdm(total=len(rows), unit="file", desc="freezing", disable=not progress)

    async def one(row: pd.Series) -> FrozenFile:
        rel = f"{row['location']}/{row['fname']}"
        async with limit:
            stat = await client.astat(rel)
            digest = ""
            if checksums:
                sha = hashlib.sha256()
                async for chunk in client.reader.iter_range(stat.cid, 0, stat.size):
                    sha.update(chunk)
                digest = sha.hexdigest()
        bar.update()
        return FrozenFile(row["txid"], rel, str(stat.cid), stat.size, str(row["subtype"]), digest)

    try:
        return list(await asyncio.gather(*(one(row) for _, row in rows.iterrows())))
    finally:
        bar.close()


def _check_types(bset: BenchmarkSet) -> None:
    """TypeError naming the first field of a loaded set whose type is wrong."""
    for name, value, kind in (("name", bset.name, str), ("filters", bset.filters, dict), ("txids", bset.txids, list),
                              ("records", bset.records, dict), ("license", bset.license, str),
                              ("description", bset.description, str), ("searched", bset.searched, int),
                              ("frozen", bset.frozen, str)):
        if not isinstance(value, kind):
            raise TypeError(f"field {name!r} is a {type(value).__name__}, not a {kind.__name__}")
    for f in bset.files:
        if not (isinstance(f.path, str) and isinstance(f.cid, str) and isinstance(f.size, int)
                and isinstance(f.sha256, str)):
            raise TypeError(f"file entry {f.path!r} has a field of the wrong type")
        CID.decode(f.cid)


def _describe(bset: BenchmarkSet) -> str:
    filters = ", ".join(f"{k}={v}" for k, v in bset.filters.items()) or "no filter"
    return (f"ETDB benchmark set of {len(bset.files)} files from {len(bset.txids)} datasets, selected by {filters} "
            f"from {bset.source or 'an ETDB index'}")


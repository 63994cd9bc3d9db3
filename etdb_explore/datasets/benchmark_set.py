"""Benchmark sets: a frozen selection (filters, txids, every file's CID) that anyone can re-materialise bit-identically.

    bset = BenchmarkSet.freeze(idx, kinds=["reconstructions"], name="vc-recs", species="Vibrio cholerae",
                               license="CC-BY-4.0")             # the filters are applied, and recorded
    bset.save("vc-recs.json"); bset = BenchmarkSet.load("vc-recs.json")
    bset.materialize("data/"); bset.verify("data/")          # every local byte checked against its CID again
    bset.croissant()                                         # Croissant 1.0 JSON-LD for ML tooling
    for meta, vol in bset.volumes(): ...
    results = bset.map(fn, dask_client=dask_client)         # each worker streams its own data

A set can be frozen from a joined or home index (:func:`~etdb_explore.index.joined.join_homes`, ``load_home``):
each dataset's files come from its best home, as :func:`~etdb_explore.datasets.download.download` chooses it, and
every file records that home and what its bytes are (``content``): ``ipfs-verified`` (pinned to its CID, every byte
checked), ``mirror-unverified`` (a copy on the Open Storage Network, pinned to its URL, size and the md5 the home
gives), ``rewritten`` (the CZ portal's new files). Files that are not content-addressed are re-checked by
:meth:`~BenchmarkSet.materialize` and :meth:`~BenchmarkSet.verify` against everything the set knows of them (size,
md5, the sha256 once noted), listed in :attr:`~BenchmarkSet.unverified`, and named in the Croissant export.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import inspect
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from etdb_explore.content.client import Client, default_client
from etdb_explore.content.homes import (
    IPFS_VERIFIED,
    MIRROR_UNVERIFIED,
    MIRROR_VERIFIED,
    REWRITTEN,
    HomeReader,
    HttpFile,
    default_reader,
)
from etdb_explore.datasets.croissant import croissant_document
from etdb_explore.datasets.download import HTTP_PIECE, DownloadReport, fetch_files, select_files
from etdb_explore.datasets.localcheck import file_sha256, local_digests, local_sha256
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


CONTENT_LABELS = (IPFS_VERIFIED, MIRROR_VERIFIED, MIRROR_UNVERIFIED, REWRITTEN)
_CHECKED = (IPFS_VERIFIED, MIRROR_VERIFIED)  # labels of bytes checked against a CID
# a home's index columns → the record fields the set's metadata and Croissant export read
_DETAILS = {"species": "speciesName", "tilt_min": "tiltMin", "tilt_max": "tiltMax", "tilt_step": "tiltStep",
            "defocus": "defocus", "microscope": "scopeName", "title": "title"}


@dataclass(frozen=True)
class FrozenFile:
    """One file of a benchmark set: its dataset's txid, its path in the set (``<location>/<fname>``: the IPFS path
    of an ETDB file, ``<home>/<key>/<fname>`` for another home's), CID and size when frozen, its kind, its sha256
    once known (from ``freeze(checksums=True)``, :meth:`BenchmarkSet.materialize` or :meth:`BenchmarkSet.verify`;
    empty before), and where it was frozen from: ``home`` (``etdb``, ``caltechdata``, ``czportal``), ``content``
    (one of :data:`CONTENT_LABELS`), ``url`` (a file not read from IPFS: its HTTPS URL; ``cid`` is then empty),
    ``md5`` (as the home gives it) and ``mirror`` (an ETDB file's OSN folder, read when IPFS cannot give it, its
    bytes still checked against ``cid``)."""

    txid: str
    path: str
    cid: str
    size: int
    subtype: str
    sha256: str = ""
    home: str = "etdb"
    content: str = IPFS_VERIFIED
    url: str = ""
    md5: str = ""
    mirror: str = ""


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
        unsigned: txid → what the index row of a dataset from a home without FLO signatures said of it (``home``,
            ``provenance``, ``doi`` and ``details`` in the records' field names), for datasets without a record.
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
    unsigned: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (CID, sha256) pairs whose sha256 this object took of bytes checked against the CID: never loaded, never saved
    _proven: set[tuple[str, str]] = field(default_factory=set, init=False, compare=False)

    # ---- freezing -----------------------------------------------------------------------------------------------

    @classmethod
    def freeze(cls, index: Index, kinds: list[str] | str | None = None, *, name: str = "etdb-benchmark",
               description: str = "", license: str = "", filters: dict[str, Any] | None = None,
               client: Client | None = None, checksums: bool = False, workers: int = 4, progress: bool = False,
               reader: HomeReader | None = None, **criteria: Any) -> BenchmarkSet:
        """Apply the filters to ``index`` and freeze the matching datasets' files of ``kinds`` (all when None), each
        resolved to its CID now (verified), so the set can never drift.

        The filters are the keywords of :meth:`Index.filter` (``species=``, ``tilt_range=``, …), given directly or as
        a ``filters`` dict; the set records exactly what was applied, to which source. ``checksums`` also reads
        every file (verified) for its sha256 now, so a saved set can be described by :meth:`croissant` before anyone
        materialises it.

        Of a joined or home index, each dataset's files are frozen from its best home (ETDB files by CID; an ETDB
        file IPFS cannot resolve from the dataset's OSN folder; other homes' files by URL, size and md5, read over
        HTTPS through ``reader``), each labelled (see the module).

        Returns:
            The benchmark set, with the selection's signed records.

        Raises:
            BenchmarkSetError: an unknown filter, or a filter given twice with different values.
            EmptySelectionError: no file matches (a BenchmarkSetError).
            KindError: an unknown kind.
            PathError, BlockNotFoundError, SourceError, VerificationError, IpfsPathError: a file cannot be resolved
                (see :meth:`Client.stat`), nor found in its dataset's OSN folder.
            EtdbError: another home's file has no URL, or its bytes differ from the md5 its home gives.
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
        files = bridge.run(_resolve_all(client, reader or default_reader(), rows, checksums, workers, progress))
        records = {t: json.loads(r.to_json()) for t, r in selection.records.items()}
        unsigned = _unsigned(selection.datasets, {f.txid for f in files} - records.keys())
        return cls(name, recorded, list(selection.datasets["txid"]), files, description, records, license,
                   index.source, len(index), datetime.now(timezone.utc).isoformat(timespec="seconds"), unsigned)

    def to_dict(self) -> dict[str, Any]:
        """The set as JSON-ready data (what :meth:`save` writes).

        Returns:
            A dict with ``format``, ``name``, ``description``, ``license``, ``frozen``, ``source``, ``searched``,
            ``filters``, ``txids``, ``files``, ``records`` and ``unsigned``.
        """
        return {"format": FORMAT, "name": self.name, "description": self.description, "license": self.license,
                "frozen": self.frozen, "source": self.source, "searched": self.searched, "filters": self.filters,
                "txids": self.txids, "files": [asdict(f) for f in self.files], "records": self.records,
                "unsigned": self.unsigned}

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
                       data.get("searched", 0), data.get("frozen", ""), data.get("unsigned", {}))
            _check_types(bset)
        except (KeyError, TypeError, EtdbError) as exc:
            raise BenchmarkSetError(f"{path} is not a valid benchmark set: {type(exc).__name__} {exc}") from None
        return bset

    @property
    def total_bytes(self) -> int:
        """Bytes of all the set's files."""
        return sum(f.size for f in self.files)

    @property
    def unverified(self) -> dict[str, str]:
        """The files whose bytes no CID checks (read from a mirror, or rewritten by the portal): path → label."""
        return {f.path: f.content for f in self.files if f.content not in _CHECKED}

    @property
    def homes(self) -> dict[str, int]:
        """How many of the set's files each home gives."""
        return dict(pd.Series([f.home for f in self.files], dtype=object).value_counts())

    # ---- displays ------------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        filters = ", ".join(f"{k}={v!r}" for k, v in self.filters.items()) or "no filter"
        unverified = f", {len(self.unverified)} not content-addressed" if self.unverified else ""
        return (f"<BenchmarkSet {self.name!r}: {len(self.txids)} datasets, {len(self.files)} files{unverified}, "
                f"{human_size(self.total_bytes)}; {filters}>")

    def _repr_html_(self) -> str:
        e = html.escape
        filters = ", ".join(f"{k}={v!r}" for k, v in self.filters.items()) or "none"
        kinds = pd.Series([f.subtype for f in self.files]).value_counts()
        rows = "".join(f"<tr><td>{e(k)}</td><td>{n}</td></tr>" for k, n in kinds.items())
        shown = self.files[:10]
        listing = "".join(f"<tr><td><code>{e(f.txid[:10])}</code></td><td>{e(f.path.split('/', 1)[-1])}</td>"
                          f"<td>{e(f.subtype)}</td><td>{human_size(f.size)}</td><td>{e(f.home)}</td>"
                          f"<td>{e(f.content)}</td><td><code>{e(f.cid or f.url)}</code></td></tr>" for f in shown)
        unverified = (f"<br><strong>{len(self.unverified)} files are not content-addressed</strong> (no CID checks "
                      f"their bytes: {e(', '.join(sorted(set(self.unverified.values()))))})" if self.unverified else "")
        more = f"<p>… and {len(self.files) - len(shown)} more files</p>" if len(self.files) > len(shown) else ""
        return (f"<div><strong>BenchmarkSet {e(self.name)}</strong>: {len(self.txids)} datasets, "
                f"{len(self.files)} files, {human_size(self.total_bytes)}<br>filters: {e(filters)} (of "
                f"{e(self.source or 'an index')}, {self.searched} datasets)<br>licence: {e(self.license or 'not given')}"
                f"{unverified}<table><tr><th>kind</th><th>files</th></tr>{rows}</table>"
                f"<table><tr><th>txid</th><th>file</th><th>kind</th><th>size</th><th>home</th><th>content</th>"
                f"<th>CID or URL</th></tr>{listing}</table>"
                f"{more}</div>")

    # ---- materialising and checking -----------------------------------------------------------------------------

    def as_index(self) -> Index:
        """The frozen records as an Index (signatures re-checked), with only the frozen files (datasets of homes
        without records are left out: see :attr:`unsigned`).

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
                    progress: bool = True, reader: HomeReader | None = None) -> DownloadReport:
        """Download every frozen file into ``dest`` by its frozen CID (verified, resumable, atomic, with
        ``manifest.csv`` and ``metadata.json``), and note each file's sha256 in the set.

        A file already in ``dest`` is kept when its CID, recomputed from its bytes, is the frozen one; a re-run
        reads only the local bytes. An ETDB file IPFS cannot give is read from its OSN folder and kept only when
        its recomputed CID is the frozen one. A file frozen by URL (not content-addressed) is fetched through
        ``reader`` and checked against its frozen size, md5 and sha256 where the set has them (a mismatch fails it);
        ``report.unverified`` lists such files with their label, ``report.checked`` what was checked of them.

        Returns:
            The :class:`DownloadReport`; each failed file with the reason its download gave.

        Raises:
            OSError: ``dest`` cannot be made, or its manifest cannot be read.
            KeyboardInterrupt: Ctrl-C (files being fetched stay as ``.part`` files, resumed by the next run).
        """
        files = pd.DataFrame([_download_row(f) for f in self.files])
        records = [r | {"txid": t} for t, r in self.records.items()] + \
            [r | {"txid": t} for t, r in self.unsigned.items()]
        report = bridge.run(fetch_files(files, records, dest, workers, client, progress, reader))
        self._note_sha256(report.sha256)
        cids = {f.path: f.cid for f in self.files}
        self._proven.update((cids[path], digest) for path, digest in report.sha256.items()
                            if cids.get(path) and path not in report.unverified)  # digests of CID-checked bytes
        return report

    def verify(self, dest: str | Path, *, workers: int = 4) -> dict[str, str]:
        """Problems of a local copy (missing, wrong size, CID mismatch), by path; empty when all is well.

        Every file's bytes are read again, ``workers`` files at once. Each file's CID is recomputed from them with
        Kubo's profile of its frozen CID; its sha256, computed in the same read, is noted in the set (or, when the
        set has one, must equal it). A file whose sha256 this set object itself took of bytes checked against the
        frozen CID (by :meth:`materialize` or an earlier full check) is checked by that sha256 alone: equal digests
        mean equal bytes, so the CID holds as surely, in one pass instead of two. A file without a CID (see
        :attr:`unverified`) is checked against its size, its md5 and its sha256 where the set has them.

        Returns:
            ``{path: problem}``.

        Raises:
            UnsafePathError: a frozen path would leave ``dest`` (a tampered set file).
            OSError: a local file cannot be read.
        """
        root = SafeRoot(dest)
        targets = [root.join(f.path) for f in self.files]
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="etdb-verify") as pool:
            results = list(pool.map(self._check, self.files, targets))
        problems = {f.path: problem for f, (problem, _) in zip(self.files, results) if problem}
        found = {f.path: digest for f, (_, digest) in zip(self.files, results) if digest}
        self._note_sha256(found)
        self._proven.update((f.cid, found[f.path]) for f in self.files if f.cid and f.path in found)
        return problems

    def _check(self, f: FrozenFile, local: Path) -> tuple[str | None, str | None]:
        """(problem, None) for a local file that is not ``f``, else (None, its sha256); run in a worker thread."""
        if not local.is_file():
            return ("missing" if not local.exists() else "not a regular file"), None
        size = local.stat().st_size
        if size != f.size:
            return f"size {size}, expected {f.size}", None
        if not f.cid:
            sha256, md5 = local_digests(local)
            if f.md5 and md5 != f.md5:
                return f"md5 {md5} differs from the {f.md5} its home gives ({f.content})", None
            if f.sha256 and sha256 != f.sha256:
                return f"sha256 {sha256} differs from the set's {f.sha256} ({f.content})", None
            return None, sha256
        if (f.cid, f.sha256) in self._proven:
            digest = file_sha256(local)
            return (None, digest) if digest == f.sha256 else (f"content does not match CID {f.cid}", None)
        digest = local_sha256(local, CID.decode(f.cid))
        if digest is None:
            return f"content does not match CID {f.cid}", None
        if f.sha256 and digest != f.sha256:
            return f"sha256 {digest} differs from the set's {f.sha256}", None
        return None, digest

    def _note_sha256(self, digests: dict[str, str]) -> None:
        self.files = [replace(f, sha256=digests[f.path]) if not f.sha256 and f.path in digests else f
                      for f in self.files]

    # ---- using ---------------------------------------------------------------------------------------------------

    def volumes(self, kind: str = "reconstruction", client: Client | None = None,
                reader: HomeReader | None = None) -> Iterator[tuple[dict, Any]]:
        """(record metadata, lazy volume) pairs of the set's files of one kind (as
        :mod:`etdb_explore.records.kinds` reads it); a file frozen by URL is read through ``reader`` and its
        volume's ``metadata["read_from"]`` carries its label.

        Returns:
            An iterator; each volume is opened (its header read) when reached.

        Raises:
            KindError: an unknown kind.
            MrcError, PathError, BlockNotFoundError, SourceError, VerificationError: a volume cannot be opened.
        """
        for f in self._of_kind(kind):
            yield _metadata(f, self._metadata_of(f)), _open(f, self._metadata_of(f), client, reader)

    def _metadata_of(self, f: FrozenFile) -> dict[str, Any]:
        return self.records.get(f.txid) or self.unsigned.get(f.txid, {})

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
        futures = dask_client.map(_run_one, [fn] * len(jobs), jobs, [self._metadata_of(f) for f in jobs],
                                  [client] * len(jobs), pure=False)
        return dask_client.gather(futures)

    def _of_kind(self, kind: str) -> list[FrozenFile]:
        subtypes = normalize_kinds(kind) or ()
        return [f for f in self.files if f.subtype.lower() in subtypes]

    # ---- ML metadata ---------------------------------------------------------------------------------------------

    def croissant(self, base_url: str = "https://ipfs.io/ipfs/", *, url: str | None = None,
                  license: str | None = None) -> dict[str, Any]:
        """Croissant 1.0 (JSON-LD) metadata of the set, for ML tooling (``mlcroissant.Dataset(jsonld=…)``).

        One FileObject per file (its URL ``base_url`` + IPFS path, size, sha256, CID; a file frozen by URL: that URL,
        its md5 where known, and a description saying it is not content-addressed); one RecordSet ``files`` with a
        record per file (path, CID, size, kind, txid, home, content label and the dataset's main fields), held
        inline. The description says how many files are not content-addressed. ``url`` defaults to ``ipfs://`` +
        :attr:`cid`, the set file's own address; ``license`` to the set's.

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
            files=[asdict(f) for f in self.files], records={**self.unsigned, **self.records}, base_url=base_url)

def _run_one(fn: Callable[[dict, Any], Any], f: FrozenFile, record: dict[str, Any], content: Client) -> Any:
    return fn(_metadata(f, record), _open(f, record, content, None))


def _metadata(f: FrozenFile, record: dict[str, Any]) -> dict[str, Any]:
    return {"txid": f.txid, "path": f.path, "cid": f.cid, "home": f.home, "content": f.content,
            **record.get("details", {})}


def _open(f: FrozenFile, record: dict[str, Any], client: Client | None, reader: HomeReader | None) -> Any:
    """The lazy volume of a frozen file: by its CID, or over HTTPS with its label."""
    from etdb_explore.volumes.open import open_tomogram
    from etdb_explore.volumes.volume import Volume

    if f.cid:
        return open_tomogram(f"/ipfs/{f.cid}", client=client)
    source = HttpFile(reader or default_reader(), f.url, f.size, f.content)
    read_from = {"home": f.home, "content": f.content, "where": f.url, "passed_over": []}
    return Volume.open(source, {**_metadata(f, record), "read_from": read_from})


def _download_row(f: FrozenFile) -> dict[str, Any]:
    """A frozen file as a row of the download engine's files table."""
    location, _, fname = f.path.partition("/")
    if f.home != "etdb":
        location, _, fname = f.path.partition("/")[2].partition("/")
        location = f"{f.path.split('/', 1)[0]}/{location}"
    return {"txid": f.txid, "location": location, "fname": fname, "fsize": f.size, "subtype": f.subtype,
            "cid": f.cid or None, "home": f.home, "url": f.url or None, "md5": f.md5 or None,
            "content": f.content, "sha256": f.sha256 or None, "mirror_url": f.mirror or None}


def _unsigned(datasets: pd.DataFrame, txids: set[str]) -> dict[str, dict[str, Any]]:
    """What the index rows of datasets without a signed record say of them (their ``details`` in the records'
    field names)."""
    out = {}
    for row in datasets[datasets["txid"].isin(txids)].to_dict("records"):
        details = {field: _plain(row.get(column)) for column, field in _DETAILS.items()}
        out[str(row["txid"])] = {"home": _plain(row.get("source")), "provenance": _plain(row.get("provenance")),
                                 "doi": _plain(row.get("doi")),
                                 "details": {k: v for k, v in details.items() if v is not None}}
    return out


def _plain(value: Any) -> Any:
    """A DataFrame cell as plain JSON data (None for missing)."""
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else str(value) if not isinstance(value, (str, int, float)) \
        else value


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


async def _freeze_ipfs(client: Client, reader: HomeReader, row: dict[str, Any], rel: str,
                       checksums: bool) -> FrozenFile:
    """An ETDB file pinned to its CID (read for its sha256 with ``checksums``); from its dataset's OSN folder
    (``mirror-unverified``) when its IPFS path cannot be resolved."""
    mirror = row.get("mirror_url") if isinstance(row.get("mirror_url"), str) else ""
    try:
        stat = await client.astat(rel)
    except (EtdbError, OSError) as exc:
        if not mirror:
            raise
        found = [o for o in await reader.listdir(mirror)
                 if o.key == row["fname"] or o.key.endswith("/" + str(row["fname"]))]
        if not found:
            raise EtdbError(f"{exc} (and the OSN folder {mirror} has no {row['fname']})") from exc
        return await _freeze_http(reader, {**row, "home": "caltechdata", "url": found[0].url,
                                           "fsize": found[0].size, "content": "mirror"},
                                  f"caltechdata/{row['txid']}/{row['fname']}", checksums)
    digest = ""
    if checksums:
        sha = hashlib.sha256()
        async for chunk in client.reader.iter_range(stat.cid, 0, stat.size):
            sha.update(chunk)
        digest = sha.hexdigest()
    return FrozenFile(row["txid"], rel, str(stat.cid), stat.size, str(row["subtype"]), digest, mirror=mirror)


async def _freeze_http(reader: HomeReader, row: dict[str, Any], rel: str, checksums: bool) -> FrozenFile:
    """Another home's file pinned to its URL, size and md5 (read for its sha256, its md5 checked, with
    ``checksums``)."""
    url = row.get("url")
    if not isinstance(url, str) or not url:
        raise EtdbError(f"{rel}: its home gives no URL to read it from")
    size = int(row["fsize"]) if pd.notna(row.get("fsize")) else (await reader.size(url))[1]
    md5 = row["md5"] if isinstance(row.get("md5"), str) else ""
    content = REWRITTEN if row.get("content") == "rewritten" else MIRROR_UNVERIFIED
    digest = ""
    if checksums:
        sha, check = hashlib.sha256(), hashlib.md5()  # the md5 the home gives, compared
        for start in range(0, size, HTTP_PIECE):
            chunk = await reader.read(url, start, min(size, start + HTTP_PIECE))
            sha.update(chunk)
            check.update(chunk)
        if md5 and check.hexdigest() != md5:
            raise EtdbError(f"{url}: md5 {check.hexdigest()}, its home gives {md5}")
        digest = sha.hexdigest()
    return FrozenFile(row["txid"], rel, "", size, str(row["subtype"]), digest, str(row["home"]), content, url, md5)


async def _resolve_all(client: Client, reader: HomeReader, rows: pd.DataFrame, checksums: bool, workers: int,
                       progress: bool) -> list[FrozenFile]:
    """Each row's file resolved to its CID or URL (and, with ``checksums``, read for its sha256), ``workers`` at
    once."""
    from tqdm.auto import tqdm

    limit = asyncio.Semaphore(workers)
    bar = tqdm(total=len(rows), unit="file", desc="freezing", disable=not progress)

    async def one(row: dict[str, Any]) -> FrozenFile:
        rel = f"{row['location']}/{row['fname']}"
        async with limit:
            if row.get("home", "etdb") in ("etdb", None) or pd.isna(row.get("home")):
                frozen = await _freeze_ipfs(client, reader, row, rel, checksums)
            else:
                frozen = await _freeze_http(reader, row, rel, checksums)
        bar.update()
        return frozen

    try:
        return list(await asyncio.gather(*(one(row) for row in rows.to_dict("records"))))
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
    if not isinstance(bset.unsigned, dict):
        raise TypeError(f"field 'unsigned' is a {type(bset.unsigned).__name__}, not a dict")
    for f in bset.files:
        if not (isinstance(f.path, str) and isinstance(f.cid, str) and isinstance(f.size, int)
                and all(isinstance(v, str) for v in (f.sha256, f.home, f.content, f.url, f.md5, f.mirror))):
            raise TypeError(f"file entry {f.path!r} has a field of the wrong type")
        if f.content not in CONTENT_LABELS:
            raise TypeError(f"file entry {f.path!r} has content {f.content!r}, not one of {CONTENT_LABELS}")
        if f.cid:
            CID.decode(f.cid)
        elif not f.url or f.content in _CHECKED:
            raise TypeError(f"file entry {f.path!r} has neither a CID nor a URL to read it from")


def _describe(bset: BenchmarkSet) -> str:
    filters = ", ".join(f"{k}={v}" for k, v in bset.filters.items()) or "no filter"
    return (f"ETDB benchmark set of {len(bset.files)} files from {len(bset.txids)} datasets, selected by {filters} "
            f"from {bset.source or 'an ETDB index'}")


"""Benchmark sets: a frozen selection (filter, txids, every file's CID) that anyone can re-materialise bit-identically.

    bset = BenchmarkSet.freeze(idx.filter(species="Vibrio cholerae"), kinds=["reconstructions"], name="vc-recs",
                               filters={"species": "Vibrio cholerae"})
    bset.save("vc-recs.json"); bset = BenchmarkSet.load("vc-recs.json")
    bset.materialize("data/"); bset.verify("data/")          # every file's CID recomputed from the local bytes
    for meta, vol in bset.volumes(): ...
    results = bset.map(fn, dask_client=dask_client)         # each worker streams its own data
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from etdb_explore.content.client import Client, default_client
from etdb_explore.datasets.download import DownloadReport, download, select_files
from etdb_explore.datasets.safepaths import safe_join
from etdb_explore.errors import EtdbError
from etdb_explore.index.index import Index
from etdb_explore.ipfs.build.importer import KUBO_CIDV1, KUBO_DEFAULT, add_file
from etdb_explore.ipfs.formats.cid import CID
from etdb_explore.records.kinds import normalize_kinds
from etdb_explore.util import bridge
from etdb_explore.util.files import atomic_write

FORMAT = "etdb-explore-benchmark-set/1"


@dataclass(frozen=True)
class FrozenFile:
    """One file of a benchmark set: its dataset's txid, IPFS path, CID and size when frozen, and its kind."""

    txid: str
    path: str  # <location>/<fname>
    cid: str
    size: int
    subtype: str


@dataclass
class BenchmarkSet:
    """A frozen selection: the filters that made it, its datasets' txids, every file pinned to its CID, and the
    signed records; saved as JSON, materialised and checked anywhere. Make one with :meth:`freeze` or :meth:`load`.
    """

    name: str
    filters: dict[str, Any]
    txids: list[str]
    files: list[FrozenFile]
    description: str = ""
    records: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    # ---- freezing -----------------------------------------------------------------------------------------------

    @classmethod
    def freeze(cls, selection: Index, kinds: list[str] | str | None = None, *, name: str = "etdb-benchmark",
               filters: dict[str, Any] | None = None, description: str = "", client: Client | None = None
               ) -> BenchmarkSet:
        """Freeze ``selection``'s files of ``kinds`` (all when None): each resolved to its CID now (verified), so the
        set can never drift.

        Returns:
            The benchmark set, with the selection's signed records.

        Raises:
            KindError: an unknown kind.
            PathError, BlockNotFoundError, SourceError, VerificationError, IpfsPathError: a file cannot be resolved
                (see :meth:`Client.stat`).
        """
        client = client or default_client()
        rows = select_files(selection, kinds)

        async def resolve() -> list[FrozenFile]:
            out = []
            for _, row in rows.iterrows():
                rel = f"{row['location']}/{row['fname']}"
                stat = await client.astat(rel)
                out.append(FrozenFile(row["txid"], rel, str(stat.cid), stat.size, str(row["subtype"])))
            return out

        records = {t: json.loads(r.to_json()) for t, r in selection.records.items()}
        return cls(name, dict(filters or {}), list(selection.datasets["txid"]), bridge.run(resolve()), description,
                   records)

    def to_dict(self) -> dict[str, Any]:
        """The set as JSON-ready data (what :meth:`save` writes).

        Returns:
            A dict with ``format``, ``name``, ``description``, ``filters``, ``txids``, ``files`` and ``records``.
        """
        return {"format": FORMAT, "name": self.name, "description": self.description, "filters": self.filters,
                "txids": self.txids, "files": [asdict(f) for f in self.files], "records": self.records}

    def save(self, path: str | Path) -> Path:
        """Write the set as JSON to ``path`` (atomically).

        Returns:
            ``path`` as a Path.

        Raises:
            OSError: ``path`` cannot be written.
        """
        return atomic_write(path, json.dumps(self.to_dict(), indent=1, default=str, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> BenchmarkSet:
        """Read a set written by :meth:`save`.

        Returns:
            The benchmark set.

        Raises:
            EtdbError: the file is not a benchmark set of this format.
            OSError: ``path`` cannot be read.
            ValueError: it is not JSON.
            KeyError, TypeError: a set of this format lacks a field, or has one of the wrong type.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise EtdbError(f"{path} is not an etdb-explore benchmark set ({data.get('format')!r})")
        return cls(data["name"], data.get("filters", {}), data["txids"], [FrozenFile(**f) for f in data["files"]],
                   data.get("description", ""), data.get("records", {}))

    @property
    def total_bytes(self) -> int:
        """Bytes of all the set's files."""
        return sum(f.size for f in self.files)

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
        """Download every frozen file into ``dest`` (verified, resumable), then check it against its frozen CID.

        Returns:
            The :class:`DownloadReport`, with the problems :meth:`verify` finds added to ``failed``.

        Raises:
            As :func:`~etdb_explore.datasets.download.download`; UnsafePathError as :meth:`verify`.
        """
        index = self.as_index()
        report = download(index, None, dest, workers, client, progress=progress)
        for path, problem in self.verify(dest).items():
            report.failed[path] = problem
        return report

    def verify(self, dest: str | Path) -> dict[str, str]:
        """Problems of a local copy (missing, wrong size, CID mismatch), by path; empty when all is well.

        Each file's CID is recomputed from the local bytes with Kubo's profile of its frozen CID.

        Returns:
            ``{path: problem}``.

        Raises:
            UnsafePathError: a frozen path would leave ``dest`` (a tampered set file).
            OSError: a local file cannot be read.
        """
        problems = {}
        for f in self.files:
            local = safe_join(dest, f.path)
            if not local.exists():
                problems[f.path] = "missing"
                continue
            if local.stat().st_size != f.size:
                problems[f.path] = f"size {local.stat().st_size}, expected {f.size}"
                continue
            frozen = CID.decode(f.cid)
            profile = KUBO_DEFAULT if frozen.version == 0 else KUBO_CIDV1
            if add_file(local, profile).cid != frozen:
                problems[f.path] = f"content does not match CID {f.cid}"
        return problems

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

    def croissant(self, base_url: str = "https://ipfs.io/ipfs/") -> dict[str, Any]:
        """Croissant (JSON-LD) metadata of the set, for ML tooling; file URLs start with ``base_url``.

        Returns:
            The JSON-LD document as a dict: one FileObject per file, one RecordSet of the datasets' main fields.
        """
        return {
            "@context": {"@vocab": "https://schema.org/", "cr": "http://mlcommons.org/croissant/",
                         "sc": "https://schema.org/", "dct": "http://purl.org/dc/terms/"},
            "@type": "sc:Dataset",
            "dct:conformsTo": "http://mlcommons.org/croissant/1.0",
            "name": self.name,
            "description": self.description or f"ETDB benchmark set of {len(self.txids)} datasets",
            "url": base_url,
            "license": "https://creativecommons.org/licenses/by/4.0/",
            "distribution": [{
                "@type": "cr:FileObject", "@id": f.path, "name": f.path.rsplit("/", 1)[-1],
                "contentUrl": f"{base_url}{f.path}", "contentSize": f"{f.size} B",
                "encodingFormat": "application/octet-stream" if f.path.endswith((".mrc", ".rec", ".st"))
                else "image/jpeg" if f.path.endswith(".jpg") else "text/plain",
                "identifier": f"ipfs://{f.cid}"} for f in self.files],
            "recordSet": [{
                "@type": "cr:RecordSet", "name": "datasets",
                "field": [{"@type": "cr:Field", "name": n, "dataType": t} for n, t in (
                    ("txid", "sc:Text"), ("speciesName", "sc:Text"), ("tiltMin", "sc:Float"),
                    ("tiltMax", "sc:Float"), ("defocus", "sc:Float"), ("scopeName", "sc:Text"))],
                "data": [{"txid": t, **{k: r.get("details", {}).get(k) for k in (
                    "speciesName", "tiltMin", "tiltMax", "defocus", "scopeName")}} for t, r in self.records.items()],
            }],
        }


def _run_one(fn: Callable[[dict, Any], Any], f: FrozenFile, record: dict[str, Any], content: Client) -> Any:
    from etdb_explore.volumes.open import open_tomogram

    return fn(_metadata(f, {f.txid: record}), open_tomogram(f"/ipfs/{f.cid}", client=content))


def _metadata(f: FrozenFile, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"txid": f.txid, "path": f.path, "cid": f.cid, **records.get(f.txid, {}).get("details", {})}

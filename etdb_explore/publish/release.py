"""A lab's release: its metadata table plus one folder per dataset → content in IPFS → signed records → the
publish log → (optionally) the FLO chain.

    release = Release(table, root="/data/tomo", columns={"Organism": "species"})
    release.problems                 # a DataFrame of per-row, per-field problems (empty: ready)
    print(release.dry_run(key))      # the cost estimate; nothing is added, signed into the log or sent
    release.publish("release.sqlite", key, store=LocalStore(), offline=True)   # signed floData into the log
    release.publish("release.sqlite", key, store=LocalStore(), node=FlodRpc("http://user:pw@127.0.0.1:7313/"))

Each step is written to the publish log before the next starts (every folder noted as it is added, then the records
of all of them signed on every core and written in one transaction), so running ``publish`` again after any crash
goes on where it stopped: folders already added are not added again, records already signed keep their signature
and timestamp, and no part is broadcast twice (see :mod:`etdb_explore.publish.broadcast`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from etdb_explore.errors import EtdbError
from etdb_explore.ipfs.sources.store import LocalStore
from etdb_explore.publish.content import add_dataset, export_dataset_car
from etdb_explore.publish.estimate import DEFAULT_FEE_RATE, Estimate, estimate
from etdb_explore.publish.filetypes import dataset_files
from etdb_explore.publish.log import PublishLog, open_log
from etdb_explore.publish.messages import sign_records
from etdb_explore.publish.table import (
    FIELDS,
    FOLDER,
    PROBLEM_COLUMNS,
    artifact_fields,
    problem_rows,
    resolve_mapping,
    row_fields,
)
from etdb_explore.records.artifact import normalize_artifact
from etdb_explore.records.flo import PrivateKey
from etdb_explore.records.record import Record
from etdb_explore.util import bridge

if TYPE_CHECKING:
    from etdb_explore.index.sources.flod import FlodRpc
    from etdb_explore.ipfs.sources.kubo import KuboSource

PLACEHOLDER_LOCATION = "bafybei" + "q" * 52  # a CIDv1 (sha2-256, base32) is 59 characters: dry runs hash nothing


class ReleaseProblems(EtdbError):
    """The release's table has problems; ``problems`` is the DataFrame of them (row, field, column, value,
    problem)."""

    def __init__(self, problems: pd.DataFrame) -> None:
        lines = [f"row {r.row}: {r.field} {r.problem}" for r in problems.head(10).itertuples()]
        more = f"\n… and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} problems in the release table:\n" + "\n".join(lines) + more)
        self.problems = problems


@dataclass(frozen=True)
class DryRun:
    """What publishing the release would do: the records it would sign and what sending them would cost."""

    records: pd.DataFrame
    estimate: Estimate

    def __str__(self) -> str:
        files = int(self.records["n_files"].sum())
        size = int(self.records["bytes"].sum())
        return f"dry run: {len(self.records)} datasets, {files} files, {size:,} bytes of data\n{self.estimate}"

    def _repr_html_(self) -> str:
        return f"<pre>{self}</pre>" + self.records._repr_html_()


class Release:
    """A lab's release: ``table`` (one row per dataset; from CSV, Excel, ``pd.read_sql``, …) and its folders.

    Args:
        table: the metadata; columns named like :data:`~etdb_explore.publish.table.FIELDS` are used as they are.
        folders: one folder per row (else the table's ``folder`` column).
        root: where relative folders are.
        columns: table column → field, for columns named otherwise (``{"Organism": "species"}``).
        defaults: field → value for every row that leaves it empty (``{"institution": "Caltech"}``).
        file_kinds: per row (the table's index label), a file path inside its folder → kind, overriding what the
            folder layout says (:mod:`etdb_explore.publish.filetypes`).

    Raises:
        MappingError: ``columns`` names a missing column or an unknown field.
        EtdbError: no folders are given, their count is not the table's, or a default names an unknown field.
    """

    def __init__(self, table: pd.DataFrame, folders: Sequence[str | Path] | None = None, *,
                 root: str | Path | None = None, columns: Mapping[str, str] | None = None,
                 defaults: Mapping[str, Any] | None = None,
                 file_kinds: Mapping[Any, Mapping[str, str]] | None = None) -> None:
        self.table = table.copy()
        self.mapping = resolve_mapping(self.table, columns)
        for name, value in (defaults or {}).items():
            if name not in FIELDS:
                raise EtdbError(f"default for {name!r}: not a Research-Tomogram field")
            column = self.mapping.setdefault(name, name)
            self.table[column] = self.table[column].where(self.table[column].notna(), value) \
                if column in self.table else value
        root = Path(root) if root is not None else None
        if folders is not None:
            paths = [Path(f) for f in folders]
            if len(paths) != len(self.table):
                raise EtdbError(f"{len(paths)} folders for {len(self.table)} table rows")
        elif FOLDER in self.mapping:
            paths = [None if pd.isna(f) or not str(f).strip() else Path(str(f)) for f in self.table[self.mapping[FOLDER]]]
        else:
            raise EtdbError("give the dataset folders: folders=[…] or a 'folder' column")
        self.folders: list[Path | None] = [root / p if root is not None and p is not None and not p.is_absolute()
                                           else p for p in paths]
        self.file_kinds = dict(file_kinds or {})

    def __len__(self) -> int:
        return len(self.table)

    @property
    def problems(self) -> pd.DataFrame:
        """Every problem of the table and its folders, one row per (table row, field).

        Returns:
            The problems (empty when the release is ready).
        """
        return self._scan()[0]

    def _scan(self) -> tuple[pd.DataFrame, dict[Any, list[dict[str, Any]]]]:
        """The problems, and the file entries of each folder found readable (table row label → entries)."""
        rows = problem_rows(self.table, self.mapping)
        files = {}
        for label, folder in zip(self.table.index, self.folders):
            if folder is None:
                rows.append([label, FOLDER, self.mapping.get(FOLDER, ""), None, "is missing (mandatory)"])
            elif not folder.is_dir():
                rows.append([label, FOLDER, self.mapping.get(FOLDER, ""), str(folder), "is not a folder"])
            else:
                try:
                    files[label] = dataset_files(folder, self.file_kinds.get(label))
                    if not files[label]:
                        rows.append([label, FOLDER, self.mapping.get(FOLDER, ""), str(folder), "holds no files"])
                except (EtdbError, OSError) as exc:
                    rows.append([label, FOLDER, self.mapping.get(FOLDER, ""), str(folder), str(exc)])
        return pd.DataFrame(rows, columns=PROBLEM_COLUMNS), files

    def _repr_html_(self) -> str:
        problems = self.problems
        head = f"<p>Release of {len(self)} datasets: " + (
            "ready to publish.</p>" if problems.empty else f"{len(problems)} problems to fix first.</p>")
        return head + (self.table if problems.empty else problems)._repr_html_()

    def _check(self) -> dict[Any, list[dict[str, Any]]]:
        """The file entries of each row's folder (see :meth:`_scan`); ReleaseProblems when there are problems."""
        problems, files = self._scan()
        if not problems.empty:
            raise ReleaseProblems(problems)
        return files

    def record(self, label: Any, location: str, key: PrivateKey, timestamp: int | None = None) -> Record:
        """The signed record of the dataset in table row ``label``, stored at ``location``.

        Returns:
            The record (type research, subtype tomogram, its files from the folder).

        Raises:
            ReleaseProblems: the row has problems.
        """
        return self._unsigned(label, location, timestamp).signed(key)

    def _unsigned(self, label: Any, location: str, timestamp: int | None = None,
                  files: list[dict[str, Any]] | None = None) -> Record:
        folder = self.folders[self.table.index.get_loc(label)]
        values, problems = row_fields(self.table.loc[label], self.mapping)
        if folder is None:
            problems.append((FOLDER, "is missing (mandatory)"))
        if problems:
            raise ReleaseProblems(pd.DataFrame([[label, f, self.mapping.get(f, ""), None, p] for f, p in problems],
                                               columns=PROBLEM_COLUMNS))
        assert folder is not None  # (a missing folder is one of the problems above)
        if files is None:
            files = dataset_files(folder, self.file_kinds.get(label))
        artifact = {"timestamp": int(time.time()) if timestamp is None else timestamp, "type": "research",
                    "subtype": "tomogram", **artifact_fields(values),
                    "storage": {"network": "ipfs", "location": location, "files": files}}
        return Record(normalize_artifact(artifact))

    def dry_run(self, key: PrivateKey | None = None, fee_rate: float = DEFAULT_FEE_RATE) -> DryRun:
        """What publishing would sign and cost; nothing is read from the files, stored, logged or sent.

        ``key`` None signs with a throwaway key (the sizes are the same).

        Returns:
            The :class:`DryRun`.

        Raises:
            ReleaseProblems: the table or a folder has problems.
        """
        self._check()
        key = key or PrivateKey.generate("mainnet")
        rows, messages = [], []
        for label in self.table.index:
            record = self.record(label, PLACEHOLDER_LOCATION, key)
            message = record.to_flodata()
            messages.append(message)
            rows.append([label, record.title, str(self.folders[self.table.index.get_loc(label)]), len(record.files),
                         sum(f.get("fsize", 0) for f in record.files), len(message.encode("utf-8"))])
        table = pd.DataFrame(rows, columns=["row", "title", "folder", "n_files", "bytes", "flodata_bytes"])
        return DryRun(table, estimate(messages, key.address, fee_rate))

    def publish(self, log: str | Path | PublishLog, key: PrivateKey, *, store: LocalStore | None = None,
                kubo: KuboSource | None = None, nocopy: bool = True, node: FlodRpc | None = None,
                offline: bool = False, car_dir: str | Path | None = None, fee_rate: float = DEFAULT_FEE_RATE,
                progress: bool = True) -> pd.DataFrame:
        """Add each folder, sign each record into the publish log, then broadcast through ``node`` (or, with
        ``offline``, stop there: the log holds the signed floData for a later
        :func:`~etdb_explore.publish.broadcast.broadcast`).

        Folders go to ``kubo`` when given, else to ``store`` (default: the user's store) with no-copy references.
        ``car_dir`` also writes ``<location>.car`` per dataset (local store only).

        Returns:
            The log's records and their progress (:meth:`PublishLog.records`).

        Raises:
            ReleaseProblems: the table or a folder has problems (nothing is done).
            PublishLogBusy: another run holds the log.
            RpcError, SourceError: broadcasting failed (run again to go on; nothing is sent twice).
            EtdbError: neither ``node`` nor ``offline`` is given.
        """
        if node is None and not offline:
            raise EtdbError("say where the records go: node=FlodRpc(…) to broadcast, or offline=True to only sign "
                            "them into the publish log")
        files = self._check()
        with open_log(log) as plog:
            if kubo is None and store is None:
                store = LocalStore()
            added = [self._add_one(plog, label, folder, store, kubo, nocopy, car_dir, progress)
                     for label, folder in zip(self.table.index, self.folders)]
            self._sign_added(plog, [item for item in added if item is not None], key, files)
            if node is not None and not offline:
                from etdb_explore.publish.broadcast import Broadcaster  # the node's client: only when it is used

                bridge.run(Broadcaster(node, fee_rate=fee_rate).run(plog, key))
            return plog.records()

    def _add_one(self, log: PublishLog, label: Any, folder: Path, store: LocalStore | None, kubo: KuboSource | None,
                 nocopy: bool, car_dir: str | Path | None, progress: bool) -> tuple[str, Any, str] | None:
        """The dataset's folder into IPFS (unless the log has it) and the log; (name, label, location) while its
        record is still to be signed, else None."""
        name = f"publish {folder.resolve()}"
        state, location = log.record_state(name)
        if state not in (None, "added"):
            return None
        if location is None:
            location = add_dataset(folder, store=store, kubo=kubo, nocopy=nocopy, progress=progress)
            log.add_content(name, "publish", str(folder), location)
        if car_dir is not None and store is not None:
            Path(car_dir).mkdir(parents=True, exist_ok=True)
            export_dataset_car(store, location, Path(car_dir) / f"{location}.car")
        return name, label, location

    def _sign_added(self, log: PublishLog, added: list[tuple[str, Any, str]], key: PrivateKey,
                    files: dict[Any, list[dict[str, Any]]]) -> None:
        """Sign the records of the added datasets (on every core, :func:`sign_records`) into the log at once."""
        signed = sign_records([self._unsigned(label, location, files=files[label]) for _, label, location in added],
                              key)
        log.add_signed_many([(name, "publish", "".join(chunks), key.address, chunks, first)
                             for (name, _, _), (chunks, first) in zip(added, signed)])

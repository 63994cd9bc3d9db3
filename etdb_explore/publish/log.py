"""The publish log: a durable SQLite record of every message a lab publishes, one row per record and per part.

A record moves ``added`` (its folder is in IPFS) → ``signed`` (its floData made) → ``sent`` (every part broadcast)
→ ``confirmed`` (every part in a block). A part moves ``waiting`` (a later part of a multipart message, signed
once part 0's txid is known) → ``signed`` → ``sending`` (written *before* the node is asked) → ``sent`` (its txid
written after the node answered) → ``confirmed``. A part found ``sending`` after a crash may or may not have reached
the node: :mod:`etdb_explore.publish.broadcast` asks the node before sending it again. The database runs in WAL mode:
every committed step survives a crash of the process, and the steps about sending (``sending``, ``sent``) are
flushed to disk (``synchronous=FULL``) before the run goes on, so they survive a power cut too; a power cut can
only make a run add or sign again what was not yet sent. One run at a time: the log is
locked (``<log>.lock``) while open, and a second run refuses with :class:`PublishLogBusy`.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from etdb_explore.errors import EtdbError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,      -- what the message is about: a dataset's location, or the edit/deactivation
    kind TEXT NOT NULL,             -- publish | edit | deactivate
    folder TEXT,
    location TEXT,
    publisher TEXT,
    message TEXT,                   -- the whole signed floData
    n_parts INTEGER,
    txid TEXT,                      -- part 0's txid: the record's txid
    state TEXT NOT NULL,            -- added | signed | sent | confirmed
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    record INTEGER NOT NULL REFERENCES records(id),
    part INTEGER NOT NULL,
    data TEXT NOT NULL,             -- the chunk of the message this part carries
    flodata TEXT,                   -- what the transaction carries (NULL while waiting for part 0's txid)
    state TEXT NOT NULL,            -- waiting | signed | sending | sent | confirmed
    txid TEXT,
    sending_since REAL,
    PRIMARY KEY (record, part)
);
"""


class PublishLogError(EtdbError):
    """The publish log cannot be opened, is not a publish log, or holds something it should not."""


class PublishLogBusy(PublishLogError):
    """Another run is using the publish log."""


@dataclass(frozen=True)
class PartRow:
    """One part of a record as the log holds it."""

    record: int
    part: int
    n_parts: int
    data: str
    flodata: str | None
    state: str
    txid: str | None
    sending_since: float | None
    publisher: str


class PublishLog:
    """A publish log at ``path`` (created if missing), locked for this run until :meth:`close`.

    Raises:
        PublishLogBusy: another run holds the log.
        PublishLogError: the file is not a publish log of this version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.with_name(self.path.name + ".lock"), "a+")  # noqa: SIM115 – held until close
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "?"
            self._lock.close()
            raise PublishLogBusy(f"publish log {self.path} is in use by another run (process {holder}); wait for "
                                 "it to finish") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        try:
            # one run uses the log at a time; its async parts run on the I/O loop's thread while the caller waits
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            version = self._db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
            if version is None:
                self._db.execute("INSERT INTO meta VALUES ('version', ?)", (str(SCHEMA_VERSION),))
            elif version[0] != str(SCHEMA_VERSION):
                raise PublishLogError(f"publish log {self.path} has version {version[0]}, not {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._release()
            raise PublishLogError(f"publish log {self.path}: {exc}") from exc
        except PublishLogError:
            self._release()
            raise

    def _release(self) -> None:
        if getattr(self, "_db", None) is not None:
            self._db.close()
            self._db = None
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def close(self) -> None:
        """Close the database and release the lock (calling it again does nothing)."""
        self._release()

    def __enter__(self) -> PublishLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_lock", None) is not None and not self._lock.closed:
            self._release()

    @contextmanager
    def _transaction(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; ``durable`` ones are on disk (fsync) when it returns, the others survive a crash of the
        process (WAL) and reach the disk with the next durable one at the latest."""
        if self._db is None:
            raise PublishLogError(f"publish log {self.path} is closed")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._db is None:
            raise PublishLogError(f"publish log {self.path} is closed")
        return self._db.execute(sql, params).fetchall()

    # ---- records ---------------------------------------------------------------------------------------------

    def record_state(self, name: str) -> tuple[str | None, str | None]:
        """The state and the content location of the record called ``name``.

        Returns:
            (``added``, ``signed``, ``sent`` or ``confirmed``; its location or None), or (None, None) when the log
            does not hold it.
        """
        rows = self._query("SELECT state, location FROM records WHERE name=?", (name,))
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def add_content(self, name: str, kind: str, folder: str | None, location: str | None) -> None:
        """Note that a record's content is in IPFS (state ``added``); a record already held is left as it is."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO records (name, kind, folder, location, state, updated) "
                       "VALUES (?, ?, ?, ?, 'added', ?)", (name, kind, folder, location, time.time()))

    def add_signed(self, name: str, kind: str, message: str, publisher: str, chunks: list[str],
                   first_flodata: str) -> None:
        """Keep a signed message and its parts (part 0's floData signed; later ones waiting for part 0's txid).

        Raises:
            PublishLogError: the record is already signed with another message.
        """
        self.add_signed_many([(name, kind, message, publisher, chunks, first_flodata)])

    def add_signed_many(self, signed: list[tuple[str, str, str, str, list[str], str]]) -> None:
        """Keep many signed messages, each as :meth:`add_signed` does, in one transaction (all or none).

        Raises:
            PublishLogError: a record is already signed with another message (none is kept).
        """
        with self._transaction() as db:
            for name, kind, message, publisher, chunks, first_flodata in signed:
                row = db.execute("SELECT id, state, message FROM records WHERE name=?", (name,)).fetchone()
                if row is not None and row[1] != "added":
                    if row[2] != message:
                        raise PublishLogError(f"publish log {self.path}: {name} is already signed with another "
                                              "message")
                    continue
                if row is None:
                    record = db.execute("INSERT INTO records (name, kind, state, updated) VALUES (?, ?, 'added', ?)",
                                        (name, kind, time.time())).lastrowid
                else:
                    record = row[0]
                db.execute("UPDATE records SET message=?, publisher=?, n_parts=?, state='signed', updated=? "
                           "WHERE id=?", (message, publisher, len(chunks), time.time(), record))
                db.executemany("INSERT INTO parts (record, part, data, flodata, state) VALUES (?, ?, ?, ?, ?)",
                               [(record, k, chunk, first_flodata if k == 0 else None,
                                 "signed" if k == 0 else "waiting") for k, chunk in enumerate(chunks)])

    def messages(self) -> list[tuple[str, str, str | None, str]]:
        """Every signed message, in the order it was signed.

        Returns:
            ``(name, kind, txid or None, whole floData)`` per record.
        """
        if self._db is None:
            raise PublishLogError(f"publish log {self.path} is closed")
        return _messages(self._db)

    def records(self) -> pd.DataFrame:
        """The log's records with their progress.

        Returns:
            One row per record: name, kind, folder, location, publisher, state, txid, n_parts, parts_sent.
        """
        rows = self._query(
            "SELECT r.name, r.kind, r.folder, r.location, r.publisher, r.state, r.txid, r.n_parts, "
            "(SELECT COUNT(*) FROM parts p WHERE p.record=r.id AND p.state IN ('sent', 'confirmed')) "
            "FROM records r ORDER BY r.id")
        return pd.DataFrame(rows, columns=["name", "kind", "folder", "location", "publisher", "state", "txid",
                                           "n_parts", "parts_sent"])

    # ---- parts -----------------------------------------------------------------------------------------------

    def parts(self, *states: str) -> list[PartRow]:
        """The parts in ``states`` (all when none given), by record then part number.

        Returns:
            The :class:`PartRow` s.
        """
        where = f"WHERE p.state IN ({','.join('?' * len(states))})" if states else ""
        rows = self._query("SELECT p.record, p.part, r.n_parts, p.data, p.flodata, p.state, p.txid, "
                           f"p.sending_since, r.publisher FROM parts p JOIN records r ON r.id=p.record {where} "
                           "ORDER BY p.record, p.part", states)
        return [PartRow(*row) for row in rows]

    def sign_waiting(self, record: int, flodatas: dict[int, str]) -> None:
        """Give the waiting later parts of ``record`` their signed floData (once part 0's txid is known)."""
        with self._transaction() as db:
            db.executemany("UPDATE parts SET flodata=?, state='signed' WHERE record=? AND part=? AND state='waiting'",
                           [(fd, record, k) for k, fd in flodatas.items()])

    def mark_sending(self, part: PartRow) -> None:
        """Phase one: the part is about to be sent (on disk before the node is asked)."""
        with self._transaction(durable=True) as db:
            db.execute("UPDATE parts SET state='sending', sending_since=? WHERE record=? AND part=?",
                       (time.time(), part.record, part.part))

    def mark_unsent(self, part: PartRow) -> None:
        """The node refused the part (nothing was sent): it is ``signed`` again."""
        with self._transaction() as db:
            db.execute("UPDATE parts SET state='signed', sending_since=NULL WHERE record=? AND part=?",
                       (part.record, part.part))

    def mark_sent(self, part: PartRow, txid: str) -> None:
        """Phase two: the node accepted the part as transaction ``txid`` (part 0's txid is the record's)."""
        with self._transaction(durable=True) as db:
            db.execute("UPDATE parts SET state='sent', txid=? WHERE record=? AND part=?", (txid, part.record, part.part))
            if part.part == 0:
                db.execute("UPDATE records SET txid=?, updated=? WHERE id=?", (txid, time.time(), part.record))
            db.execute("UPDATE records SET state='sent', updated=? WHERE id=? AND NOT EXISTS (SELECT 1 FROM parts "
                       "WHERE record=? AND state NOT IN ('sent', 'confirmed'))", (time.time(), part.record, part.record))

    def mark_confirmed(self, part: PartRow) -> None:
        """The part's transaction is in a block."""
        with self._transaction() as db:
            db.execute("UPDATE parts SET state='confirmed' WHERE record=? AND part=?", (part.record, part.part))
            db.execute("UPDATE records SET state='confirmed', updated=? WHERE id=? AND NOT EXISTS (SELECT 1 FROM "
                       "parts WHERE record=? AND state != 'confirmed')", (time.time(), part.record, part.record))


@contextmanager
def open_log(log: str | Path | PublishLog) -> Iterator[PublishLog]:
    """``log`` itself when it is an open :class:`PublishLog`, else the log at that path, closed at the end.

    Returns:
        A context manager giving the log.

    Raises:
        PublishLogBusy, PublishLogError: as :class:`PublishLog`.
    """
    if isinstance(log, PublishLog):
        yield log
        return
    with PublishLog(log) as opened:
        yield opened


def _messages(db: sqlite3.Connection) -> list[tuple[str, str, str | None, str]]:
    rows = db.execute("SELECT name, kind, txid, message FROM records WHERE message IS NOT NULL ORDER BY id")
    return [tuple(r) for r in rows.fetchall()]  # type: ignore[misc]


def read_messages(path: str | Path) -> list[tuple[str, str, str | None, str]]:
    """The signed messages of a publish log, read without taking its lock (a run may be writing it).

    Returns:
        ``(name, kind, txid or None, whole floData)`` per record, in the order they were signed.

    Raises:
        PublishLogError: the file is missing or not a publish log.
    """
    path = Path(path)
    if not path.is_file():
        raise PublishLogError(f"publish log {path} does not exist")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return _messages(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise PublishLogError(f"publish log {path}: {exc}") from exc

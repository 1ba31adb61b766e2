"""SQLiteStore: the embedded default. One file, WAL, one transaction per handled input.

The session's new snapshot (its timers in it, as absolute due times, and its next due time
in a column of its own: what is due is one indexed query), its outbox rows and the input's
idempotency keys and delivery mark go in ONE transaction (:meth:`SQLiteStore.commit`), so a
crash leaves either all of a handling or none of it (a group commit writes several
handlings in one). ``synchronous=NORMAL`` in WAL mode: a process killed at any point
(SIGKILL) loses no committed transaction; a power cut may lose the last few, never
consistency (``?synchronous=FULL`` in the URL for that too).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from recstate.stores.base import (
    ABSENT,
    DELETED,
    NEW,
    Commit,
    Conflict,
    Journal,
    Loaded,
    OutboxRow,
    SessionRow,
    SharedConflict,
    StoreError,
    apply_changes,
    moved,
)

__all__ = ["SQLiteStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY, vendor TEXT NOT NULL, machine TEXT NOT NULL, state TEXT NOT NULL,
    version INTEGER NOT NULL, snapshot BLOB NOT NULL, next_due REAL,
    delivered INTEGER NOT NULL DEFAULT 0, incarnation INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS sessions_next_due ON sessions (next_due);
CREATE TABLE IF NOT EXISTS applied (
    session TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (session, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, session TEXT NOT NULL, vendor TEXT NOT NULL, name TEXT NOT NULL,
    t REAL NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS shared (
    machine TEXT NOT NULL, path TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (machine, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY, records INTEGER NOT NULL, block BLOB NOT NULL);
"""

#: ``PRAGMA user_version`` of a file with this schema. 2: the journal is kept in blocks (one
#: row per transaction: ``line<TAB>record<LF>`` per record), not a row per record. 3: a
#: session's incarnation (``sessions.incarnation``, given from ``counters``
#: ``incarnation``); a file of schema 2 is brought to 3 when opened (its sessions are of
#: incarnation 0, which no new session is given).
SCHEMA_VERSION = 3
UPGRADES = {2: ["ALTER TABLE sessions ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0"]}


class SQLiteStore:
    """A store in one SQLite file (created with its tables if missing)."""

    def __init__(self, path: str | Path, *, journal: bool = False,
                 synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.journal_enabled = journal
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"sqlite store {self.path}: synchronous={synchronous!r}; use "
                             "NORMAL (the default) or FULL")
        try:
            # isolation_level=None: transactions are ours (BEGIN IMMEDIATE ... COMMIT).
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute("BEGIN IMMEDIATE")  # one process makes or upgrades the schema
            try:
                self._schema()
            except BaseException:
                self._db.execute("ROLLBACK")
                self._db.close()
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the sqlite store {self.path}: {exc}; check the "
                             "path and that its folder exists and is writable") from None

    def _schema(self) -> None:
        """Make the tables (a new file), or bring a file of an older schema this one can
        upgrade to :data:`SCHEMA_VERSION`, or refuse it."""
        db = self._db
        found = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = "
                            "'table' AND name = 'sessions'").fetchone()[0]
        if found != SCHEMA_VERSION and (tables or found):
            if found not in UPGRADES:
                raise StoreError(f"sqlite store {self.path} was made by another version of "
                                 f"recstate (schema {found}, this one reads "
                                 f"{SCHEMA_VERSION}); finish or replay it with that "
                                 "version, or use a new file")
            for statement in UPGRADES[found]:
                db.execute(statement)
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # ---- reading ---------------------------------------------------------------------------
    def load(self) -> Loaded:
        db = self._db
        applied: dict[str, set[str]] = {}
        for session, key in db.execute("SELECT session, key FROM applied"):
            applied.setdefault(session, set()).add(key)
        sessions = [SessionRow(key, orjson.loads(snap), version, applied.pop(key, set()),
                               delivered, incarnation)
                    for key, version, snap, delivered, incarnation in db.execute(
                        "SELECT key, version, snapshot, delivered, incarnation FROM sessions "
                        "ORDER BY key")]
        shared: dict[str, dict[str, Any]] = {}
        for machine, path, value in db.execute(
                "SELECT machine, path, value FROM shared ORDER BY machine, path"):
            apply_changes(shared.setdefault(machine, {}), [(path, orjson.loads(value))])
        outbox = [OutboxRow(i, s, v, n, t, orjson.loads(d)) for i, s, v, n, t, d in db.execute(
            "SELECT id, session, vendor, name, t, data FROM outbox ORDER BY rowid")]
        meta = {name: orjson.loads(value)
                for name, value in db.execute("SELECT name, value FROM meta")}
        deliveries = [orjson.loads(d) for (d,) in db.execute(
            "SELECT data FROM deliveries ORDER BY rowid")]
        return Loaded(sessions=sessions, applied=applied.pop("", set()),
                      delivered=int(meta.pop("delivered", 0)), shared=shared, outbox=outbox,
                      meta=meta, deliveries=deliveries)

    def get(self, key: str, partition: int | None = None) -> SessionRow | None:
        row = self._db.execute("SELECT version, snapshot, delivered, incarnation FROM "
                               "sessions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        applied = {k for (k,) in self._db.execute(
            "SELECT key FROM applied WHERE session = ?", (key,))}
        return SessionRow(key, orjson.loads(row[1]), row[0], applied, row[2], row[3])

    def version(self, key: str) -> int:
        """The stored version of ``key`` (0: none)."""
        return self._held(self._db, key)[0]

    def fresh(self, known: Mapping[str, tuple[int, int]],
              partitions: Mapping[str, int] | None = None) -> dict[str, SessionRow | None]:
        out: dict[str, SessionRow | None] = {}
        for key, held in known.items():
            if moved(self._held(self._db, key), held):
                out[key] = self.get(key)
        return out

    def keys(self) -> list[str]:
        return [k for (k,) in self._db.execute("SELECT key FROM sessions ORDER BY key")]

    def due(self, now: float) -> list[tuple[str, float]]:
        """(session, next due time) of every session with a timer due at ``now``, in due
        order."""
        return list(self._db.execute(
            "SELECT key, next_due FROM sessions WHERE next_due <= ? ORDER BY next_due, key",
            (now,)))

    def journal(self) -> Journal:
        out = Journal()
        lines, records = out.lines, out.records
        for (block,) in self._db.execute("SELECT block FROM journal ORDER BY seq"):
            for row in bytes(block).split(b"\n")[:-1]:
                line, _, record = row.partition(b"\t")
                lines.append(int(line) if line else None)
                records.append(record)
        return out

    # ---- the one write -----------------------------------------------------------------------
    def commit(self, commit: Commit) -> int:
        return self.commit_many([commit])[0]

    def commit_many(self, commits: Iterable[Commit]) -> list[int]:
        """Every commit in ONE transaction (all or none)."""
        db = self._db
        versions = []
        made: set[str] = set()  # sessions made in this transaction
        db.execute("BEGIN IMMEDIATE")
        try:
            for commit in commits:
                versions.append(self._write(db, commit, made))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return versions

    def _check(self, db: sqlite3.Connection, commit: Commit, made: set[str]) -> None:
        """Refuse ``commit`` (:class:`Conflict`) unless its session is stored at the version
        and incarnation it was read at (one made earlier in the transaction is of
        incarnation :data:`NEW` to the commits after it)."""
        key = commit.session
        assert key is not None
        found = self._held(db, key)
        if key in made and found[0]:
            found = (found[0], NEW)
        if moved(found, (commit.version, commit.incarnation)):
            raise Conflict(key, commit.version, found[0], (commit.incarnation, found[1]))

    def _write(self, db: sqlite3.Connection, commit: Commit, made: set[str]) -> int:
        if commit.shared_read:  # before anything of this commit is written
            stored = self._shared(db, [(m, p) for m, p, _ in commit.shared_read])
            if any(stored[m, p] != (ABSENT if seen is ABSENT else orjson.dumps(seen))
                   for m, p, seen in commit.shared_read):
                raise SharedConflict({k: ABSENT if v is ABSENT else orjson.loads(v)
                                      for k, v in stored.items()})
        version = 0
        key = commit.session
        if commit.delete and key is not None:  # closed or retired: nothing of it is kept
            self._check(db, commit, made)  # moved since (another process made it anew)?
            made.discard(key)
            db.execute("DELETE FROM sessions WHERE key = ?", (key,))
            db.execute("DELETE FROM applied WHERE session = ?", (key,))
        snap = commit.snapshot
        if snap is not None and key is not None:
            version = commit.version + commit.handlings
            timers = snap.get("timers")
            next_due = min(t["due"] for t in timers) if timers else None
            delivered = commit.delivered or 0
            text = orjson.dumps(snap)
            if commit.version == 0:
                self._check(db, commit, made)
                db.execute("INSERT INTO counters VALUES ('incarnation', 1) ON CONFLICT (name) "
                           "DO UPDATE SET value = value + 1")
                (incarnation,) = db.execute("SELECT value FROM counters WHERE name = "
                                            "'incarnation'").fetchone()
                db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (key, snap["vendor"], snap["machine"], snap["state"], version,
                            text, next_due, delivered, incarnation))
                made.add(key)
                commit.incarnation = incarnation
            elif commit.incarnation == NEW:
                self._check(db, commit, made)
                db.execute("UPDATE sessions SET state = ?, version = ?, snapshot = ?, "
                           "next_due = ?, delivered = max(delivered, ?) WHERE key = ?",
                           (snap["state"], version, text, next_due, delivered, key))
            elif db.execute("UPDATE sessions SET state = ?, version = ?, snapshot = ?, "
                            "next_due = ?, delivered = max(delivered, ?) "
                            "WHERE key = ? AND version = ? AND incarnation = ?",
                            (snap["state"], version, text, next_due, delivered, key,
                             commit.version, commit.incarnation)).rowcount != 1:
                self._check(db, commit, made)  # raises: it moved
                raise AssertionError("unreachable: the update matched no row")
        elif commit.delivered is not None:
            db.execute("INSERT INTO meta VALUES ('delivered', ?) ON CONFLICT (name) DO UPDATE "
                       "SET value = max(CAST(value AS INTEGER), excluded.value)",
                       (commit.delivered,))
        if commit.applied:
            db.executemany("INSERT OR IGNORE INTO applied VALUES (?, ?)",
                           [(key or "", a) for a in commit.applied])
        if commit.outbox:
            db.executemany("INSERT OR REPLACE INTO outbox VALUES (?, ?, ?, ?, ?, ?)",
                           [(o.id, o.session, o.vendor, o.name, o.t, orjson.dumps(o.data))
                            for o in commit.outbox])
        if commit.sent:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in commit.sent])
        for machine, path, value in commit.shared:
            if value is DELETED:
                db.execute("DELETE FROM shared WHERE machine = ? AND (path = ? OR "
                           "substr(path, 1, ?) = ?)",
                           (machine, path, len(path) + 1, path + "\x1f"))
            else:
                db.execute("INSERT OR REPLACE INTO shared VALUES (?, ?, ?)",
                           (machine, path, orjson.dumps(value)))
        if commit.deliveries:
            db.executemany("INSERT OR REPLACE INTO deliveries VALUES (?, ?)",
                           [(d["name"], orjson.dumps(d)) for d in commit.deliveries])
        if commit.deliveries_done:
            db.executemany("DELETE FROM deliveries WHERE name = ?",
                           [(n,) for n in commit.deliveries_done])
        if commit.meta:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(k, orjson.dumps(v)) for k, v in commit.meta.items()])
        if self.journal_enabled and commit.journal:
            # One row for the commit's records (a JSON line holds no raw tab or newline):
            # a row per record cost as much as the rest of the transaction.
            block = b"".join(b"%s\t%s\n" % (b"" if line is None else b"%d" % line, record)
                             for line, record in commit.journal)
            db.execute("INSERT INTO journal (records, block) VALUES (?, ?)",
                       (len(commit.journal), block))
        return version

    @staticmethod
    def _shared(db: sqlite3.Connection, entries: Iterable[tuple[str, str]]
                ) -> dict[tuple[str, str], Any]:
        """The stored JSON of shared entries (bytes), or ABSENT."""
        out: dict[tuple[str, str], Any] = {}
        for m, p in entries:
            row = db.execute("SELECT value FROM shared WHERE machine = ? AND path = ?",
                             (m, p)).fetchone()
            out[m, p] = ABSENT if row is None else bytes(row[0])
        return out

    def shared_values(self, entries: Iterable[tuple[str, str]], partition: int = 0
                      ) -> dict[tuple[str, str], Any]:
        return {k: ABSENT if v is ABSENT else orjson.loads(v)
                for k, v in self._shared(self._db, entries).items()}

    @staticmethod
    def _held(db: sqlite3.Connection, key: str) -> tuple[int, int]:
        """The stored (version, incarnation) of ``key``; (0, 0): not stored."""
        row = db.execute("SELECT version, incarnation FROM sessions WHERE key = ?",
                         (key,)).fetchone()
        return (int(row[0]), int(row[1])) if row is not None else (0, 0)

    def mark_sent(self, ids: Iterable[str]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

"""MemoryStore: today's behaviour (everything lives as long as the process), with the store's
semantics (versions, idempotency keys, outbox), so that the runtime has one code path.

A session's snapshot is kept encoded (JSON bytes, as SQLite keeps it): a copy that nothing the
runtime does later can change, and no nested dicts and lists living from one group commit to
the next for the garbage collector to count and walk (they made it collect the whole heap
about once per replay of 14k lines, which cost as much as the store's own work)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from recstate.stores.base import (
    NEW,
    Commit,
    Conflict,
    Journal,
    Loaded,
    OutboxRow,
    SessionRow,
    SharedConflict,
    apply_changes,
    lookup,
    moved,
)

__all__ = ["MemoryStore"]


class _Row:
    """A stored session: a :class:`SessionRow` with its snapshot encoded."""

    __slots__ = ("applied", "delivered", "incarnation", "key", "snapshot", "version")

    def __init__(self, key: str, snapshot: bytes, version: int, incarnation: int) -> None:
        self.key, self.snapshot, self.version = key, snapshot, version
        self.incarnation = incarnation
        self.applied: set[str] = set()
        self.delivered = 0

    def row(self) -> SessionRow:
        """A copy, as a store gives it."""
        return SessionRow(self.key, orjson.loads(self.snapshot), self.version,
                          set(self.applied), self.delivered, self.incarnation)


class MemoryStore:
    """Keeps rows in dicts, each session's snapshot encoded."""

    def __init__(self, *, journal: bool = False) -> None:
        self.journal_enabled = journal
        self._sessions: dict[str, _Row] = {}
        self._applied: set[str] = set()
        self._delivered = 0
        self._shared: dict[str, dict[str, Any]] = {}
        self._outbox: dict[str, OutboxRow] = {}
        self._meta: dict[str, Any] = {}
        self._journal = Journal()
        self._deliveries: dict[str, dict[str, Any]] = {}
        #: The last incarnation given to a new session (never goes back).
        self._made = 0

    def load(self) -> Loaded:
        return Loaded(sessions=[r.row() for _, r in sorted(self._sessions.items())],
                      applied=set(self._applied), delivered=self._delivered,
                      shared=copy.deepcopy(self._shared),
                      outbox=list(self._outbox.values()), meta=dict(self._meta),
                      deliveries=copy.deepcopy(list(self._deliveries.values())))

    def get(self, key: str, partition: int | None = None) -> SessionRow | None:
        row = self._sessions.get(key)
        return row.row() if row is not None else None

    def keys(self) -> list[str]:
        return sorted(self._sessions)

    def commit(self, commit: Commit) -> int:
        return self.commit_many([commit])[0]

    def commit_many(self, commits: Iterable[Commit]) -> list[int]:
        """All or nothing: every commit is checked (its session's version and incarnation,
        as the commits before it in the transaction leave them: one made there is of
        incarnation :data:`NEW`; the shared entries it read, as stored) before any is
        applied. Each is taken as the runtime gives it (the runtime lets a commit's snapshot
        go once the next one is asked for): its snapshot encoded at once, and the commit
        itself kept only if it holds more than its session's row."""
        staged: list[tuple[Commit | None, str | None, bytes | None, int, int | None,
                           bool]] = []
        # sessions' (version, incarnation) as the staged commits leave them
        held: dict[str, tuple[int, int]] = {}
        for c in commits:
            if c.shared_read:
                self._check_reads(c)
            key, snap, version = c.session, None, 0
            if key is not None and (c.delete or c.snapshot is not None):
                found = held.get(key)
                if found is None:
                    row = self._sessions.get(key)
                    found = (row.version, row.incarnation) if row is not None else (0, 0)
                if moved(found, (c.version, c.incarnation)):  # moved since it was read
                    raise Conflict(key, c.version, found[0], (c.incarnation, found[1]))
                if c.delete:
                    found = held[key] = (0, 0)
                if c.snapshot is not None:
                    version = found[0] + c.handlings
                    held[key] = (version, NEW if found[0] == 0 else found[1])
                    snap = orjson.dumps(c.snapshot)
            more = bool(c.applied or c.outbox or c.sent or c.shared or c.meta or c.journal
                        or c.deliveries or c.deliveries_done
                        or (c.delivered is not None and snap is None))
            # kept if it holds more than its session's row, or makes it (told its incarnation)
            kept = c if more or (snap is not None and version == c.handlings) else None
            staged.append((kept, key, snap, version, c.delivered, c.delete))
        for kept, key, snap, version, delivered, delete in staged:
            self._apply(kept, key, snap, version, delivered, delete)
        return [entry[3] for entry in staged]

    def _apply(self, commit: Commit | None, key: str | None, snap: bytes | None,
               version: int, delivered: int | None, delete: bool) -> None:
        """Write one checked commit (``commit`` None: it held only its session's row, which
        was stored)."""
        if delete and key is not None:
            self._sessions.pop(key, None)
        row = None
        if snap is not None and key is not None:
            row = self._sessions.get(key)
            if row is None:
                self._made += 1
                row = self._sessions[key] = _Row(key, snap, version, self._made)
                assert commit is not None
                commit.incarnation = self._made
            else:
                row.snapshot, row.version = snap, version
            if delivered is not None:
                row.delivered = max(row.delivered, delivered)
        if commit is None:
            return
        if row is not None:
            row.applied.update(commit.applied)
        else:
            self._applied.update(commit.applied)
            if delivered is not None:
                self._delivered = max(self._delivered, delivered)
        for ob in commit.outbox:
            self._outbox[ob.id] = ob
        for sent in commit.sent:
            self._outbox.pop(sent, None)
        for machine, path, value in commit.shared:
            apply_changes(self._shared.setdefault(machine, {}), [(path, value)])
        self._meta.update(commit.meta)
        for d in commit.deliveries:
            self._deliveries[d["name"]] = d
        for name in commit.deliveries_done:
            self._deliveries.pop(name, None)
        if self.journal_enabled and commit.journal:
            self._journal.lines += commit.journal.lines
            self._journal.records += commit.journal.records

    def fresh(self, known: Mapping[str, tuple[int, int]],
              partitions: Mapping[str, int] | None = None) -> dict[str, SessionRow | None]:
        out: dict[str, SessionRow | None] = {}
        for key, held in known.items():
            row = self._sessions.get(key)
            if moved((row.version, row.incarnation) if row is not None else (0, 0), held):
                out[key] = row.row() if row is not None else None
        return out

    def _check_reads(self, commit: Commit) -> None:
        current = {(m, path): lookup(self._shared.get(m, {}), path)
                   for m, path, _ in commit.shared_read}
        if any(current[m, path] != seen for m, path, seen in commit.shared_read):
            raise SharedConflict(current)

    def shared_values(self, entries: Iterable[tuple[str, str]], partition: int = 0
                      ) -> dict[tuple[str, str], Any]:
        return {(m, path): copy.deepcopy(lookup(self._shared.get(m, {}), path))
                for m, path in entries}

    def mark_sent(self, ids: Iterable[str]) -> None:
        for i in ids:
            self._outbox.pop(i, None)

    def journal(self) -> Journal:
        out = Journal()
        out.lines, out.records = list(self._journal.lines), list(self._journal.records)
        return out

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "MemoryStore()"

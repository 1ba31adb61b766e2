"""MemoryStore: today's behaviour (everything lives as long as the process), with the store's
semantics (versions, idempotency keys, outbox), so that the runtime has one code path."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from recstate.stores.base import (
    Commit,
    Conflict,
    Loaded,
    OutboxRow,
    SessionRow,
    SharedConflict,
    apply_changes,
    lookup,
)

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps rows in dicts. Snapshots are kept as given (the runtime hands over fresh dicts)."""

    def __init__(self, *, journal: bool = False) -> None:
        self.journal_enabled = journal
        self._sessions: dict[str, SessionRow] = {}
        self._applied: set[str] = set()
        self._delivered = 0
        self._shared: dict[str, dict[str, Any]] = {}
        self._outbox: dict[str, OutboxRow] = {}
        self._meta: dict[str, Any] = {}
        self._journal: list[tuple[int | None, bytes]] = []
        self._deliveries: dict[str, dict[str, Any]] = {}

    def load(self) -> Loaded:
        return Loaded(sessions=[SessionRow(r.key, copy.deepcopy(r.snapshot), r.version,
                                           set(r.applied), r.delivered)
                                for _, r in sorted(self._sessions.items())],
                      applied=set(self._applied), delivered=self._delivered,
                      shared=copy.deepcopy(self._shared),
                      outbox=list(self._outbox.values()), meta=dict(self._meta),
                      deliveries=copy.deepcopy(list(self._deliveries.values())))

    def get(self, key: str, partition: int | None = None) -> SessionRow | None:
        return self._sessions.get(key)

    def keys(self) -> list[str]:
        return sorted(self._sessions)

    def commit(self, commit: Commit) -> int:
        if commit.shared_read:
            self._check_reads(commit)
        version = 0
        key = commit.session
        if commit.delete and key is not None:
            held = self._sessions.get(key)
            found = held.version if held is not None else 0
            if found != commit.version:  # moved since the deleter read it
                raise Conflict(key, commit.version, found)
            self._sessions.pop(key, None)
        if commit.snapshot is not None and key is not None:
            row = self._sessions.get(key)
            found = row.version if row is not None else 0
            if found != commit.version:
                raise Conflict(key, commit.version, found)
            version = found + commit.handlings
            if row is None:
                row = self._sessions[key] = SessionRow(key, commit.snapshot, version)
            else:
                row.snapshot, row.version = commit.snapshot, version
            row.applied.update(commit.applied)
            if commit.delivered is not None:
                row.delivered = max(row.delivered, commit.delivered)
        else:
            self._applied.update(commit.applied)
            if commit.delivered is not None:
                self._delivered = max(self._delivered, commit.delivered)
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
        if self.journal_enabled:
            self._journal.extend(commit.journal)
        return version

    def commit_many(self, commits: Iterable[Commit]) -> list[int]:
        # copies: the runtime lets a commit's snapshot go once the next one is asked for
        commits = [attrs.evolve(c) for c in commits]
        seen: dict[str, int] = {}
        for c in commits:  # what is checked, before any write: all or nothing
            if c.shared_read:
                self._check_reads(c)
            key = c.session
            if key is None or not (c.delete or c.snapshot is not None):
                continue
            held = self._sessions.get(key)
            found = seen.get(key, held.version if held is not None else 0)
            if found != c.version:
                raise Conflict(key, c.version, found)
            seen[key] = 0 if c.delete else found + c.handlings
        return [self.commit(c) for c in commits]

    def fresh(self, known: Mapping[str, int], partitions: Mapping[str, int] | None = None
              ) -> dict[str, SessionRow | None]:
        out: dict[str, SessionRow | None] = {}
        for key, version in known.items():
            row = self._sessions.get(key)
            if (row.version if row is not None else 0) != version:
                out[key] = row
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

    def journal(self) -> list[tuple[int | None, bytes]]:
        return list(self._journal)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "MemoryStore()"

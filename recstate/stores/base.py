"""The store protocol: what a runtime keeps so that a restart, a crash or another worker
loses nothing.

Per session: its snapshot (state, context, files, and its timers as absolute due times), a
version that every write checks and bumps, an incarnation that tells one life of its key from
the next (see :class:`SessionRow`), and the idempotency keys of the inputs it has applied.
Runtime-wide: the machines' shared indexes (``Machine.shared``), an outbox of commands not
yet handed to an adapter, a little metadata (a replay's cursor) and, for replay, a journal
of what the handlings produced.

Everything one handled input changes is one :class:`Commit`, written atomically by
:meth:`Store.commit`: that is the only write on the hot path.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from recstate.errors import RecstateError

__all__ = [
    "ABSENT",
    "DELETED",
    "NEW",
    "Commit",
    "Conflict",
    "Journal",
    "Loaded",
    "OutboxRow",
    "SessionRow",
    "SharedConflict",
    "Store",
    "StoreError",
    "TrackedDict",
    "apply_changes",
    "lookup",
    "moved",
    "partition_of",
]


def partition_of(key: str, partitions: int) -> int:
    """A stable partition for a partition key (CRC-32: the same in every process)."""
    return zlib.crc32(key.encode()) % partitions if partitions > 1 else 0


class StoreError(RecstateError):
    """A store cannot be opened or read: the message names the store and what to do."""


class Conflict(StoreError):
    """An update was made on a version that is no longer the stored one: another worker (or
    a zombie of this one) wrote the session first. Reload it and handle the input again."""

    def __init__(self, session: str, expected: int, found: int | None,
                 incarnations: tuple[int, int | None] | None = None) -> None:
        self.session, self.expected, self.found = session, expected, found
        #: (the incarnation the refused commit was made on, the stored one or None), where
        #: the store told them (a version check passes only if both match).
        self.incarnations = incarnations
        #: Whether the refused commit was an input's handling (not a timer's): the runtime
        #: says so, so that a caller knows to hand the input over again.
        self.input = True
        lives = "" if incarnations is None else (
            f" (incarnation {incarnations[0]}, the store's {incarnations[1]})")
        super().__init__(f"session {session!r}: expected version {expected}, the store has "
                         f"{found}{lives}; reload the session and handle the input again")


class _Absent:
    """The value of a shared-index entry that does not exist (read as absent)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __copy__(self) -> _Absent:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Absent:
        return self


#: A shared-index entry read as absent (``DELETED`` is None, a value a read may not mean).
ABSENT: Any = _Absent()


class SharedConflict(Conflict):
    """A handling read shared-index entries (``Machine.shared``: Tencent's busy users) that
    another process changed before it committed: nothing of the commit was written.
    ``current``: (machine, path) -> the stored value (or :data:`ABSENT`) of every entry it
    read; the runtime takes them and handles the input again."""

    def __init__(self, current: dict[tuple[str, str], Any]) -> None:
        super().__init__("", 0, None)
        self.current = current
        #: The sessions whose handlings the refused commit carried (the runtime says).
        self.sessions: list[str] = []
        #: Those sessions as stored, where the store's refusal carried them (Redis: the
        #: commit script answers with them), so that taking them back costs no read;
        #: None: not stored.
        self.rows: dict[str, SessionRow | None] = {}
        changed = ", ".join(f"{m} {p.replace(chr(31), '/')}" for m, p in sorted(current))
        self.args = (f"shared entries read by the handling were changed by another process "
                     f"({changed}); take their stored values and handle the input again",)


#: :attr:`Commit.incarnation` of a commit whose session was made earlier in the same group
#: commit (its incarnation is given by the store only when the group is written).
NEW = -1


@attrs.define(slots=True)
class SessionRow:
    """A stored session: its snapshot (``Runtime.snapshot``: timers included), version,
    incarnation and the idempotency keys it has applied.

    ``version`` counts the session's handlings since it was made, so it restarts when a key
    is deleted (retired) and made again (Tencent's ``relation:room:user`` when the user
    records in the room again). ``incarnation`` tells those lives apart: the store gives it
    when it makes the session, from a store-wide counter that never goes back (so never the
    same twice for a key, and no tombstone is kept); 0 is a row stored before incarnations
    were (never given to a new session). A process holds a session as (version,
    incarnation), and every check compares both."""

    key: str
    snapshot: dict[str, Any]
    version: int
    applied: set[str] = attrs.field(factory=set)
    #: The last trace line (stream entry) delivered to it: a delivery mark, not a set, since
    #: one session's inputs arrive in line order.
    delivered: int = 0
    incarnation: int = 0

    @property
    def held(self) -> tuple[int, int]:
        """(version, incarnation): what a process holding this row compares."""
        return self.version, self.incarnation


def moved(stored: tuple[int, int], held: tuple[int, int]) -> bool:
    """Whether a session stored as ``stored`` (version, incarnation; version 0: not stored)
    is another than the one held as ``held``: its version differs, or it is another life of
    the key at the same version (deleted and made again since)."""
    return stored[0] != held[0] or (stored[0] != 0 and stored[1] != held[1])


@attrs.define(slots=True)
class OutboxRow:
    """A command written in the handling that asked for it, handed to the adapters after the
    commit and deleted once handed over. ``id`` is stable across a crash: the adapter's
    outcome event carries it (its ``id``), so a re-handed command is recognised."""

    id: str
    session: str
    vendor: str
    name: str
    t: float
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "session": self.session, "vendor": self.vendor,
                "name": self.name, "t": self.t, "data": self.data}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OutboxRow:
        return cls(d["id"], d["session"], d["vendor"], d["name"], d["t"], d["data"])


#: A deleted entry in a change list of :class:`TrackedDict`.
DELETED: Any = None


class Journal:
    """A commit's journal rows, ``(input line, trace line bytes)``, kept as two flat lists:
    gathering a group's rows makes no tuple per row (a group of replayed heartbeats left
    one for each of its records to the garbage collector, which walked them: the most
    of what a group gave it to do); iterating gives the rows, each tuple made as it is
    read and let go (zip reuses it)."""

    __slots__ = ("lines", "records")

    def __init__(self, rows: Iterable[tuple[int | None, bytes]] = ()) -> None:
        self.lines: list[int | None] = []
        self.records: list[bytes] = []
        for line, record in rows:
            self.lines.append(line)
            self.records.append(record)

    def add(self, line: int | None, records: list[bytes]) -> None:
        """The records of one handling, all of input ``line``."""
        self.records += records
        self.lines += [line] * len(records)

    def append(self, row: tuple[int | None, bytes]) -> None:
        self.lines.append(row[0])
        self.records.append(row[1])

    def __iter__(self) -> Iterator[tuple[int | None, bytes]]:
        return zip(self.lines, self.records, strict=True)

    def __len__(self) -> int:
        return len(self.records)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Journal):
            return self.lines == other.lines and self.records == other.records
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Journal({list(self)!r})"


def _journal(rows: Journal | Iterable[tuple[int | None, bytes]] | None) -> Journal | None:
    return rows if rows is None or isinstance(rows, Journal) else Journal(rows)


@attrs.define(slots=True)
class Commit:
    """What one handled input changes, written in ONE transaction.

    - ``session``/``snapshot``/``version``/``incarnation``: the session's new snapshot,
      written only if the stored version and incarnation are still ``version`` and
      ``incarnation`` (version 0: a new session, given a new incarnation by the store, which
      sets it here once written; :data:`NEW`: the one made earlier in the same group), the
      version becoming ``version + handlings`` (a group commit writes a session once for
      all its handlings in the group); ``snapshot=None`` writes no session (an unroutable
      input, an input skipped as a duplicate, a handling whose session another commit of
      its group carries).
    - ``applied``: the input's idempotency keys, kept with the session (or runtime-wide,
      under the session ``""``, when there is none).
    - ``outbox``: the commands this handling asked for; ``sent``: outbox ids handed over
      since the last commit (deleted here, saving a transaction of their own).
    - ``shared``: changes to shared indexes: (machine, path, value or DELETED);
      ``shared_read``: entries the handling read, (machine, path, value or ABSENT): the
      commit is refused (:class:`SharedConflict`, nothing written) unless each is still
      stored so (another process sharing the store may have changed it).
    - ``meta``: runtime metadata to set (a replay's cursor); ``journal``: what the handling
      produced, as (input line, trace line bytes), for stores that keep a journal (a
      :class:`Journal`, or None for none; a list of rows is taken as one).
    """

    session: str | None = None
    snapshot: dict[str, Any] | None = None
    version: int = 0
    #: The incarnation ``version`` is of (see :class:`SessionRow`); for a new session
    #: (version 0) the store sets the one it gave, once the commit is written.
    incarnation: int = 0
    applied: list[str] = attrs.field(factory=list)
    #: The input's trace line, when inputs are delivered by line (replay, workers): the
    #: session's delivery mark (runtime-wide when there is no session).
    delivered: int | None = None
    outbox: list[OutboxRow] = attrs.field(factory=list)
    sent: list[str] = attrs.field(factory=list)
    shared: list[tuple[str, str, Any]] = attrs.field(factory=list)
    shared_read: list[tuple[str, str, Any]] = attrs.field(factory=list)
    meta: dict[str, Any] = attrs.field(factory=dict)
    journal: Journal | None = attrs.field(default=None, converter=_journal)
    #: The session's partition (stores that spread sessions over workers: Redis).
    partition: int = 0
    #: How many handlings this session write stands for (its version moves by as many).
    handlings: int = 1
    #: Delete the session ``session`` (closed or retired): its row, applied keys, delivery
    #: mark, and where the store keeps them its next due time and partition membership;
    #: only if it is still stored at ``version`` and ``incarnation`` (another process may
    #: have made it anew since). Nothing else in a deleting commit is about the session.
    delete: bool = False
    #: Delayed deliveries armed (``Runtime.deliver_at``: a simulator's answer), each
    #: ``{"name", "due", "seq", "event": {"vendor", "name", "t", "session", "id", "data"}}``,
    #: and the names of those whose input was handled (deleted after the new ones are set).
    deliveries: list[dict[str, Any]] = attrs.field(factory=list)
    deliveries_done: list[str] = attrs.field(factory=list)

    def empty(self) -> bool:
        return (self.snapshot is None and not self.delete and not self.applied
                and self.delivered is None and not self.outbox
                and not self.sent and not self.shared and not self.shared_read
                and not self.meta and not self.journal
                and not self.deliveries and not self.deliveries_done)


@attrs.define(slots=True)
class Loaded:
    """Everything a runtime needs to recover."""

    sessions: list[SessionRow] = attrs.field(factory=list)
    #: Idempotency keys and the delivery mark of inputs that reached no session.
    applied: set[str] = attrs.field(factory=set)
    delivered: int = 0
    shared: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    outbox: list[OutboxRow] = attrs.field(factory=list)
    meta: dict[str, Any] = attrs.field(factory=dict)
    #: Delayed deliveries armed and not yet handled (see :attr:`Commit.deliveries`).
    deliveries: list[dict[str, Any]] = attrs.field(factory=list)


@runtime_checkable
class Store(Protocol):
    """What the runtime needs of a store. See :class:`Commit` for the one write."""

    #: Whether :meth:`commit` keeps ``journal`` rows (replay's resumable report).
    journal_enabled: bool

    def load(self) -> Loaded:
        """Every session, shared index, pending outbox row and the metadata."""
        ...

    def get(self, key: str, partition: int | None = None) -> SessionRow | None:
        """One session as stored, or None (``partition``: where a partitioned store keeps
        it, when the caller knows)."""
        ...

    def keys(self) -> list[str]:
        """The stored sessions' keys, sorted."""
        ...

    def commit(self, commit: Commit) -> int:
        """Write ``commit`` atomically; return the session's new version (0 when no session
        was written). Raises :class:`Conflict` if the session's version moved."""
        ...

    def commit_many(self, commits: Iterable[Commit]) -> list[int]:
        """Write several commits in one transaction (a group commit), in order.
        ``commits`` may be an iterator that lets a commit's snapshot go once the next is
        asked for: a store encodes (or keeps) each snapshot as it comes to it."""
        ...

    def mark_sent(self, ids: Iterable[str]) -> None:
        """Delete outbox rows that were handed over (outside a handling)."""
        ...

    def journal(self) -> Iterable[tuple[int | None, bytes]]:
        """The journal rows in commit order (a list, or a :class:`Journal`: equal to the
        list of its rows)."""
        ...

    def fresh(self, known: Mapping[str, tuple[int, int]],
              partitions: Mapping[str, int] | None = None) -> dict[str, SessionRow | None]:
        """The sessions of ``known`` (key -> the (version, incarnation) a process holds;
        version 0: none) stored as another (:func:`moved`), as stored now (None: no longer
        stored): what another process sharing the store changed, read at once (Redis: one
        round trip)."""
        ...

    def shared_values(self, entries: Iterable[tuple[str, str]], partition: int = 0
                      ) -> dict[tuple[str, str], Any]:
        """The stored values of shared-index entries (machine, path): a value, or
        :data:`ABSENT` (after a conflict, to take what another process wrote);
        ``partition``: where a partitioned store keeps those the refused commit carried."""
        ...

    def close(self) -> None:
        ...


def apply_changes(shared: dict[str, Any], changes: Iterable[tuple[str, Any]]) -> None:
    """Apply (path, value) changes to a plain nested dict. A path is a dict key, or
    ``"outer\\x1finner"`` for a key of a nested dict (``busy_users`` -> ``alice``)."""
    for path, value in changes:
        parts = path.split("\x1f")
        target = shared
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if value is DELETED:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value


def lookup(shared: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (see :func:`apply_changes`) of a plain nested dict, or
    :data:`ABSENT`."""
    target: Any = shared
    for part in path.split("\x1f"):
        if not isinstance(target, Mapping) or part not in target:
            return ABSENT
        target = target[part]
    return target


class _Log:
    """What one handling did to a shared index (a TrackedDict and the dicts it holds):
    its changes in order, the entries it read before writing them (path -> value seen, or
    ABSENT), and the paths it wrote."""

    __slots__ = ("changes", "reads", "written")

    def __init__(self, changes: list[tuple[str, Any]] | None = None) -> None:
        self.changes: list[tuple[str, Any]] = changes if changes is not None else []
        self.reads: dict[str, Any] = {}
        self.written: set[str] = set()


class TrackedDict(dict[str, Any]):
    """A dict that logs its changes (and those of the dicts it holds) as (path, value) pairs,
    so a store writes only what a handling changed in a shared index, however large; and the
    entries a handling read (path -> value seen, or ABSENT), so that a store shared by
    several processes refuses a commit whose handling decided on an entry another process
    has changed since (:class:`SharedConflict`).

    Only the operations machines use are tracked: item get/set/delete, ``get``, ``in``,
    ``setdefault``, ``pop``, ``update``, ``clear``. A read of a nested dict is not an
    entry read (its entries are); a read of an entry this handling wrote is not logged
    (its value is the handling's own). Values are JSON-able; a nested dict becomes a
    TrackedDict.
    """

    __slots__ = ("_log", "_prefix", "_track")

    def __init__(self, data: Mapping[str, Any] | None = None, *,
                 log: list[tuple[str, Any]] | None = None, prefix: str = "",
                 track: _Log | None = None) -> None:
        super().__init__()
        self._track = track if track is not None else _Log(log)
        self._log = self._track.changes
        self._prefix = prefix
        for k, v in (data or {}).items():
            dict.__setitem__(self, k, self._wrap(k, v))

    @property
    def changes(self) -> list[tuple[str, Any]]:
        return self._log

    @property
    def reads(self) -> dict[str, Any]:
        """Entries read since :meth:`clear_log`: path -> the value seen (or ABSENT)."""
        return self._track.reads

    def logged(self) -> bool:
        """Whether something was changed or read since :meth:`clear_log` (one call where
        a commit asks it of every handling)."""
        track = self._track
        return bool(track.changes or track.reads)

    def clear_log(self) -> None:
        """Forget what was changed and read (the handling is committed, or taken back)."""
        track = self._track
        track.changes.clear()
        track.reads.clear()
        track.written.clear()

    def _wrap(self, key: str, value: Any) -> Any:
        if isinstance(value, dict) and not isinstance(value, TrackedDict):
            return TrackedDict(value, prefix=f"{self._prefix}{key}\x1f", track=self._track)
        return value

    def _read(self, key: str, value: Any) -> None:
        if isinstance(value, TrackedDict):
            return
        path = f"{self._prefix}{key}"
        track = self._track
        if path not in track.reads and path not in track.written:
            track.reads[path] = value

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)  # a KeyError is no entry to check: it raises
        self._read(key, value)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, ABSENT)
        self._read(key, value)
        return default if value is ABSENT else value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return dict.__contains__(self, key)
        value = dict.get(self, key, ABSENT)
        self._read(key, value)
        return value is not ABSENT

    def _wrote(self, key: str) -> str:
        path = f"{self._prefix}{key}"
        self._track.written.add(path)
        return path

    def __setitem__(self, key: str, value: Any) -> None:
        value = self._wrap(key, value)
        dict.__setitem__(self, key, value)
        path = self._wrote(key)
        if isinstance(value, TrackedDict):
            for sub, v in _flatten(value, f"{path}\x1f"):
                self._track.written.add(sub)
                self._log.append((sub, v))
            if not value:
                self._log.append((path, {}))
        else:
            self._log.append((path, value))

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self._log.append((self._wrote(key), DELETED))

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, ABSENT)
        if not isinstance(default, dict) or value is not ABSENT:
            self._read(key, value)  # a new nested dict decides nothing
        if value is ABSENT:
            self[key] = default
            return dict.__getitem__(self, key)
        return value

    _MISSING: Any = object()

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        value = dict.get(self, key, ABSENT)
        self._read(key, value)
        if value is not ABSENT:
            del self[key]
            return value
        if default is TrackedDict._MISSING:
            raise KeyError(key)
        return default

    def update(self, *args: Any, **kwargs: Any) -> None:
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def clear(self) -> None:
        for k in list(self):
            del self[k]

    def refresh(self, values: Mapping[str, Any]) -> None:
        """Take stored values (path -> value or ABSENT) without logging them: after a
        conflict, what another process wrote replaces what the refused handling did. A
        nested dict already here is kept (its entries are refreshed by their paths)."""
        for path, value in values.items():
            parts = path.split("\x1f")
            target: TrackedDict = self
            for part in parts[:-1]:
                inner = dict.get(target, part)
                if not isinstance(inner, TrackedDict):
                    inner = target._wrap(part, {})
                    dict.__setitem__(target, part, inner)
                target = inner
            last = parts[-1]
            here = dict.get(target, last, ABSENT)
            if isinstance(here, TrackedDict) and (value is ABSENT or isinstance(value, dict)):
                continue
            if value is ABSENT:
                dict.pop(target, last, None)
            else:
                dict.__setitem__(target, last, target._wrap(last, value))

    def plain(self) -> dict[str, Any]:
        return {k: v.plain() if isinstance(v, TrackedDict) else v for k, v in self.items()}


def _flatten(d: Mapping[str, Any], prefix: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, Mapping):
            out += _flatten(v, f"{prefix}{k}\x1f")
        else:
            out.append((f"{prefix}{k}", v))
    return out

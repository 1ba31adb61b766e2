"""Durability: the runtime with a store. One commit point per handling, an outbox for the
commands, idempotency keys for inputs delivered again, and recovery.

A room of :class:`~recstate.runtime.Runtime` (which inherits it); without a store
(``store=None``) none of it runs, and the runtime behaves as it always did.

The guarantee, precisely:

- **Exactly-once effect on the machine.** Each handled input (an event, a timer falling
  due) ends in ONE :meth:`Store.commit <recstate.stores.Store.commit>` that writes the
  session's new snapshot (timers as absolute due times), the input's idempotency keys, the
  commands it asked for (the outbox) and the shared-index changes together. An input whose
  keys were applied is acknowledged and skipped: silently for a *delivery* (the same trace
  line or stream entry offered again after a crash: each session keeps the last line it was
  delivered, a mark, since its inputs come in line order), with an ``info`` notice
  ``duplicate`` in the trace for a vendor's redelivery (a line's ``id``, NetEase's
  channelid + filename + pieceindex).
- **At-least-once to the adapter.** Commands are handed to the command signal's receivers
  only after the commit, each with its ``command_id`` (stable across a crash); the row is
  deleted in the next commit. A crash between the commit and that deletion hands the
  command over again on recovery, with the same id: an adapter makes its call idempotent
  with it where the vendor allows, and its outcome event carries it as its ``id``, so the
  machine applies one outcome however often it is delivered.
- **Timers.** Timers are part of the snapshot. On recovery, a timer that fell due while
  the service was down fires on the next ``run_due`` at its original due time as far as the
  machine is concerned (``TimerEvent.t`` and every record it makes say the due time).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from blinker import NamedSignal

from recstate import signals
from recstate.events import Command, Event, command_class, converter
from recstate.machine import Engine, Machine
from recstate.session import Session
from recstate.stores.base import (
    Commit,
    Conflict,
    Loaded,
    OutboxRow,
    Store,
    TrackedDict,
    partition_of,
)
from recstate.timers import TimerQueue
from recstate.trace import Record
from recstate.vendors import Vendor

__all__ = ["Durability"]

Tracer = Any


class Durability:
    """Commits each handling to ``self.store`` and hands its commands over afterwards."""

    store: Store | None
    tracer: Tracer | None
    sessions: dict[str, Session]
    _command_signals: dict[str, NamedSignal]
    _engines: dict[type[Machine], Engine]
    timers: TimerQueue
    _queue: deque[tuple[Event, int | None, dict[str, Any] | None]]

    if TYPE_CHECKING:  # the other rooms' methods this one calls
        def vendor(self, name: str) -> Vendor: ...
        def snapshot(self, key: str) -> dict[str, Any]: ...
        def restore(self, data: dict[str, Any]) -> Session: ...
        def _tell(self, signal: NamedSignal, session: Session, trigger: str, now: float,
                  **kwargs: Any) -> None: ...
        def _error(self, session: Session | None, name: str, code: int | str, message: str,
                   level: str, now: float, vendor: str | None = None) -> None: ...

    #: Offer each input's trace line as its delivery key (replay and workers: a line read
    #: again after a crash is recognised without a trace record).
    keys_from_lines: bool = False
    #: Handlings per store transaction (group commit). 1: each is written before the next
    #: starts. More: written together when that many are waiting, or at ``flush_store``;
    #: their records and commands go out only once written, so the guarantee holds, and a
    #: crash loses only handlings nobody was told of (they are done again on recovery).
    group_commits: int = 1

    def _durable_init(self, store: Store | None) -> None:
        self.store = store
        #: Commands this handling asked for: (session, trigger, t, command); None without
        #: a store (commands are told at once, as they always were).
        self._outbox: list[tuple[Session, str, float, Command]] | None = (
            [] if store is not None else None)
        self._sink: Tracer | None = None
        self._records: list[Record] = []
        self._versions: dict[str, int] = {}
        self._applied: dict[str, set[str]] = {}
        self._applied_anywhere: set[str] = set()
        self._delivered: dict[str, int] = {}
        self._delivered_anywhere = 0
        self._input_keys: list[str] = []
        self._input_line: int | None = None
        self._sent: list[str] = []
        self._shared_loaded: dict[str, dict[str, Any]] = {}
        self._partition_cache: dict[str, int] = {}
        self._group: list[tuple[Commit, list[Record], list[Any]]] = []
        self._timer_commits: dict[int, bool] = {}
        if store is not None:
            self._sink, self.tracer = self.tracer, self._records.append

    # ---- the engines' shared indexes are tracked, so a commit writes only what changed ---
    def _engine(self, cls: type[Machine]) -> Engine:
        engine: Engine = super()._engine(cls)  # type: ignore[misc]
        if self.store is not None:
            engine.model.shared = TrackedDict(self._shared_loaded.get(cls.qualified_name()))
        return engine

    # ---- idempotency ---------------------------------------------------------------------
    def _duplicate(self, session: Session | None, ev: Event, line: int | None,
                   now: float) -> str | None:
        """Whether ``ev`` was applied already: ``"again"`` for the same delivery offered
        again after a crash (skipped, nothing to say), ``"applied"`` for an input whose
        idempotency keys were all applied (traced, then :meth:`_skip`), None for a new one
        (its keys are remembered for the commit). Runs with or without a store (without
        one, for inputs that have keys), so a replay gives the same report either way."""
        applied = (self._applied.get(session.key) if session is not None
                   else self._applied_anywhere)
        delivered = None
        if self.keys_from_lines and line is not None:
            mark = (self._delivered.get(session.key, 0) if session is not None
                    else self._delivered_anywhere)
            if line <= mark:
                return "again"
            delivered = line
        vendor = self.vendor(ev.vendor)
        own: tuple[str, ...] = ((ev.id,) if ev.id is not None
                                else tuple(vendor.idempotency_keys(ev))
                                if vendor.idempotency_keys is not None else ())
        if self.store is not None:
            self._input_keys, self._input_line = list(own), delivered
        if own and applied and all(k in applied for k in own):
            if self.store is not None:
                self._input_keys = []
            return "applied"
        if own and self.store is None and session is not None:  # remembered here
            self._applied.setdefault(session.key, set()).update(own)
        return None

    def _skip(self, session: Session | None, ev: Event, line: int | None, now: float
              ) -> None:
        """Acknowledge a repeated input: an ``info`` notice says so; nothing else."""
        own = (ev.id,) if ev.id is not None else tuple(
            self.vendor(ev.vendor).idempotency_keys(ev))  # type: ignore[misc]
        self._error(session, ev.name, "duplicate",
                    f"input {', '.join(own)} was applied already: acknowledged and "
                    "skipped (a delivery repeated by the vendor or the transport)",
                    "info", now, vendor=ev.vendor)
        if self.store is not None:
            self._commit(session, line)

    # ---- the commit point --------------------------------------------------------------------
    def _partition(self, session: Session) -> int:
        n = getattr(self.store, "partitions", 1)
        if n <= 1:
            return 0
        p = self._partition_cache.get(session.key)
        if p is None:
            vendor = self.vendor(session.vendor)
            pkey = (vendor.partition_key(session.key) if vendor.partition_key is not None
                    else session.key)
            p = self._partition_cache[session.key] = partition_of(pkey, n)
        return p

    def _commit(self, session: Session | None, line: int | None, *, timer: bool = False
                ) -> None:
        """What this handling did, as one :class:`Commit`: written now (or with its group),
        then traced and its commands handed over."""
        store = self.store
        assert store is not None
        commit = Commit(applied=self._input_keys, sent=self._sent,
                        delivered=self._input_line)
        self._input_keys, self._sent, self._input_line = [], [], None
        pending = self._outbox or []
        self._outbox = []
        if session is not None:
            key = session.key
            version = self._versions.get(key, 0)
            commit.session, commit.version = key, version
            commit.snapshot = self.snapshot(key)
            commit.partition = self._partition(session)
            commit.outbox = [OutboxRow(f"{key}/{version + 1}/{i}", key, session.vendor,
                                       cmd.name, t, cmd.payload())
                             for i, (_, _, t, cmd) in enumerate(pending)]
            engine = self._engines.get(session.machine)
            shared = engine.model.shared if engine is not None else None
            if isinstance(shared, TrackedDict) and shared.changes:
                name = session.machine.qualified_name()
                commit.shared = [(name, path, value) for path, value in shared.changes]
                shared.changes.clear()
        records = self._records[:]
        self._records.clear()
        if store.journal_enabled:
            commit.journal = [(line, r.dumps()) for r in records]
        if session is not None:  # the version this commit makes, if it is written
            self._versions[session.key] = commit.version + 1
            if commit.applied:
                self._applied.setdefault(session.key, set()).update(commit.applied)
            if commit.delivered is not None:
                self._delivered[session.key] = commit.delivered
        else:
            self._applied_anywhere.update(commit.applied)
            if commit.delivered is not None:
                self._delivered_anywhere = max(self._delivered_anywhere, commit.delivered)
        group = self._group
        group.append((commit, records, pending))
        self._timer_commits[id(commit)] = timer
        if len(group) >= self.group_commits:
            self._write_group()

    def _write_group(self) -> None:
        """Write the commits made since the last write in one transaction; then trace what
        they did and hand their commands over (never before: at-least-once needs the
        commit first)."""
        group, self._group = self._group, []
        if not group:
            return
        store = self.store
        assert store is not None
        timers, self._timer_commits = self._timer_commits, {}
        try:
            if len(group) == 1:
                store.commit(group[0][0])
            else:
                store.commit_many([c for c, _, _ in group])
        except Conflict as conflict:
            conflict.input = not any(timers.get(id(c)) for c, _, _ in group
                                     if c.session == conflict.session)
            raise
        sink = self._sink
        for commit, records, pending in group:
            if sink is not None:
                for record in records:
                    sink(record)
            # What handing over records (a receiver's error) goes with the next commit.
            for row, (sess, trigger, t, cmd) in zip(commit.outbox, pending, strict=True):
                self._hand_over(row, sess, trigger, t, cmd)

    def _hand_over(self, row: OutboxRow, session: Session, trigger: str, t: float,
                   cmd: Command) -> None:
        sig = self._command_signals.get(session.vendor)
        if sig is None:
            sig = self._command_signals[session.vendor] = signals.commands(session.vendor)
        if sig.receivers:
            self._tell(sig, session, trigger, t, command=cmd,
                       command_id=row.id)
        self._sent.append(row.id)

    # ---- recovery ------------------------------------------------------------------------------
    def recover(self, partitions: Iterable[int] | None = None) -> Loaded:
        """Bring back every stored session (or those of ``partitions``) with its timers,
        versions and applied keys, and hand over again the commands that were committed
        but not known to be handed over. Timers that fell due while down fire on the next
        ``run_due`` (or ``advance``) at their due times."""
        store = self.store
        if store is None:
            raise TypeError("recover() needs a runtime made with a store (store=...)")
        loaded: Loaded = (store.load(partitions) if partitions is not None  # type: ignore[call-arg]
                          else store.load())
        self._shared_loaded = loaded.shared
        for cls, engine in self._engines.items():
            engine.model.shared = TrackedDict(loaded.shared.get(cls.qualified_name()))
        for row in loaded.sessions:
            self.restore(row.snapshot)
            self._versions[row.key] = row.version
            self._applied[row.key] = set(row.applied)
            self._delivered[row.key] = row.delivered
        self._applied_anywhere |= loaded.applied
        self._delivered_anywhere = max(self._delivered_anywhere, loaded.delivered)
        for engine in self._engines.values():
            if isinstance(engine.model.shared, TrackedDict):
                engine.model.shared.changes.clear()  # restored() re-entered what was stored
        handed = []
        for ob in loaded.outbox:
            owner = self.sessions.get(ob.session)
            kind = command_class(ob.vendor, ob.name)
            if owner is None or kind is None:
                continue
            self._hand_over(ob, owner, "recovery", ob.t, converter.structure(ob.data, kind))
            handed.append(ob.id)
        self._sent.clear()
        if handed:
            store.mark_sent(handed)
        return loaded

    def reload(self, key: str) -> Session | None:
        """Take session ``key`` as the store has it now (after a :class:`Conflict`: another
        process wrote it), forgetting what this runtime had: its state and its timers."""
        store = self.store
        if store is None:
            raise TypeError("reload() needs a runtime made with a store (store=...)")
        self.timers.cancel_session(key)
        self.sessions.pop(key, None)
        self._records.clear()
        if self._outbox:
            self._outbox.clear()
        self._input_keys = []
        row = store.get(key)
        if row is None:
            self._versions.pop(key, None)
            self._applied.pop(key, None)
            return None
        session = self.restore(row.snapshot)
        self._versions[key], self._applied[key] = row.version, set(row.applied)
        self._delivered[key] = row.delivered
        return session

    def queued(self, ev: Event) -> bool:
        """Whether ``ev`` waits in the run-to-completion queue (a handling before it, a due
        timer say, stopped the loop with an exception)."""
        return any(item[0] is ev for item in self._queue)

    def stale(self, key: str) -> bool:
        """Whether the store holds a newer version of ``key`` than this runtime (another
        process sharing the store handled it): one read."""
        store = self.store
        if store is None:
            return False
        version = getattr(store, "version", None)
        if version is not None:
            return bool(version(key) != self._versions.get(key, 0))
        row = store.get(key)
        return (row.version if row is not None else 0) != self._versions.get(key, 0)

    def flush_store(self) -> None:
        """Write the handlings waiting for a group commit, and delete the outbox rows
        handed over since the last commit (before a clean stop, and at the end of a
        replay)."""
        if self.store is None:
            return
        self._write_group()
        if self._sent:
            self.store.mark_sent(self._sent)
            self._sent = []

    def version(self, key: str) -> int:
        """The stored version of session ``key`` (0: never committed)."""
        return self._versions.get(key, 0)

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
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, cast

from blinker import NamedSignal

from recstate import signals
from recstate.clock import Clock, ManualClock
from recstate.events import Command, Event, command_class, converter, parse_event
from recstate.machine import Engine, Machine
from recstate.session import Session
from recstate.stores.base import (
    NEW,
    Commit,
    Conflict,
    Journal,
    Loaded,
    OutboxRow,
    SessionRow,
    SharedConflict,
    Store,
    TrackedDict,
    moved,
    partition_of,
)
from recstate.timers import Timer, TimerQueue
from recstate.trace import TraceWriter
from recstate.vendors import Vendor

__all__ = ["Durability"]

Tracer = Any

#: How far ``group_per_session`` may stretch a group: this many times ``group_commits``.
GROUP_STRETCH = 8


class _Lines(list[bytes]):
    """What a store's journal is traced to: a :class:`TraceWriter` writing to this list
    appends each line, encoded, to it (its ``write_line`` is ``list.append``), so a
    handling's records take the runtime's own encoders (per class, without a Record) and
    are journaled as they were encoded, not made into Records and encoded again."""

    write = list.append

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return 0

    def flush(self) -> None:
        pass


class _Carrier:
    """A session's part of the group being gathered: one small object per session and
    group; its :class:`Commit` is made when the group is written."""

    __slots__ = ("applied", "delivered", "handlings", "incarnation", "outbox", "session",
                 "timer", "version")

    def __init__(self, session: Session, version: int, incarnation: int) -> None:
        self.session = session
        self.version = version
        self.incarnation = incarnation
        self.handlings = 1
        self.applied: list[str] | None = None
        self.delivered: int | None = None
        self.outbox: list[OutboxRow] | None = None
        self.timer = False

    def commit(self, runtime: Durability) -> Commit:
        session = self.session
        return Commit(session=session.key, snapshot=runtime._snapshot_of(session),
                      version=self.version, incarnation=self.incarnation,
                      handlings=self.handlings,
                      applied=self.applied or [], delivered=self.delivered,
                      outbox=self.outbox or [], partition=runtime._partition(session))


class Durability:
    """Commits each handling to ``self.store`` and hands its commands over afterwards."""

    store: Store | None
    tracer: Tracer | None
    sessions: dict[str, Session]
    _command_signals: dict[str, NamedSignal]
    _engines: dict[type[Machine], Engine]
    timers: TimerQueue
    clock: Clock
    _deliveries: int
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
    #: With group commits (``group_commits`` > 1), a group also waits until it holds this
    #: many handlings per session it touched (at most ``group_commits`` x
    #: ``GROUP_STRETCH`` handlings): a group writes each session once, so the cost of a
    #: handling is that write shared by the session's handlings in the group. Replaying
    #: 152 recordings with heartbeats, groups of 256 held 1.7 handlings per session; 4 make
    #: the store's cost per event about half (bench/RESULTS.md).
    group_per_session: int = 8

    def _durable_init(self, store: Store | None) -> None:
        self.store = store
        #: Commands this handling asked for: (session, trigger, t, command); None without
        #: a store (commands are told at once, as they always were).
        self._outbox: list[tuple[Session, str, float, Command]] | None = (
            [] if store is not None else None)
        self._sink: Tracer | None = None
        #: What this handling traced: encoded lines (``_lines``: the tracer is a
        #: TraceWriter on them, when the runtime's own tracer is none or a TraceWriter) or
        #: Records (another tracer, which is told the Records).
        self._records: list[Any] = []
        self._lines = False
        self._versions: dict[str, int] = {}
        #: The incarnation of each session held at a version > 0 (see
        #: :class:`~recstate.stores.base.SessionRow`): none yet for one made in the group
        #: being gathered (the store gives it when the group is written).
        self._incarnations: dict[str, int] = {}
        self._applied: dict[str, set[str]] = {}
        self._applied_anywhere: set[str] = set()
        self._delivered: dict[str, int] = {}
        self._delivered_anywhere = 0
        self._input_keys: tuple[str, ...] = ()
        self._input_line: int | None = None
        #: Outbox rows handed over since the last commit: (id, partition of its session:
        #: where a partitioned store keeps it).
        self._sent: list[tuple[str, int]] = []
        #: Those of them going with the group being gathered, by partition.
        self._group_sent: dict[int, list[str]] = {}
        self._shared_loaded: dict[str, dict[str, Any]] = {}
        #: Shared entries written by the group being gathered: (machine, path).
        self._group_written: set[tuple[str, str]] = set()
        #: A store on a Redis Cluster: a group holds one partition's handlings (one script
        #: in one slot), written when a handling of another partition comes.
        self._cluster = bool(getattr(store, "cluster", False))
        self._group_p: int | None = None
        self._partition_cache: dict[str, int] = {}
        # The group being gathered (see _commit): a commit per session (by key, and in
        # order), the rest, the records to trace and the commands to hand over once
        # written, and how many handlings it holds.
        self._carriers: dict[str, _Carrier] = {}
        self._carrier_list: list[_Carrier | Commit] = []  # a Commit: a session deleted
        self._rest = Commit()
        self._group_records: list[Any] = []
        self._handing: list[tuple[OutboxRow, tuple[Session, str, float, Command]]] = []
        self._group_size = 0
        #: Delayed deliveries fired whose input is queued (id of the event -> name), and
        #: the one the input being handled came from: deleted with its handling's commit.
        self._delivering: dict[int, str] = {}
        self._input_delivery: str | None = None
        #: A fleet sharing a store that hands out timers (``serve`` on Redis): the sessions
        #: whose due timers this process fires now (those it claimed from the store, and
        #: the one whose input it handles). A due timer of another session is not this
        #: process's to fire: the session is evicted from memory instead (it may have moved
        #: in the store; its next input takes it from there). None: every session's.
        self.firing: set[str] | None = None
        #: Timer handlings committed, by timer name (a metric of ``serve``).
        self.fired: dict[str, int] = {}
        self._firing_name: str | None = None
        self._group_fired: list[str] = []
        if store is not None:
            self._sink = self.tracer
            if self._sink is None or self._sink.__class__ is TraceWriter:
                self._lines = True
                self._records = lines = _Lines()
                self.tracer = TraceWriter(cast(IO[bytes], lines), flush_interval=None)
            else:
                self.tracer = self._records.append

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
            self._input_keys, self._input_line = own, delivered
        if own and applied and all(k in applied for k in own):
            if self.store is not None:
                self._input_keys = ()
            return "applied"
        if own and self.store is None:  # remembered here (with a store: at the commit)
            (self._applied.setdefault(session.key, set()) if session is not None
             else self._applied_anywhere).update(own)
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
        """What this handling did, added to the group: written now (or when the group is
        full, or at ``flush_store``), then traced and its commands handed over.

        A group is written as one :class:`Commit` per session it touched (its row written
        once: version checked once and moved by its ``handlings``, its applied keys and
        delivery mark, its outbox rows in order, and the snapshot taken when the group is
        written: the state after the group's last handling of it, which is what the
        transaction must leave) and one for the rest (journal and shared-index rows in
        handling order, outbox deletions, inputs that reached no session). So a group
        snapshots and writes each session once; a handling makes no container that lives
        until the write but its journal rows (fewer collections by the garbage collector,
        which was a third of a store's cost)."""
        store = self.store
        assert store is not None
        if self._cluster:  # a group is one slot: one partition's handlings
            p = self._partition(session) if session is not None else self._group_p
            if self._group_size and p is not None and p != self._group_p:
                self._write_group()
            self._group_p = p if p is not None else self._group_p or 0
            self._rest.partition = self._group_p
        rest = self._rest
        keys, delivered = self._input_keys, self._input_line
        if keys:
            self._input_keys = ()
        self._input_line = None
        if self._sent:
            for sent, p in self._sent:
                self._group_sent.setdefault(p, []).append(sent)
            self._sent = []
        if self._input_delivery is not None:
            rest.deliveries_done.append(self._input_delivery)
            self._input_delivery = None
        pending = self._outbox
        if session is not None:
            key = session.key
            version = self._versions.get(key, 0)
            self._versions[key] = version + 1  # the version this handling makes
            carrier = self._carriers.get(key)
            if carrier is not None and carrier.session is session:
                carrier.handlings += 1
            else:
                carrier = self._carriers[key] = _Carrier(
                    session, version, self._incarnations.get(key, NEW) if version else 0)
                self._carrier_list.append(carrier)
            if keys:
                carrier.applied = [*(carrier.applied or ()), *keys]
                self._applied.setdefault(key, set()).update(keys)
            if delivered is not None:
                carrier.delivered = delivered
                self._delivered[key] = delivered
            if timer:
                carrier.timer = True
                if self._firing_name is not None:
                    self._group_fired.append(self._firing_name)
            if pending:
                self._outbox = []
                rows = carrier.outbox
                if rows is None:
                    rows = carrier.outbox = []
                handing = self._handing
                for i, item in enumerate(pending):
                    cmd = item[3]
                    row = OutboxRow(f"{key}/{version + 1}/{i}", key, session.vendor,
                                    cmd.name, item[2], cmd.payload())
                    rows.append(row)
                    handing.append((row, item))
            engine = self._engines.get(session.machine)
            shared = engine.model.shared if engine is not None else None
            if isinstance(shared, TrackedDict) and shared.logged():
                name = session.machine.qualified_name()
                written = self._group_written
                if shared.reads:  # entries a handling before it in the group wrote are its own
                    rest.shared_read += [(name, path, value)
                                         for path, value in shared.reads.items()
                                         if (name, path) not in written]
                for path, value in shared.changes:
                    rest.shared.append((name, path, value))
                    written.add((name, path))
                shared.clear_log()
        else:
            if keys:
                rest.applied += keys
                self._applied_anywhere.update(keys)
            if delivered is not None:
                rest.delivered = max(rest.delivered or 0, delivered)
                self._delivered_anywhere = max(self._delivered_anywhere, delivered)
        records = self._records
        if records:
            if store.journal_enabled:
                journal = rest.journal
                if journal is None:
                    journal = rest.journal = Journal()
                # encoded lines (the rows are without their newline), or Records
                journal.add(line, [encoded[:-1] for encoded in records] if self._lines
                            else [record.dumps() for record in records])
            if self._sink is not None:
                self._group_records += records
            records.clear()
        size = self._group_size = self._group_size + 1
        least = self.group_commits  # (_group_full, inlined: once per handling)
        if size >= least and (least == 1 or size >= self.group_per_session * len(self._carriers)
                              or size >= least * GROUP_STRETCH):
            self._write_group()

    def _write_group(self) -> None:
        """Write the handlings made since the last write in one transaction; then trace
        what they did and hand their commands over (never before: at-least-once needs the
        commit first)."""
        if not self._group_size:
            return
        store = self.store
        assert store is not None
        carriers, rest = self._carrier_list, self._rest
        records, handing = self._group_records, self._handing
        sent, self._group_sent = self._group_sent, {}
        rest.sent = sent.pop(rest.partition, [])
        for p, ids in sorted(sent.items()):  # outbox rows live in their partition's hash
            if self._cluster:  # another slot: deleted on their own (handed over already)
                store.mark_sent(ids, partition=p)  # type: ignore[call-arg]
            else:
                carriers.append(Commit(sent=ids, partition=p))
        self._group_p = None
        self._carrier_list, self._rest, self._group_records, self._handing = [], Commit(), [], []
        self._carriers.clear()
        self._group_size = 0
        self._group_written = set()
        fired, self._group_fired = self._group_fired, []
        made: list[Commit] = []  # the group's commits that make a session
        try:
            if len(carriers) + (not rest.empty()) == 1:
                one = carriers[0] if carriers else rest
                commit = one.commit(self) if isinstance(one, _Carrier) else one
                if commit.version == 0 and commit.snapshot is not None:
                    made.append(commit)
                store.commit(commit)
            else:
                store.commit_many(self._commits(carriers, rest, made))
        except Conflict as conflict:
            if isinstance(conflict, SharedConflict):  # the handlings' sessions go back too
                conflict.sessions = [c.session.key for c in carriers
                                     if isinstance(c, _Carrier)]
                conflict.session = conflict.sessions[0] if conflict.sessions else ""
            # an input's handling lost (not a timer's, nor a deletion's: a retirement)
            mine = [c for c in carriers if isinstance(c, _Carrier)
                    and c.session.key == conflict.session]
            conflict.input = isinstance(conflict, SharedConflict) or (
                bool(mine) and not any(c.timer for c in mine))
            self._refresh_shared(rest, conflict)
            raise
        for commit in made:  # in order: a session made again in the group, the last one
            key = commit.session or ""
            if key in self._versions:  # still held (not retired since)
                self._incarnations[key] = commit.incarnation
        for name in fired:
            self.fired[name] = self.fired.get(name, 0) + 1
        sink = self._sink
        if sink is not None:
            if self._lines:  # a TraceWriter: the lines as encoded
                write = sink.write_line
                for encoded in records:
                    write(encoded)
            else:
                for record in records:
                    sink(record)
        # What handing over records (a receiver's error) goes with the next commit.
        for row, (sess, trigger, t, cmd) in handing:
            self._hand_over(row, sess, trigger, t, cmd)

    def _refresh_shared(self, rest: Commit, conflict: Conflict) -> None:
        """A refused group's shared entries (read or written) as the store has them now:
        what another process wrote replaces what the refused handlings did, so that the
        input handled again decides on the stored values."""
        touched = {(m, path) for m, path, _ in (*rest.shared, *rest.shared_read)}
        if not touched:
            return
        current = dict(conflict.current) if isinstance(conflict, SharedConflict) else {}
        missing = touched - current.keys()
        if missing:
            assert self.store is not None
            current.update(self.store.shared_values(sorted(missing),
                                                    partition=rest.partition))
        by_machine: dict[str, dict[str, Any]] = {}
        for (m, path), value in current.items():
            by_machine.setdefault(m, {})[path] = value
        for cls, engine in self._engines.items():
            values = by_machine.get(cls.qualified_name())
            shared = engine.model.shared
            if values and isinstance(shared, TrackedDict):
                shared.refresh(values)
                shared.clear_log()

    def _commits(self, carriers: list[_Carrier | Commit], rest: Commit, made: list[Commit]
                 ) -> Iterator[Commit]:
        """The group's commits, each session's snapshot taken as the store comes to it
        and let go once the store has it (never a group's worth of snapshots at once);
        those that make a session go to ``made`` (the store tells them its incarnation)."""
        for carrier in carriers:
            if not isinstance(carrier, _Carrier):  # a deletion
                yield carrier
                continue
            commit = carrier.commit(self)
            if not carrier.version:
                made.append(commit)
            yield commit
            commit.snapshot = None
        if not rest.empty():
            yield rest

    def _snapshot_of(self, session: Session) -> dict[str, Any]:
        """``Runtime.snapshot`` of a session object (which may have left ``sessions``
        since its handling: closed, or retired, in the same group)."""
        data = session.snapshot()
        data["timers"] = [{**t.to_dict(), "seq": t.seq}
                          for t in self.timers.for_session(session.key)]
        return data

    def _hand_over(self, row: OutboxRow, session: Session, trigger: str, t: float,
                   cmd: Command) -> None:
        sig = self._command_signals.get(session.vendor)
        if sig is None:
            sig = self._command_signals[session.vendor] = signals.commands(session.vendor)
        if sig.receivers:
            self._tell(sig, session, trigger, t, command=cmd,
                       command_id=row.id)
        self._sent.append((row.id, self._partition(session)))

    # ---- delayed deliveries (simulators' answers) --------------------------------------
    def deliver_at(self, t: float | None, event: Event) -> None:
        """Dispatch ``event`` at ``t`` (see ``Scheduling.deliver_at``); with a store the
        delivery is kept (in the commit of the handling that asked for it, or the next one)
        until its input's handling is committed, so a killed run delivers it on recovery."""
        super().deliver_at(t, event)  # type: ignore[misc]
        if self.store is None:
            return
        name = f"deliver#{self._deliveries}"
        timer = self.timers.get(None, name)
        if timer is None:
            return
        self._rest.deliveries.append({
            "name": name, "due": timer.due, "seq": timer.seq,
            "event": {"vendor": event.vendor, "name": event.name, "t": event.t,
                      "session": event.session, "id": event.id, "data": event.payload()}})

    def _fire(self, timer: Timer) -> None:
        firing = self.firing
        if timer.session is not None:
            if firing is not None and timer.session not in firing:
                self.evict(timer.session)
                return
            if self.store is not None:
                self._firing_name = timer.name
                try:
                    super()._fire(timer)  # type: ignore[misc]
                finally:
                    self._firing_name = None
                return
        if (self.store is not None and timer.session is None
                and timer.name.startswith("deliver#") and isinstance(timer.payload, Event)):
            self._delivering[id(timer.payload)] = timer.name
        super()._fire(timer)  # type: ignore[misc]

    def _handle_input(self, ev: Event, line: int | None, data: dict[str, Any] | None
                      ) -> None:
        delivering = self._delivering
        if not delivering:
            super()._handle_input(ev, line, data)  # type: ignore[misc]
            return
        name = delivering.pop(id(ev), None)
        if name is None:
            super()._handle_input(ev, line, data)  # type: ignore[misc]
            return
        queued = len(self._queue)
        self._input_delivery = name
        try:
            super()._handle_input(ev, line, data)  # type: ignore[misc]
        finally:
            if self._input_delivery == name:  # not committed with a handling
                self._input_delivery = None
                grown = len(self._queue) - queued
                if grown > 0:  # split into parts: done with the last part's handling
                    delivering[id(self._queue[grown - 1][0])] = name
                else:
                    self._rest.deliveries_done.append(name)

    # ---- sessions that end ---------------------------------------------------------------
    def _retire(self, key: str, now: float) -> None:
        session = self.sessions.get(key)
        super()._retire(key, now)  # type: ignore[misc]
        if session is not None and key not in self.sessions:
            self._forget(key, session)

    def _forget(self, key: str, session: Session | None) -> None:
        """A session was closed or retired: drop what this runtime kept of it, and delete it
        from the store (its row, applied keys and delivery mark; its timers and partition
        membership on Redis) in the group's order, after the group's last write of it. So a
        service that runs for months keeps in its store only the sessions it has not
        retired."""
        held = self._versions.pop(key, 0)  # after the group's handlings of it
        incarnation = self._incarnations.pop(key, NEW)  # NEW: made in this group
        if not held:  # never stored: deleted as not stored
            incarnation = 0
        self._applied.pop(key, None)
        self._delivered.pop(key, None)
        if session is None or self.store is None:  # nothing of it here to delete
            self._partition_cache.pop(key, None)
            return
        partition = self._partition(session)
        self._partition_cache.pop(key, None)
        if self._cluster:  # a group is one slot: one partition's
            if self._group_size and partition != self._group_p:
                self._write_group()
            self._group_p = partition
            self._rest.partition = partition
        self._carriers.pop(key, None)  # a new session under this key starts a new carrier
        # deleted only if the store still has the version and incarnation held here: in a
        # fleet another process may have revived it, or made it anew, since (a Conflict:
        # the runtime takes it back)
        self._carrier_list.append(Commit(session=key, delete=True, version=held,
                                         incarnation=incarnation, partition=partition))
        self._group_size += 1
        if self._group_full():
            self._write_group()

    def _group_full(self) -> bool:
        size, least = self._group_size, self.group_commits
        return size >= least and (least == 1
                                  or size >= self.group_per_session * len(self._carriers)
                                  or size >= least * GROUP_STRETCH)

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
            self._incarnations[row.key] = row.incarnation
            self._applied[row.key] = set(row.applied)
            self._delivered[row.key] = row.delivered
        self._applied_anywhere |= loaded.applied
        self._delivered_anywhere = max(self._delivered_anywhere, loaded.delivered)
        for engine in self._engines.values():
            if isinstance(engine.model.shared, TrackedDict):
                engine.model.shared.clear_log()  # restored() re-entered what was stored
        for d in loaded.deliveries:  # delayed deliveries, each in its place
            e = d["event"]
            event = parse_event(e["vendor"], e["name"], e["t"], e["data"], e["session"],
                                id=e["id"], source="the store's deliveries")
            self.timers.arm(None, d["name"], d["due"], payload=event, seq=d["seq"])
            number = d["name"].partition("#")[2]
            if number.isdigit():
                self._deliveries = max(self._deliveries, int(number))
        handed = []
        clock = self.clock
        for ob in loaded.outbox:
            owner = self.sessions.get(ob.session)
            kind = command_class(ob.vendor, ob.name)
            if owner is None or kind is None:
                continue
            if isinstance(clock, ManualClock) and clock.now() < ob.t:
                clock.set(ob.t)  # in virtual time, handed over again at its own time
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
        session = self.sessions.get(key)
        partition = self._partition(session) if session is not None else None
        return self._take(key, store.get(key, partition))

    def take(self, key: str, row: SessionRow | None) -> Session | None:
        """Take session ``key`` as ``row`` has it (a store's refusal that carried the stored
        row, :attr:`SharedConflict.rows`): what :meth:`reload` does, without its read."""
        if self.store is None:
            raise TypeError("take() needs a runtime made with a store (store=...)")
        return self._take(key, row)

    def partition_for(self, key: str, vendor: str) -> int:
        """The partition of session ``key`` of ``vendor`` (its vendor's partition key)."""
        n = getattr(self.store, "partitions", 1)
        if n <= 1:
            return 0
        v = self.vendor(vendor)
        return partition_of(v.partition_key(key) if v.partition_key is not None else key, n)

    def evict(self, key: str) -> None:
        """Forget session ``key`` here (its state, timers, version), leaving the store as it
        is: the next input of it takes it from the store. A fleet's process does this to a
        session whose timer another process fires."""
        self.timers.cancel_session(key)
        self.sessions.pop(key, None)
        self._versions.pop(key, None)
        self._incarnations.pop(key, None)
        self._applied.pop(key, None)
        self._delivered.pop(key, None)
        self._partition_cache.pop(key, None)

    def freshen(self, keys: Iterable[str], vendors: Mapping[str, str] | None = None,
                partitions: Mapping[str, int] | None = None) -> list[str]:
        """Take from the store the sessions of ``keys`` that another process sharing it has
        moved (their stored version is not the one held here), in one read (Redis: one
        round trip for them all): a process of a ``serve`` fleet keeps no stale session.
        ``vendors``: the vendor of each key (where it is not held here), or ``partitions``
        (where the caller knows them), so that a partitioned store reads each where it is.
        Returns the keys taken."""
        store = self.store
        if store is None:
            return []
        known = {key: self.held(key) for key in dict.fromkeys(keys)}
        where: dict[str, int] = dict(partitions or {})
        for key in known:
            session = self.sessions.get(key)
            if session is not None:
                where[key] = self._partition(session)
            elif vendors is not None and key in vendors:
                where[key] = self.partition_for(key, vendors[key])
        stale = store.fresh(known, where)
        for key, row in stale.items():
            self._take(key, row)
        return list(stale)

    def take_moved(self, rows: Mapping[str, SessionRow | None]) -> list[str]:
        """Take the sessions of ``rows`` (key -> its row as the store answered it, None:
        not stored) that are not the ones held here (another version, or another life of
        the key at the same version): what :meth:`freshen` does with rows another request
        brought (a fleet's timer claim), without a read. Returns the keys taken."""
        taken = [key for key, row in rows.items()
                 if moved(row.held if row is not None else (0, 0), self.held(key))]
        for key in taken:
            self._take(key, rows[key])
        return taken

    def _take(self, key: str, row: SessionRow | None) -> Session | None:
        self.timers.cancel_session(key)
        self.sessions.pop(key, None)
        self._records.clear()
        if self._outbox:
            self._outbox.clear()
        self._input_keys = ()
        if row is None:
            self._versions.pop(key, None)
            self._incarnations.pop(key, None)
            self._applied.pop(key, None)
            self._delivered.pop(key, None)
            return None
        session = self.restore(row.snapshot)
        # restored() re-entered the stored session into the shared indexes: that is this
        # process's cache, not a change to write (another process may have moved on).
        engine = self._engines.get(session.machine)
        if engine is not None and isinstance(engine.model.shared, TrackedDict):
            engine.model.shared.clear_log()
        self._versions[key], self._applied[key] = row.version, set(row.applied)
        self._incarnations[key] = row.incarnation
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
        session = self.sessions.get(key)
        partitions = {key: self._partition(session)} if session is not None else None
        return bool(store.fresh({key: self.held(key)}, partitions))

    def flush_store(self) -> None:
        """Write the handlings waiting for a group commit, and delete the outbox rows
        handed over since the last commit (before a clean stop, and at the end of a
        replay)."""
        if self.store is None:
            return
        self._write_group()
        if self._sent:
            self.store.mark_sent([i for i, _ in self._sent])
            self._sent = []

    def version(self, key: str) -> int:
        """The stored version of session ``key`` (0: never committed)."""
        return self._versions.get(key, 0)

    def held(self, key: str) -> tuple[int, int]:
        """(version, incarnation) of session ``key`` as held here ((0, 0): none): what a
        store compares with what it has (another process may have deleted the key and made
        it again, counting its version from 0: only the incarnation tells)."""
        return self._versions.get(key, 0), self._incarnations.get(key, 0)

"""Routing: which session an input belongs to. An event that names no session gets its key
from its vendor's rule; an input for several sessions is split into one event each; a new key
creates its session with the machine the vendor chooses; an input no rule can route is
recorded as unroutable, and the others carry on.

A room of :class:`~recstate.runtime.Runtime` (which inherits it); the attributes annotated on
the class are the runtime's, set in ``Runtime.__init__``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from recstate import gcfreeze, signals
from recstate.answers import Pending
from recstate.clock import Clock, ManualClock
from recstate.effects import Effects
from recstate.errors import Violation
from recstate.events import Event
from recstate.logs import get_logger
from recstate.session import Session
from recstate.stores.base import Store
from recstate.trace import (
    EVENT_LINES,
    TraceWriter,
    line_encoder,
    may_hold_secret,
    redact_message,
)
from recstate.vendors import Vendor, get_vendor

if TYPE_CHECKING:
    from recstate.machine import Machine

__all__ = ["DataSlot", "Routing"]

#: What :meth:`Routing.data_slot` keeps of a session for its data-only input: the session,
#: its key, the state, the context field, the timer and its seconds, and the runtime's clock.
DataSlot = tuple[Session, str, str, str, str, float, ManualClock]

log = get_logger("recstate.runtime")


class Routing(Effects):
    """Hands an input to its session (creating it), tracing it as an ``event`` record."""

    clock: Clock
    sessions: dict[str, Session]
    _vendors: dict[str, Vendor]
    _queue: deque[tuple[Event, int | None, dict[str, Any] | None]]
    store: Store | None
    _watching: dict[int, tuple[Event, Pending]]
    _created: int
    _freeze_at: float
    _busy: bool
    _data_only_after: dict[tuple[type[Machine], str, str], float]

    if TYPE_CHECKING:  # the durability room's (recstate.durable), which Runtime inherits
        def _duplicate(self, session: Session | None, ev: Event, line: int | None,
                       now: float) -> str | None: ...
        def _skip(self, session: Session | None, ev: Event, line: int | None,
                  now: float) -> None: ...
        def _commit(self, session: Session | None, line: int | None, *,
                    timer: bool = False) -> None: ...

    def _handle_input(self, ev: Event, line: int | None, data: dict[str, Any] | None) -> None:
        watching = self._watching
        if watching:
            entry = watching.pop(id(ev), None)
            if entry is not None and entry[0] is ev:
                self._handle_watched(ev, line, data, entry[1])
                return
        self._route(ev, line, data)

    def _handle_watched(self, ev: Event, line: int | None, data: dict[str, Any] | None,
                        pending: Pending) -> None:
        """An input handed in with ``send``: what its handling does is gathered into
        ``pending``, which answers once every part of it has been handled."""
        outer, self._answering = self._answering, pending
        try:
            self._route(ev, line, data)
        finally:
            self._answering = outer
            pending.parts -= 1
            if pending.parts == 0:
                vendor = self._vendors.get(ev.vendor)
                pending.done(pending.answer(vendor.explain if vendor is not None else None))

    def _route(self, ev: Event, line: int | None, data: dict[str, Any] | None,
               now: float | None = None) -> None:
        """``now``: the time dispatch read (the clock is read once per input)."""
        vendor_name = ev.vendor
        key = ev.session
        if now is None:
            now = self.clock.now()
        if ev.t is None:  # a live input that left its time out: stamped with the handling's
            object.__setattr__(ev, "t", now)
        try:
            if key is None:
                vendor = self.vendor(vendor_name)
                if vendor.split is not None:
                    parts = vendor.split(ev)
                    if len(parts) > 1:  # each part names its session; handled next, in order
                        self._queue.extendleft((part, line, None) for part in reversed(parts))
                        answering = self._answering
                        if answering is not None:
                            answering.parts += len(parts)
                            self._watching.update((id(p), (p, answering)) for p in parts)
                        return
                key = vendor.session_key(ev)
                if key is None:
                    self._unroutable(ev, line, data, now)
                    return
            session = self.sessions.get(key)
            if session is None:
                session = self._create(key, vendor_name, ev)
        except Exception as exc:  # a vendor's routing rule failed on this event
            log.error("the %s routing rule raised %s on %r", vendor_name, type(exc).__name__,
                      ev.name, exc_info=exc, extra={"session": key, "vendor": vendor_name,
                                                    "event": ev.name})
            self._unroutable(ev, line, data, now, f"the {vendor_name} routing rule raised "
                             f"{type(exc).__name__}: {redact_message(str(exc))}")
            return
        store = self.store
        seen = None  # "again": the same delivery re-offered; "applied": a vendor's repeat
        if store is not None or ev.id is not None or (
                (self._vendors.get(vendor_name) or self.vendor(vendor_name)).idempotency_keys
                is not None):
            seen = self._duplicate(session, ev, line, now)
            if seen == "again":
                return
        tracer = self.tracer
        if tracer is not None:
            if tracer.__class__ is TraceWriter and data is None and ev.id is None:
                # the common case, one call per line: the class's own line encoder
                cls = ev.__class__
                write = EVENT_LINES.get(cls) or line_encoder(cls, "event")
                tracer.write_line(write(ev, now, vendor_name, key))
            elif data is None:
                self._trace(now, vendor_name, ev.name, key, ev.payload(), "event", line,
                            not may_hold_secret(type(ev)), ev.id)
            else:  # as read from a trace: anything may be in it
                self._trace(now, vendor_name, ev.name, key, data, "event", line, False, ev.id)
        if seen == "applied":
            self._skip(session, ev, line, now)
            return
        self._run(session, ev, ev.name, now, line)
        if store is not None:
            self._commit(session, line)

    def note_data(self, vendor: str, name: str, key: str, line: int | None = None,
                  data: dict[str, Any] | None = None, *, clean: bool = False,
                  trace: bool = True, at: float | None = None) -> bool:
        """Handle the input ``name`` of session ``key`` at the clock's now without building
        its event, when its machine declares it data-only in the session's state
        (:class:`~recstate.machine.DataOnly`: a heartbeat in ``recording``): it is traced
        (``data`` as read, at ``line``; ``clean``: nothing in it to redact), the context
        field takes the time and the timer is armed again, as dispatching it would. False
        when it must be dispatched instead: another state, no such session, something
        queued or due first, a store, an answer or idempotency keys to keep. The replay's
        fast path (``recstate.replay``) calls it with ``trace=False`` when it writes the
        input's line itself (nothing else is traced here), and ``at``, the input's time,
        where its ManualClock is moved when the input is taken (False, and nothing changed,
        when a timer is due by then: ``advance`` first)."""
        session = self.sessions.get(key)
        if session is None:
            return False
        machine = session.machine
        only = machine.data_only.get(name)
        if (only is None or session.state != only.state or machine.vendor != vendor
                or self._busy or self._queue or self._watching
                or self._answering is not None or self.store is not None):
            return False
        seconds = self._data_only_seconds(machine, vendor, name)
        if seconds is None:
            return False
        clock = self.clock
        now = clock.now() if at is None else at
        timers = self.timers
        if timers.any_due(now):
            return False
        if at is not None:
            if not isinstance(clock, ManualClock):
                return False
            clock.set(at)  # (never back: a ValueError)
        if trace and self.tracer is not None:
            self._trace(now, vendor, name, key, data, "event", line, clean)
        setattr(session.context, only.field, now)
        due = now + seconds
        if not timers.push_back(key, only.timer, due):
            timers.arm(key, only.timer, due)
        return True

    def _data_only_seconds(self, machine: type[Machine], vendor: str, name: str
                           ) -> float | None:
        """The data-only timer's duration, once its engine and vendor are known (neither
        changes once made) and the vendor keeps no idempotency keys; None: dispatch
        instead."""
        seconds = self._data_only_after.get((machine, vendor, name))
        if seconds is None:
            engine = self._engines.get(machine)
            known = self._vendors.get(vendor)
            if engine is None or known is None or known.idempotency_keys is not None:
                return None
            after = machine.data_only[name].after
            seconds = self._data_only_after[(machine, vendor, name)] = float(
                getattr(engine.model.opts, after) if isinstance(after, str) else after)
        return seconds

    def data_slot(self, vendor: str, name: str, key: str) -> DataSlot | None:
        """What :meth:`note_data` looks up for the data-only input ``name`` of session
        ``key``, looked up once (the replay keeps it with its template of the session's
        heartbeat line): None when ``note_data`` could never take it (no such session, not
        data-only in its machine, another vendor, a store, no ManualClock)."""
        session = self.sessions.get(key)
        clock = self.clock
        if session is None or self.store is not None or not isinstance(clock, ManualClock):
            return None
        only = session.machine.data_only.get(name)
        if only is None or session.vendor != vendor:
            return None
        seconds = self._data_only_seconds(session.machine, vendor, name)
        if seconds is None:
            return None
        return (session, session.key, only.state, only.field, only.timer, seconds, clock)

    def note_data_at(self, slot: DataSlot, at: float) -> bool:
        """``note_data(vendor, name, key, trace=False, at=at)`` for the input and session
        of ``slot`` (:meth:`data_slot`), with what cannot change looked up already: the
        same checks, the same effect."""
        session, key, state, field, timer, seconds, clock = slot
        # (the clock's time read and set in place: ManualClock.set's own check is the
        # first line's, ``at`` is a float)
        if (self.sessions.get(key) is not session or session.state != state
                or self._busy or self._queue or self._watching
                or self._answering is not None or at < clock._now):
            return False
        timers = self.timers
        if timers._first <= at and timers.any_due(at):
            return False
        clock._now = at
        setattr(session.context, field, at)
        if not timers.push_back(key, timer, at + seconds):
            timers.arm(key, timer, at + seconds)
        return True

    def _unroutable(self, ev: Event, line: int | None, data: dict[str, Any] | None,
                    now: float, cause: str | None = None) -> None:
        """Record an input no rule can route: the input itself is traced (with the session
        it named, if any), then the error, so a full trace replays to the same error. An
        input with idempotency keys already applied is acknowledged and skipped as a routed
        one is, with a store or without (the same report either way)."""
        store = self.store
        if store is not None or ev.id is not None or (
                self.vendor(ev.vendor).idempotency_keys is not None):
            seen = self._duplicate(None, ev, line, now)
            if seen == "again":
                return
            if seen == "applied":
                self._trace_unroutable_input(ev, line, data, now)
                self._skip(None, ev, line, now)
                return
        self._report_unroutable(ev, line, data, now, cause)
        if store is not None:
            self._commit(None, line)

    def _trace_unroutable_input(self, ev: Event, line: int | None,
                                data: dict[str, Any] | None, now: float) -> None:
        if self.tracer is not None:
            try:
                payload = ev.payload() if data is None else data
            except Exception:  # an event that cannot even be unstructured: its name only
                payload = None
            self._trace(now, ev.vendor, ev.name, ev.session, payload, "event", line,
                        data is None and not may_hold_secret(type(ev)), ev.id)

    def _report_unroutable(self, ev: Event, line: int | None, data: dict[str, Any] | None,
                           now: float, cause: str | None) -> None:
        reason = (f"no session key: the event names no session and the {ev.vendor} rule "
                  "cannot derive one from its data; add a 'session' field")
        if cause is not None:
            reason = f"cannot route: {cause}; give the event a 'session' field or fix its data"
        self._trace_unroutable_input(ev, line, data, now)
        self._error(None, ev.name, "unroutable", reason, "error", now, vendor=ev.vendor)
        violation = Violation(session="", name=ev.name, state="", reason=reason, line=line,
                              t=now)
        if self._answering is not None:
            self._answering.violation = violation
        if signals.violation.receivers:
            signals.violation.send(self, violation=violation, session=None)
        if self.strict:
            self._to_raise.append(violation)

    def vendor(self, name: str) -> Vendor:
        vendor = self._vendors.get(name)
        if vendor is None:
            vendor = self._vendors[name] = get_vendor(name)
        return vendor

    def _create(self, key: str, vendor_name: str, ev: Event) -> Session:
        session = Session(key, self.vendor(vendor_name).machine_for(ev))
        self.sessions[key] = session
        self._created += 1
        if self._created >= self._freeze_at:  # Runtime(gc_freeze=True): warm, then doubled
            self._freeze_at = self._created * 2
            gcfreeze.freeze()
        return session

"""The Runtime: routes events to sessions, runs each to completion, fires timers, and tells.

Processing is run-to-completion: an event dispatched while another is being handled (an
adapter answering a command at once, say) is queued, never nested. Timers that are due fire
before the next queued event. A violation or an exception in one session's handling is
recorded against that event and session; other sessions carry on and no queued event is lost.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from blinker import NamedSignal

from recstate import signals
from recstate.clock import Clock, ManualClock, SystemClock
from recstate.errors import HandlingError, RecstateError, Violation
from recstate.events import Event, TimerEvent
from recstate.machine import Engine, Machine, Rejected
from recstate.session import Session
from recstate.timers import Timer, TimerQueue
from recstate.trace import Record, may_hold_secret
from recstate.vendors import Vendor, get_vendor

__all__ = ["Runtime"]

Tracer = Callable[[Record], None]


class Runtime:
    """Drives the sessions of any number of vendors against one clock.

    - ``clock``: :class:`SystemClock` (the default) live; :class:`ManualClock` in simulation
      and replay.
    - ``strict``: raise violations and handling errors (after the queue has drained) instead
      of only recording them. Tests want strict; replay and production want lenient.
    - ``tracer``: called with every :class:`~recstate.trace.Record` that crosses the boundary
      (a :class:`~recstate.trace.TraceWriter` writes them to a file).
    - ``options``: machine options by vendor name or qualified machine name
      (``{"tencent": TencentOptions(retry_delays=(1, 2))}``).
    - ``compiled``: run triggers from the engines' compiled tables (the default) or through
      ``transitions.Event.trigger`` (see :class:`~recstate.machine.Engine`).
    """

    def __init__(self, clock: Clock | None = None, *, strict: bool = False,
                 tracer: Tracer | None = None, options: Mapping[str, Any] | None = None,
                 vendors: Mapping[str, Vendor] | None = None, compiled: bool = True) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.strict = strict
        self.tracer = tracer
        self.options = dict(options or {})
        self.compiled = compiled
        self.sessions: dict[str, Session] = {}
        self.timers = TimerQueue()
        self._vendors: dict[str, Vendor] = dict(vendors or {})
        self._engines: dict[type[Machine], Engine] = {}
        self._command_signals: dict[str, NamedSignal] = {}
        self._queue: deque[tuple[Event, int | None, dict[str, Any] | None]] = deque()
        self._busy = False
        self._to_raise: list[RecstateError] = []
        self._deliveries = 0
        self._inbox: asyncio.Queue[Event | None] | None = None
        self._stopping = False
        self._tracked: set[asyncio.Future[Any]] = set()

    # ---- events in --------------------------------------------------------------------------
    def dispatch(self, event: Event, *, line: int | None = None,
                 data: dict[str, Any] | None = None) -> None:
        """Hand ``event`` to its session. Queued if another event is being handled.

        ``line`` and ``data`` are for replay: the trace line it came from and the payload as
        written there (traced verbatim instead of re-encoding the typed event).
        """
        if self._busy or self._queue:
            self._queue.append((event, line, data))
            if not self._busy:
                self._drain()
            return
        due = self.timers.next_due()
        if due is not None and due <= self.clock.now():  # due timers go first
            self._queue.append((event, line, data))
            self._drain()
            return
        self._busy = True  # the common case: nothing queued, nothing due
        try:
            self._handle_input(event, line, data)
        finally:
            self._busy = False
        if self._queue or self._to_raise:
            self._drain()

    def run_due(self) -> None:
        """Fire every timer due by the clock's now (and what they cause)."""
        if not self._busy:
            self._drain()

    def advance(self, to: float) -> None:
        """Move a ManualClock to ``to``, firing each timer at its own due time on the way."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError(f"advance() moves a ManualClock; this runtime runs on {clock!r}. "
                            "Use run_due() with a live clock (freezegun moves SystemClock)")
        while (due := self.timers.next_due()) is not None and due <= to:
            if due > clock.now():
                clock.set(due)
            self.run_due()
        if to > clock.now():
            clock.set(to)
        self.run_due()

    def deliver_at(self, t: float, event: Event) -> None:
        """Dispatch ``event`` when the clock reaches ``t`` (simulators answer with delays)."""
        self._deliveries += 1
        self.timers.arm(None, f"deliver#{self._deliveries}", t, payload=event)

    def next_deadline(self) -> float | None:
        return self.timers.next_due()

    # ---- the loop ----------------------------------------------------------------------------
    def _drain(self) -> None:
        self._busy = True
        queue, timers, clock = self._queue, self.timers, self.clock
        try:
            while True:
                timer = timers.pop_due(clock.now())
                if timer is not None:
                    self._fire(timer)
                elif queue:
                    self._handle_input(*queue.popleft())
                else:
                    break
        finally:
            self._busy = False
        if self._to_raise:
            first = self._to_raise[0]
            self._to_raise.clear()
            raise first

    def _handle_input(self, ev: Event, line: int | None, data: dict[str, Any] | None) -> None:
        vendor_name = ev.vendor
        key = ev.session
        now = self.clock.now()
        try:
            if key is None:
                vendor = self.vendor(vendor_name)
                if vendor.split is not None:
                    parts = vendor.split(ev)
                    if len(parts) > 1:  # each part names its session; handled next, in order
                        self._queue.extendleft((part, line, None) for part in reversed(parts))
                        return
                key = vendor.session_key(ev)
                if key is None:
                    self._unroutable(ev, line, now)
                    return
            session = self.sessions.get(key)
            if session is None:
                session = self._create(key, vendor_name, ev)
        except Exception as exc:  # a vendor's routing rule failed on this event
            self._unroutable(ev, line, now, f"the {vendor_name} routing rule raised "
                             f"{type(exc).__name__}: {exc}")
            return
        if self.tracer is not None:
            if data is None:
                self.tracer(Record(now, vendor_name, ev.name, key, ev.payload(), "event", line,
                                   not may_hold_secret(type(ev))))
            else:  # as read from a trace: anything may be in it
                self.tracer(Record(now, vendor_name, ev.name, key, data, "event", line))
        self._run(session, ev, ev.name, now, line)

    def _fire(self, timer: Timer) -> None:
        if timer.session is None:
            self._queue.append((timer.payload, None, None))
            return
        session = self.sessions.get(timer.session)
        if session is None:
            return
        ev = TimerEvent(name=timer.name, t=timer.due, session=session.key,
                        payload=timer.payload, vendor=session.vendor)
        self._run(session, ev, timer.name, timer.due, None)

    def _run(self, session: Session, ev: Any, name: str, now: float, line: int | None) -> None:
        engine = self._engines.get(session.machine)
        if engine is None:
            engine = self._engine(session.machine)
        old = session.state
        try:
            result = engine.handle(session, ev, name, now)
        except Exception as exc:  # a machine's bug must not take other sessions down
            session.state = old
            self._handling_error(session, name, old, exc, now)
            return
        if isinstance(result, Rejected):
            self._violation(session, name, old, result.reason, now, line)
            return
        tracer = self.tracer
        key, vendor = session.key, session.vendor
        new = session.state
        if new != old:
            if tracer is not None:
                tracer(Record(now, vendor, name, key, {"src": old, "dst": new}, "transition"))
            if signals.transition.receivers:
                self._tell(signals.transition, session, name, now, name=name, src=old, dst=new)
            canonical = engine.recording_states.get(new)
            if canonical is not None and canonical != session.recording:
                previous, session.recording = session.recording, canonical
                if signals.recording_changed.receivers:
                    self._tell(signals.recording_changed, session, name, now, old=previous,
                               new=canonical)
        for effect in result.effects:
            what = effect[0]
            if what == "command":
                cmd = effect[1]
                if tracer is not None:
                    tracer(Record(now, vendor, cmd.name, key, cmd.payload(), "command", None,
                                  not may_hold_secret(type(cmd))))
                sig = self._command_signals.get(vendor)
                if sig is None:
                    sig = self._command_signals[vendor] = signals.commands(vendor)
                if sig.receivers:
                    self._tell(sig, session, name, now, command=cmd)
            elif what == "arm":
                self.timers.arm(key, effect[1], effect[2], effect[3], effect[4])
            elif what == "cancel":
                self.timers.cancel(key, effect[1])
            elif what == "notice":
                self._error(session, name, effect[2], effect[3], effect[1], now)
            elif what == "violation":
                self._violation(session, name, new, effect[1], now, line)
            else:  # "file"
                self._file(session, effect[1], effect[2], effect[3], now)

    # ---- what the loop records ----------------------------------------------------------------
    def _tell(self, signal: NamedSignal, session: Session, trigger: str, now: float,
              **kwargs: Any) -> None:
        """Send a signal; a receiver that raises (an adapter whose API call failed, an
        observer's bug) is recorded against the session, and the handling carries on."""
        try:
            # receivers_for() and a direct call: Signal.send() inspects every receiver for
            # coroutine-ness on every send, which costs more than the rest of a handling.
            for receiver in signal.receivers_for(self):
                result = receiver(self, session=session, t=now, **kwargs)
                if result is not None and inspect.iscoroutine(result):
                    result.close()
                    raise TypeError(f"receiver {receiver!r} is a coroutine function: receivers "
                                    "run inside the handling and must be plain functions "
                                    "(schedule a task from one instead)")
        except Exception as exc:
            self._error(session, trigger, "receiver-error",
                        f"a receiver of the {signal.name!r} signal raised "
                        f"{type(exc).__name__}: {exc}", "error", now)
            if self.strict:
                self._to_raise.append(HandlingError(session=session.key, name=trigger,
                                                    state=session.state, error=exc))
    def _file(self, session: Session, change: str, f: Any, changes: dict[str, Any],
              now: float) -> None:
        for field, value in changes.items():
            setattr(f, field, value)
        files = session.files
        if not any(x is f for x in files):  # a file opened by this handling
            files.append(f)
        if self.tracer is not None:
            self.tracer(Record(now, session.vendor, change, session.key, f.to_dict(), "file"))
        if signals.file_changed.receivers:
            self._tell(signals.file_changed, session, change, now, file=f, change=change)

    def _error(self, session: Session | None, name: str, code: int | str, message: str,
               level: str, now: float, vendor: str | None = None) -> None:
        key = session.key if session is not None else None
        vendor = session.vendor if session is not None else (vendor or "")
        data = {"code": code, "message": message, "level": level}
        if self.tracer is not None:
            self.tracer(Record(now, vendor, name, key, data, "error"))
        if signals.error.receivers:
            signals.error.send(self, session=session, name=name, code=code, message=message,
                               level=level, t=now)

    def _violation(self, session: Session, name: str, state: str, reason: str, now: float,
                   line: int | None) -> None:
        violation = Violation(session=session.key, name=name, state=state, reason=reason,
                              line=line, t=now)
        if self.tracer is not None:
            self.tracer(Record(now, session.vendor, name, session.key,
                               {"code": "violation", "message": reason, "state": state},
                               "error"))
        if signals.violation.receivers:
            signals.violation.send(self, violation=violation, session=session)
        if self.strict:
            self._to_raise.append(violation)

    def _handling_error(self, session: Session, name: str, state: str, exc: Exception,
                        now: float) -> None:
        error = HandlingError(session=session.key, name=name, state=state, error=exc)
        error.__cause__ = exc
        self._error(session, name, "exception", str(error), "error", now)
        if self.strict:
            self._to_raise.append(error)

    def _unroutable(self, ev: Event, line: int | None, now: float,
                    cause: str | None = None) -> None:
        reason = (f"no session key: the event names no session and the {ev.vendor} rule "
                  "cannot derive one from its data; add a 'session' field")
        if cause is not None:
            reason = f"cannot route: {cause}; give the event a 'session' field or fix its data"
        self._error(None, ev.name, "unroutable", reason, "error", now, vendor=ev.vendor)
        violation = Violation(session="", name=ev.name, state="", reason=reason, line=line,
                              t=now)
        if signals.violation.receivers:
            signals.violation.send(self, violation=violation, session=None)
        if self.strict:
            self._to_raise.append(violation)

    # ---- sessions ----------------------------------------------------------------------------
    def vendor(self, name: str) -> Vendor:
        vendor = self._vendors.get(name)
        if vendor is None:
            vendor = self._vendors[name] = get_vendor(name)
        return vendor

    def _create(self, key: str, vendor_name: str, ev: Event) -> Session:
        session = Session(key, self.vendor(vendor_name).machine_for(ev))
        self.sessions[key] = session
        return session

    def _engine(self, cls: type[Machine]) -> Engine:
        options = self.options.get(cls.qualified_name(), self.options.get(cls.vendor))
        engine = self._engines[cls] = Engine(cls, options, compiled=self.compiled)
        return engine

    def engine(self, cls: type[Machine]) -> Engine:
        return self._engines.get(cls) or self._engine(cls)

    def close_session(self, key: str) -> Session | None:
        """Forget a finished session and its timers (a store keeps what is worth keeping)."""
        self.timers.cancel_session(key)
        return self.sessions.pop(key, None)

    def snapshot(self, key: str) -> dict[str, Any]:
        session = self.sessions[key]
        data = session.snapshot()
        data["timers"] = [t.to_dict() for t in self.timers.for_session(key)]
        return data

    def restore(self, data: dict[str, Any]) -> Session:
        """Bring back a session from :meth:`snapshot`; its timers are re-armed as they were,
        so those that fell due while it was away fire on the next :meth:`run_due`."""
        vendor = self.vendor(data["vendor"])
        by_name = {m.qualified_name(): m for m in vendor.machines}
        machine = by_name.get(data["machine"])
        if machine is None:
            raise KeyError(f"snapshot names machine {data['machine']!r}; {vendor.name} has "
                           f"{sorted(by_name)}")
        session = Session.restore(data, machine)
        self.sessions[session.key] = session
        self.engine(machine).model.restored(session)
        for timer in data.get("timers", ()):
            self.timers.arm(session.key, timer["name"], timer["due"], timer.get("payload"),
                            timer.get("every"))
        return session

    def __iter__(self) -> Iterator[Session]:
        return iter(self.sessions.values())

    # ---- asyncio driver ------------------------------------------------------------------
    def submit(self, event: Event) -> None:
        """Give an event to :meth:`run` from a coroutine or callback on the same loop."""
        self._inbox_queue().put_nowait(event)

    def track(self, work: asyncio.Future[Any]) -> None:
        """Work an adapter started for this runtime (an API call in flight, whose answer it
        will :meth:`submit`). On a ManualClock, :meth:`run` lets tracked work finish before
        it moves virtual time on, so an answer arrives at the virtual time it was asked for;
        a live clock needs no such wait."""
        self._tracked.add(work)
        work.add_done_callback(self._tracked.discard)

    def _waiting_on_io(self) -> bool:
        return bool(self._tracked) and isinstance(self.clock, ManualClock)

    def stop(self) -> None:
        """Ask :meth:`run` to return once it has handled what it already has."""
        self._stopping = True
        self._inbox_queue().put_nowait(None)

    def _inbox_queue(self) -> asyncio.Queue[Event | None]:
        if self._inbox is None:
            self._inbox = asyncio.Queue()
        return self._inbox

    async def run(self, *, until: float | None = None) -> None:
        """Serve events from :meth:`submit` and fire timers on time, sleeping (on the
        runtime's clock) until the next deadline or the next event. Returns after
        :meth:`stop`, or once the clock has reached ``until`` with nothing left to handle."""
        inbox = self._inbox_queue()
        clock = self.clock
        while True:
            self.run_due()
            while not inbox.empty():
                item = inbox.get_nowait()
                if item is not None:
                    self.dispatch(item)
            if self._stopping:  # reset here, not on entry: a stop() made before run() counts
                self._stopping = False
                return
            now = clock.now()
            if until is not None and now >= until and not self._waiting_on_io():
                return
            due = self.timers.next_due()
            wait = math.inf if due is None else max(0.0, due - now)
            if until is not None:
                wait = min(wait, until - now)
            item = await self._wait(inbox, wait)
            if item is not None:
                self.dispatch(item)

    async def _wait(self, inbox: asyncio.Queue[Event | None], wait: float) -> Event | None:
        if wait == math.inf and not self._waiting_on_io():
            return await inbox.get()
        getter = asyncio.ensure_future(inbox.get())
        if self._waiting_on_io():  # virtual time stands still until tracked work is done
            sleeper: asyncio.Future[Any] = asyncio.ensure_future(
                asyncio.wait(set(self._tracked)))
        else:
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
        await asyncio.wait((getter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        if not sleeper.done():
            sleeper.cancel()
        if getter.done():
            return getter.result()
        getter.cancel()
        return None

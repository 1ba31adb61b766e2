"""The run-to-completion loop: inputs are queued while one is being handled (never nested),
timers that are due fire before the next queued input, and a ManualClock is moved on timer by
timer. Strict errors collected during a handling are raised once the queue has drained.

A room of :class:`~recstate.runtime.Runtime` (which inherits it); the attributes annotated on
the class are the runtime's, set in ``Runtime.__init__``.
"""

from __future__ import annotations

from typing import Any

from recstate import signals
from recstate.clock import ManualClock
from recstate.effects import Retire
from recstate.events import Event, TimerEvent
from recstate.routing import Routing
from recstate.timers import Timer

__all__ = ["Scheduling"]


class Scheduling(Routing):
    """Decides what is handled next: a due timer, else the oldest queued input."""

    _busy: bool
    _deliveries: int

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
        now = self.clock.now()
        timers = self.timers  # no entry keyed at or before now (_first): nothing is due
        if timers._first <= now and timers.any_due(now):  # due timers go first
            self._queue.append((event, line, data))
            self._drain()
            return
        self._busy = True  # the common case: nothing queued, nothing due
        try:
            if self._watching:
                self._handle_input(event, line, data)
            else:  # (what _handle_input does when no input handed in with send() waits)
                self._route(event, line, data, now)
        finally:
            self._busy = False
        if self._queue or self._to_raise:
            self._drain()

    def run_due(self) -> None:
        """Fire every timer due by the clock's now (and what they cause)."""
        if not self._busy:
            self._drain()

    def advance(self, to: float) -> None:
        """Move a ManualClock to ``to``, firing each timer at its own due time on the way
        (returning at once when none is due)."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError(f"advance() moves a ManualClock; this runtime runs on {clock!r}. "
                            "Use run_due() with a live clock (freezegun moves SystemClock)")
        timers = self.timers
        # (any_due first: one comparison when no heap entry is keyed by ``to``; next_due
        # would settle the heap's top, pushing again every lazily re-armed watchdog there)
        while timers.any_due(to) and (due := timers.next_due()) is not None:
            if due > clock.now():
                clock.set(due)
            self.run_due()
        if to > clock.now():
            clock.set(to)
        if self._queue or self._to_raise or timers.any_due(clock.now()):
            self.run_due()  # (nothing is due by ``to``: then nothing else to run)

    def deliver_at(self, t: float | None, event: Event) -> None:
        """Dispatch ``event`` when the clock reaches ``t`` (simulators answer with delays;
        None: at the clock's now, after what is being handled)."""
        self._deliveries += 1
        due = self.clock.now() if t is None else t
        self.timers.arm(None, f"deliver#{self._deliveries}", due, payload=event)

    def next_deadline(self) -> float | None:
        return self.timers.next_due()

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

    def _fire(self, timer: Timer) -> None:
        if timer.session is None:
            if type(timer.payload) is Retire:
                self._retire(timer.payload, timer.due)
            else:
                self._queue.append((timer.payload, None, None))
            return
        session = self.sessions.get(timer.session)
        if session is None:
            return
        ev = TimerEvent(name=timer.name, t=timer.due, session=session.key,
                        payload=timer.payload, vendor=session.vendor)
        self._run(session, ev, timer.name, timer.due, None)
        if self.store is not None:
            self._commit(session, None, timer=True)

    def _retire(self, key: str, now: float) -> None:
        """The retention period of a finished session is over: close it, unless it left its
        finished state (a new recording started) or still has timers (VOD searches left):
        then it is looked at again a period later."""
        session = self.sessions.get(key)
        if session is None or session.state not in self.engine(session.machine).finished:
            return
        if self.timers.for_session(key):
            if self.retention is not None:
                self._retire_at(key, now + self.retention)
            return
        del self.sessions[key]
        if signals.session_closed.receivers:
            self._tell(signals.session_closed, session, "retire", now, reason="retention")

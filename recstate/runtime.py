"""The Runtime: routes events to sessions, runs each to completion, fires timers, and tells.

Processing is run-to-completion: an event dispatched while another is being handled (an
adapter answering a command at once, say) is queued, never nested. Timers that are due fire
before the next queued event. A violation or an exception in one session's handling is
recorded against that event and session; other sessions carry on and no queued event is lost.

The work is done in rooms that :class:`Runtime` inherits, one job each:
:mod:`recstate.effects` (a handling and its outcome), :mod:`recstate.routing` (which session),
:mod:`recstate.scheduling` (the queue and the timers) and :mod:`recstate.driver` (asyncio).
This module keeps the state they share and the sessions' bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from blinker import NamedSignal

from recstate.clock import Clock, SystemClock
from recstate.driver import Driver
from recstate.effects import Tracer
from recstate.errors import RecstateError
from recstate.events import Event
from recstate.machine import Engine, Machine
from recstate.session import Session
from recstate.timers import TimerQueue
from recstate.vendors import Vendor

__all__ = ["Runtime", "Tracer"]


class Runtime(Driver):
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

    # ---- sessions ----------------------------------------------------------------------------
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

"""The Runtime: routes events to sessions, runs each to completion, fires timers, and tells.

Processing is run-to-completion: an event dispatched while another is being handled (an
adapter answering a command at once, say) is queued, never nested. Timers that are due fire
before the next queued event. A violation or an exception in one session's handling is
recorded against that event and session; other sessions carry on and no queued event is lost.

The work is done in rooms that :class:`Runtime` inherits, one job each:
:mod:`recstate.effects` (a handling and its outcome), :mod:`recstate.routing` (which session),
:mod:`recstate.scheduling` (the queue and the timers), :mod:`recstate.driver` (asyncio),
:mod:`recstate.intents` (``send``: an input that answers) and :mod:`recstate.lifecycle`
(``with`` / ``async with``: start and close).
This module keeps the state they share and the sessions' bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from blinker import NamedSignal

from recstate import signals
from recstate.answers import Pending
from recstate.clock import Clock, SystemClock
from recstate.effects import Tracer
from recstate.errors import RecstateError
from recstate.events import Event
from recstate.lifecycle import Lifecycle
from recstate.machine import Engine, Machine
from recstate.session import Session
from recstate.timers import TimerQueue
from recstate.vendors import Vendor

__all__ = ["Runtime", "Tracer"]


class Runtime(Lifecycle):
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
    - ``close_timeout``: how long closing waits for adapters' calls in flight (seconds).
    - ``retention``: seconds a finished session (stopped, failed, complete, ended: the
      machine's ``finished`` states) with no timer left stays before it is closed and leaves
      memory (default one hour); None keeps every session (replay does).
    - ``restore_context``: a handling that raises leaves the session's context as it was, as
      well as its state (a copy is taken before each handling: about 1 µs, bench/RESULTS.md).

    Embedded in an asyncio service::

        async with Runtime(tracer=TraceWriter("trace.jsonl")) as runtime:
            answer = await runtime.send(StartRecording(...))   # t is stamped
    """

    def __init__(self, clock: Clock | None = None, *, strict: bool = False,
                 tracer: Tracer | None = None, options: Mapping[str, Any] | None = None,
                 vendors: Mapping[str, Vendor] | None = None, compiled: bool = True,
                 close_timeout: float = 5.0, restore_context: bool = True,
                 retention: float | None = 3600.0) -> None:
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
        self._waker: asyncio.Future[None] | None = None
        self._running = 0
        self._watching: dict[int, tuple[Event, Pending]] = {}
        self._answering: Pending | None = None
        self.close_timeout = close_timeout
        self.restore_context = restore_context
        if retention is not None and retention < 0:
            raise ValueError(f"retention is seconds >= 0 (or None), got {retention}")
        self.retention = retention
        self.closed = False
        self._driver_task: asyncio.Task[None] | None = None
        self._closers: list[Callable[[], Any]] = []

    # ---- sessions ----------------------------------------------------------------------------
    def close_session(self, key: str) -> Session | None:
        """Forget a session and its timers now (a store keeps what is worth keeping); a
        finished one is closed by itself after ``retention``."""
        self.timers.cancel_session(key)
        session = self.sessions.pop(key, None)
        if session is not None and signals.session_closed.receivers:
            self._tell(signals.session_closed, session, "close", self.clock.now(),
                       reason="closed")
        return session

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
        if self.retention is not None and session.state in self.engine(machine).finished:
            self._retire_at(session.key, self.clock.now() + self.retention)
        return session

    def __iter__(self) -> Iterator[Session]:
        return iter(self.sessions.values())

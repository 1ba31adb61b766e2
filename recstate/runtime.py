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
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from blinker import NamedSignal

from recstate import gcfreeze, signals
from recstate.answers import Pending
from recstate.clock import Clock, ManualClock, SystemClock
from recstate.durable import Durability
from recstate.effects import Tracer
from recstate.errors import RecstateError, RestoreError
from recstate.events import Event, converter
from recstate.lifecycle import Lifecycle
from recstate.machine import Engine, Machine
from recstate.receivers import ReceiverCache
from recstate.session import Session
from recstate.stores.base import Store
from recstate.timers import TimerQueue
from recstate.vendors import Vendor

__all__ = ["DEFAULT_RETENTION", "Runtime", "Tracer"]

#: How long a finished session stays on a live clock before it leaves memory (seconds).
DEFAULT_RETENTION = 3600.0


class Runtime(Durability, Lifecycle):
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
    - ``store``: keep every handling in a store (:mod:`recstate.stores`; see
      :mod:`recstate.durable` for what is guaranteed); :meth:`recover` brings it back.
    - ``close_timeout``: how long closing waits for adapters' calls in flight (seconds).
    - ``retention``: seconds a finished session (stopped, failed, complete, ended: the
      machine's ``finished`` states) with no timer left stays before it is closed and leaves
      memory; None keeps every session. The default, ``"auto"``, is one hour on a live clock
      (a service) and None on a ManualClock (simulation, tests and replay inspect sessions
      after the fact); give a number to have it on a ManualClock too.
    - ``restore_context``: a handling that raises leaves the session's context as it was, as
      well as its state (:func:`recstate.undo.checkpoint`: its field values are kept before
      each handling and written back if it raised).
    - ``gc_freeze``: ``gc.freeze()`` once 1,000 sessions were created and each time that
      number doubles (:mod:`recstate.gcfreeze`: the collector then leaves the long-lived
      heap alone). It acts on the whole process; None (the default) follows
      ``recstate.gcfreeze.enable()`` (``recstate replay`` and ``recstate serve`` turn it on).

    Embedded in an asyncio service::

        async with Runtime(tracer=TraceWriter("trace.jsonl")) as runtime:
            answer = await runtime.send(StartRecording(...))   # t is stamped
    """

    def __init__(self, clock: Clock | None = None, *, strict: bool = False,
                 tracer: Tracer | None = None, options: Mapping[str, Any] | None = None,
                 vendors: Mapping[str, Vendor] | None = None, compiled: bool = True,
                 store: Store | None = None, close_timeout: float = 5.0,
                 restore_context: bool = True,
                 retention: float | Literal["auto"] | None = "auto",
                 gc_freeze: bool | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.strict = strict
        self.tracer = tracer
        self.options = dict(options or {})
        self.compiled = compiled
        self.sessions: dict[str, Session] = {}
        self.timers = TimerQueue()
        self._vendors: dict[str, Vendor] = dict(vendors or {})
        self._engines: dict[type[Machine], Engine] = {}
        #: (machine, vendor, data-only input) -> its timer's seconds (routing.note_data).
        self._data_only_after: dict[tuple[type[Machine], str, str], float] = {}
        self._command_signals: dict[str, NamedSignal] = {}
        self._receivers = ReceiverCache()
        self._queue: deque[tuple[Event, int | None, dict[str, Any] | None]] = deque()
        self._busy = False
        self._to_raise: list[RecstateError] = []
        self._deliveries = 0
        self._inbox: asyncio.Queue[Event | None] | None = None
        self._stopping = False
        self._tracked: set[asyncio.Future[Any]] = set()
        self._durable_init(store)
        self._waker: asyncio.Future[None] | None = None
        self._running = 0
        self._watching: dict[int, tuple[Event, Pending]] = {}
        self._answering: Pending | None = None
        self.close_timeout = close_timeout
        self.restore_context = restore_context
        if retention == "auto":
            retention = None if isinstance(self.clock, ManualClock) else DEFAULT_RETENTION
        if retention is not None and (not isinstance(retention, int | float) or retention < 0):
            raise ValueError(f"retention is seconds >= 0, None or 'auto', got {retention!r}")
        self.retention: float | None = retention
        self.closed = False
        self._driver_task: asyncio.Task[None] | None = None
        self._closers: list[Callable[[], Any]] = []
        self._created = 0
        self._freeze_at = (gcfreeze.WARM_UP if (gcfreeze.enabled() if gc_freeze is None
                                                else gc_freeze) else math.inf)

    # ---- sessions ----------------------------------------------------------------------------
    def close_session(self, key: str) -> Session | None:
        """Forget a session and its timers now, in memory and in the store (its row and
        applied keys are deleted with the next commit); a finished one is closed by itself
        after ``retention``."""
        self.timers.cancel_session(key)
        session = self.sessions.pop(key, None)
        self._forget(key, session)
        if session is not None and signals.session_closed.receivers:
            self._tell(signals.session_closed, session, "close", self.clock.now(),
                       reason="closed")
        return session

    def snapshot(self, key: str) -> dict[str, Any]:
        session = self.sessions[key]
        data = session.snapshot()
        # ``seq``: the timer's place among those due at the same instant (arming order,
        # global to the runtime), which restore keeps.
        data["timers"] = [{**t.to_dict(), "seq": t.seq} for t in self.timers.for_session(key)]
        return data

    def restore(self, data: dict[str, Any]) -> Session:
        """Bring back a session from :meth:`snapshot`; its timers are re-armed as they were
        (each in its original place among timers due at the same instant), so those that
        fell due while it was away fire on the next :meth:`run_due`.

        All or nothing: the snapshot is checked whole first (vendor, machine, a state the
        machine has, the context, the files, every timer's name, finite due time and
        period) and a :class:`~recstate.errors.RestoreError` naming the field is raised
        before anything changes. A session already here under that key is replaced, its
        timers with it."""
        session, timers = self._check_snapshot(data)
        self.timers.cancel_session(session.key)
        self.sessions[session.key] = session
        self.engine(session.machine).model.restored(session)
        for name, due, payload, every, seq in sorted(timers, key=lambda t: (t[4] is None,
                                                                            t[4] or 0)):
            self.timers.arm(session.key, name, due, payload, every, seq)
        if self.retention is not None and session.state in self.engine(session.machine).finished:
            self._retire_at(session.key, self.clock.now() + self.retention)
        return session

    def _check_snapshot(self, data: Any) -> tuple[Session, list[tuple[str, float, Any,
                                                                       float | None,
                                                                       int | None]]]:
        if not isinstance(data, Mapping):
            raise RestoreError(None, "snapshot", f"expected a mapping, got "
                               f"{type(data).__name__}")
        key = data.get("key")
        if not isinstance(key, str) or not key:
            raise RestoreError(key, "key", "expected the session key, a non-empty string")
        try:
            vendor = self.vendor(data.get("vendor"))  # type: ignore[arg-type]
        except Exception as exc:
            raise RestoreError(key, "vendor", f"unknown vendor ({type(exc).__name__}: "
                               f"{exc})") from None
        by_name = {m.qualified_name(): m for m in vendor.machines}
        machine = by_name.get(data.get("machine"))  # type: ignore[arg-type]
        if machine is None:
            raise RestoreError(key, "machine", f"snapshot names machine "
                               f"{data.get('machine')!r}; {vendor.name} has {sorted(by_name)}")
        state = data.get("state")
        if state not in machine.state_names():
            raise RestoreError(key, "state", f"state {state!r} is not one of "
                               f"{machine.qualified_name()}'s: "
                               f"{', '.join(machine.state_names())}")
        if not isinstance(data.get("recording"), str):
            raise RestoreError(key, "recording", "expected the canonical recording state, a "
                               "string")
        if not isinstance(data.get("context"), Mapping):
            raise RestoreError(key, "context", "expected the machine's context, a mapping")
        files = data.get("files") or []
        if not isinstance(files, list) or not all(isinstance(f, Mapping) for f in files):
            raise RestoreError(key, "files", "expected a list of file mappings")
        for field in ("context", "files"):
            try:  # the context first, then the files with it
                if field == "context":
                    converter.structure(data["context"], machine.context)
                else:
                    session = Session.restore(dict(data), machine)
            except Exception as exc:  # cattrs or a file record: the cause, not a value
                raise RestoreError(key, field, f"cannot be read ({type(exc).__name__})"
                                   ) from None
        for f in session.files:
            if not isinstance(f.id, str):
                raise RestoreError(key, "files", f"a file id must be a string, got "
                                   f"{type(f.id).__name__}")
        raw = data.get("timers", [])
        if not isinstance(raw, list):
            raise RestoreError(key, "timers", "expected a list of timers")
        timers = []
        for i, timer in enumerate(raw):
            where = f"timers[{i}]"
            if not isinstance(timer, Mapping):
                raise RestoreError(key, where, "expected a timer mapping (name, due, payload, "
                                   "every, seq)")
            name, due, every, seq = (timer.get("name"), timer.get("due"), timer.get("every"),
                                     timer.get("seq"))
            if not isinstance(name, str) or not name:
                raise RestoreError(key, f"{where}.name", "expected the timer's name")
            if (isinstance(due, bool) or not isinstance(due, int | float)
                    or not math.isfinite(due)):
                raise RestoreError(key, f"{where}.due", "expected a finite time (Unix "
                                   "seconds)")
            if every is not None and (isinstance(every, bool)
                                      or not isinstance(every, int | float)
                                      or not math.isfinite(every) or every <= 0):
                raise RestoreError(key, f"{where}.every", "expected a period > 0 seconds, "
                                   "or null")
            if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)
                                    or seq < 0):
                raise RestoreError(key, f"{where}.seq", "expected an arming order >= 0, or "
                                   "null")
            timers.append((name, float(due), timer.get("payload"),
                           None if every is None else float(every), seq))
        return session, timers

    def __iter__(self) -> Iterator[Session]:
        return iter(self.sessions.values())

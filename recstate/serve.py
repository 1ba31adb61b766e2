"""``recstate serve``: the runtime as a small asyncio service (Starlette, served by uvicorn),
with a store and the system clock.

- ``POST /events``: trace lines (format v1, ``kind`` event) as a JSON object, a JSON array
  or JSON Lines. Every line is checked first: a bad one is a 400 naming the line and the
  field, and nothing is applied. Then each is handled and committed before the answer.
- vendors' own endpoints (``recstate.endpoints`` entry points): ``POST /netease/callback``,
  NetEase's callback service (抄送), verified with its CheckSum (AppSecret from the
  environment variable ``RECSTATE_NETEASE_APP_SECRET``): 401 and nothing changed for a bad
  one.
- ``GET /sessions``, ``GET /sessions/{key}``: state, canonical state, files, timers, as the
  store has them (so every process of the service answers the same).
- ``GET /healthz``; ``GET /metrics``: Prometheus (events handled, violations, errors, live
  sessions, timers due, handling latency).
- with a bridge secret (``recstate serve --bridge``, secret from ``RECSTATE_BRIDGE_SECRET``):
  the client bridge's routes, ``/ws`` and ``/client/`` (:mod:`recstate.bridge`), its
  :class:`~recstate.bridge.Bridge` made at startup on this service's runtime and handing the
  apps' events to :meth:`Service.handle`; the ``/demo/`` page and its open ``/demo/token``
  only with ``--bridge-demo`` (a production service hands out no token to anyone: the app's
  own server issues them with the secret).
- on a virtual clock (``--virtual-clock T0``, tests and demos only): the clock stands at T0 and
  moves only forward, to each POSTed event's ``t`` (the timers due on the way fire at their
  own times first) and by ``POST /clock {"to": t}``; ``GET /clock`` tells its time.

Timers fire on time from a background task. Several ``serve`` processes on one Redis form
one service (a fleet): before handling a request a process reads, in one round trip, the
stored versions of the sessions it names and takes those another process has moved; a
commit that loses a race (:class:`~recstate.stores.Conflict`: the session moved, or
:class:`~recstate.stores.base.SharedConflict`: a shared-index entry the handling read, such
as Tencent's busy users, moved) is taken back, what moved is taken from the store and the
input handled again (at most :data:`RETRIES` times); and each due timer is fired by the one
process that claimed its session from the store (``--timer-lease``: a process that dies
holding claims loses them then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from recstate.clock import Clock, ManualClock, SystemClock
from recstate.errors import TraceError
from recstate.events import Event, parse_event
from recstate.runtime import Runtime
from recstate.stores.base import Conflict, SharedConflict, Store, StoreError
from recstate.trace import Record, parse_line
from recstate.vendors import vendor_names

if TYPE_CHECKING:
    from recstate.bridge.hub import Bridge

__all__ = ["Service", "create_app"]

log = logging.getLogger("recstate.serve")
ENDPOINTS = "recstate.endpoints"
#: The largest ``POST /events`` body read (bytes): a bigger one is a 413, read no further.
MAX_BODY = 16 * 1024 * 1024
#: Seconds a claim on a session's due timers lasts (``--timer-lease``): a process that dies
#: while firing them loses them then, and another process fires them.
TIMER_LEASE = 30.0
#: Longest sleep of a fleet process's timer task: the store's timers are looked at at least
#: this often (a deadline armed by another process is that one's to wake for).
FLEET_WAKE = 5.0
#: Shortest sleep of a fleet process's timer task: timers coming due one after another are
#: claimed and fired together, at most this late (a pass costs its claim, which answers the
#: claimed sessions' rows and the next due time, whatever it fires). Each timer is handled
#: at its own due time all the same (``TimerEvent.t``).
FLEET_TICK = 0.25
#: Sessions a claim takes at most, a partition.
CLAIM = 32
#: Races an input may lose in a row (each reloads what another process wrote) before it is
#: refused: a bound, so that a hot session or index never spins a request for ever.
RETRIES = 20


class Contended(StoreError):
    """An input lost :data:`RETRIES` races in a row: nothing of it was applied."""


class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("recstate_events_handled", "Inputs handled (events and timers)",
                              ["vendor"], registry=r)
        self.violations = Counter("recstate_violations", "Inputs a machine did not accept",
                                  ["vendor"], registry=r)
        self.errors = Counter("recstate_errors", "Error-level notices and handling errors",
                              ["vendor", "code"], registry=r)
        self.sessions = Gauge("recstate_live_sessions", "Sessions in this process",
                              registry=r)
        self.timers_due = Gauge("recstate_timers_due", "Timers due and not yet fired",
                                registry=r)
        self.fired = Counter("recstate_timers_fired", "Timers fired and committed by this "
                             "process", ["timer"], registry=r)
        self.conflicts = Counter("recstate_conflicts", "Commits refused because another "
                                 "process wrote first (kind: version of a session, or "
                                 "shared entries read)", ["kind"], registry=r)
        self.round_trips = Gauge("recstate_store_round_trips", "Requests this process has "
                                 "sent to its store on the hot paths (Redis: a script call "
                                 "or a pipeline is one)", registry=r)
        self.bridge = Gauge("recstate_bridge", "The client bridge: commands pending for an "
                            "app, sent again after a reconnect, withdrawn after the hold; "
                            "events received again (acknowledged, handled once)", ["what"],
                            registry=r)
        self.latency = Histogram("recstate_handling_seconds", "Handling latency: time to "
                                 "handle and commit one input", registry=r,
                                 buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1))


class Service:
    """The runtime of one ``serve`` process, its store and its metrics."""

    def __init__(self, store: Store, *, clock: Clock | None = None,
                 timer_lease: float = TIMER_LEASE) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.runtime = Runtime(self.clock, store=store, tracer=self._committed)
        #: A store that hands out due timers (Redis): the processes sharing it form a fleet
        #: in which each timer is fired by the one process that claimed its session.
        self.claims: Any = store if hasattr(store, "claim_due_all") else None
        self.timer_lease = timer_lease
        if self.claims is not None:
            self.runtime.firing = set()
        self._fired_told: dict[str, int] = {}
        self.metrics = Metrics()
        self._timer_task: asyncio.Task[None] | None = None
        #: the client bridge, when served: its waiting commands are withdrawn on time too
        self.bridge: Bridge | None = None
        self._wake = asyncio.Event()
        #: Until when the timer task sleeps (None: it is awake): in a fleet an input wakes
        #: it only for a deadline before that (each wake costs a claim).
        self._asleep_until: float | None = None
        #: The earliest next due time of the sessions :meth:`fire_claimed` claimed (fired
        #: or given back after its last look at the store's next due time), or None.
        self._given_back: float | None = None
        #: When the timers were last looked at (a pass's claim, or a request's freshness
        #: read asked to look), by this process's clock; the store's earliest due time a
        #: request's look saw since the last pass, and when (None: none since); the
        #: earliest deadline this process committed since the last look: what the timer
        #: task wakes for without a pass of its own (:meth:`fleet_wake`).
        self._looked_at = float("-inf")
        self._look: tuple[float, float | None] | None = None
        self._own_due: float | None = None
        self.runtime.recover()
        self.metrics.sessions.set(len(self.runtime.sessions))

    def _committed(self, record: Record) -> None:
        """The runtime's tracer: told each record once its handling is committed (never of
        a handling taken back after a lost race), so the metrics count what was applied."""
        if record.kind != "error" or record.data is None:
            return
        data = record.data
        if data.get("code") == "violation" and "level" not in data:
            self.metrics.violations.labels(record.vendor).inc()
        elif data.get("level") == "error":
            self.metrics.errors.labels(record.vendor, str(data.get("code"))).inc()

    # ---- handling ------------------------------------------------------------------------
    def _lost(self, conflict: Conflict) -> None:
        """A commit lost a race to another process sharing the store: take back what it
        wrote first (the sessions; the shared entries the runtime has already taken)."""
        kind = "shared" if isinstance(conflict, SharedConflict) else "version"
        self.metrics.conflicts.labels(kind).inc()
        keys = conflict.sessions if isinstance(conflict, SharedConflict) else [
            conflict.session]
        rows = conflict.rows if isinstance(conflict, SharedConflict) else {}
        for key in keys:
            if key in rows:  # the store's refusal carried it: no read
                self.runtime.take(key, rows[key])
            elif key:
                self.runtime.reload(key)

    def freshen(self, events: list[Event]) -> None:
        """Take from the store the sessions these events name that another process moved:
        one read for a whole request (Redis: one round trip)."""
        vendors = {}
        for ev in events:
            key = self.session_of(ev)
            if key is not None:
                vendors[key] = ev.vendor
        store, now = self.claims, self.clock.now()
        if store is None:
            self.runtime.freshen(vendors, vendors)
            return
        # in a fleet, the read also looks at the store's timers when the last look is half
        # FLEET_WAKE old: under load the timer task then needs no idle pass of its own
        if self._asleep_until is not None and now - self._looked_at >= FLEET_WAKE / 2:
            store.look_next = True
        looks = store.looks
        self.runtime.freshen(vendors, vendors)
        if store.looks != looks:
            self._looked_at = now
            self._look = (now, store.next_seen)
            self._own_due = None

    def session_of(self, ev: Event) -> str | None:
        """The session ``ev`` goes to: its own, or the one its vendor's routing names (a
        NetEase callback item: by channel); None when that cannot be told beforehand (an
        input split into parts, a bad one: the handling says so)."""
        if ev.session is not None:
            return ev.session
        try:
            return self.runtime.vendor(ev.vendor).session_key(ev)
        except Exception:  # a routing rule that raises: the handling reports it
            return None

    def handle(self, ev: Event, *, fresh: bool = False) -> None:
        """Dispatch ``ev``, committed when this returns; a session another process moved
        is taken from the store first (unless ``fresh``: :meth:`freshen` just did), and a
        lost race (its session, or a shared entry
        its handling read, written by another process first) is handled again, at most
        :data:`RETRIES` times (then :class:`Contended`: nothing of it was applied)."""
        rt = self.runtime
        started = time.perf_counter()
        key = self.session_of(ev)
        if key is not None and not fresh:
            rt.freshen((key,), {key: ev.vendor})
        if rt.firing is not None:  # its own due timers go first, as in one process
            rt.firing = {key} if key is not None else set()
        try:
            self._handle(ev, key)
        finally:
            if rt.firing is not None:
                rt.firing = set()
        self.metrics.events.labels(ev.vendor).inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.sessions.set(len(rt.sessions))
        self._poke(key)  # a new deadline, perhaps

    def _handle(self, ev: Event, key: str | None) -> None:
        rt = self.runtime
        redo = True
        for _ in range(RETRIES):
            try:
                if redo:
                    rt.dispatch(ev)
                else:  # a timer's commit lost a race: the rest of the queue goes on
                    rt.run_due()
                break
            except Conflict as conflict:  # another process wrote first
                self._lost(conflict)
                # this input's own handling lost: handle it again on the fresh session
                redo = conflict.input and not rt.queued(ev)
        else:
            raise Contended(f"event {ev.name!r} of session {key or '(routed)'} lost "
                            f"{RETRIES} races in a row to other processes sharing the "
                            f"store: not applied; send it again (its id makes a second "
                            f"delivery harmless)")

    def advance(self, to: float) -> None:
        """Move the virtual clock to ``to``, firing each timer due on the way at its time
        (in a fleet: those of the sessions this process claims, at their due times)."""
        rt = self.runtime
        if self.claims is not None:
            clock = self.clock
            if isinstance(clock, ManualClock) and to > clock.now():
                clock.set(to)
            self.fire_claimed()
        else:
            for _ in range(RETRIES):  # each lost race reloads one session; then go on
                try:
                    rt.advance(to)
                    break
                except Conflict as conflict:
                    self._lost(conflict)
        if self.bridge is not None:
            self.bridge.expire()
        self.metrics.sessions.set(len(rt.sessions))
        self._poke()

    def run_due(self) -> None:
        rt = self.runtime
        for _ in range(RETRIES):  # each lost race reloads one session; then try again
            try:
                rt.run_due()
                return
            except Conflict as conflict:
                self._lost(conflict)

    def fire_claimed(self) -> int:
        """In a fleet: claim the sessions with a timer due (atomically, at most
        :data:`CLAIM` a partition, for ``timer_lease`` seconds: a process that dies holding
        a claim loses it then), take those another process moved from the claim's answer
        (it carries their rows: no read), fire their due timers, give back the claims of
        those whose firing committed nothing; again while a partition's claim was full.
        Returns how many sessions it fired (whose firing committed): a lone timer costs 2
        round trips, its claim and its commit."""
        store, rt = self.claims, self.runtime
        fired = 0
        self._given_back = None
        for _ in range(10_000):  # bounded: each pass fires what is due by now
            now = self.clock.now()
            until = now + self.timer_lease
            claims = store.claim_due_all(now, until, CLAIM)
            if not claims:
                break
            keys = [c.key for c in claims]
            rt.take_moved({c.key: c.row for c in claims})  # the claim answered their rows
            before = {key: rt.held(key) for key in keys}  # (version, incarnation)
            rt.firing = set(keys)
            try:
                self.run_due()
            finally:
                rt.firing = set()
            # a session whose firing committed had its claim replaced by its next due time
            moved = [key for key in keys if rt.held(key) != before[key]]
            back = [(c.partition, c.key, self._next_due(c.key)) for c in claims
                    if rt.held(c.key) == before[c.key]]
            store.unclaim(back, until)
            for key in keys:  # their next due times, which the claim's look did not see
                due = self._next_due(key)
                if due is not None and (self._given_back is None or due < self._given_back):
                    self._given_back = due
                if due is not None and (self._own_due is None or due < self._own_due):
                    self._own_due = due  # nor did a request's look before it
            fired += len(moved)
            if not moved:  # nothing could be fired (claimed, not due here): no spinning
                break
            per_partition: dict[int, int] = {}
            for c in claims:
                per_partition[c.partition] = per_partition.get(c.partition, 0) + 1
            if max(per_partition.values()) < CLAIM:  # every partition's due ones were
                break  # claimed: what comes due meanwhile waits for the next pass
        return fired

    def fleet_pass(self) -> float | None:
        """One pass of a fleet process's timer task: fire what it can claim, and say when
        to look again: the store's next due time as the last claim saw it, or an earlier
        next due time of a session the pass claimed (one due that another process holds a
        claim on: a second from now).

        Not this process's own deadlines: every committed session's next due time is in
        the store (what this process committed too), and its copies of sessions another
        process moved since hold deadlines that are gone (a start's answer deadline the
        other process's start:ok cancelled, a watchdog a heartbeat there reset): waking
        for those cost a claim pass each, 0.16 round trips an event in a two-process fleet
        (bench/RESULTS.md). The runtime's own timers (a finished session's retirement)
        fire at each wake, at most :data:`FLEET_WAKE` late."""
        self._looked_at, self._look, self._own_due = self.clock.now(), None, None
        fired = self.fire_claimed()
        due: float | None = self.claims.next_seen  # the last claim looked at every partition
        back = self._given_back  # sessions claimed since the last claim's look
        if back is not None and (due is None or back < due):
            due = back
        now = self.clock.now()
        if due is not None and due <= now and not fired:
            due = now + 1.0  # due, and not for this process to fire now (another's claim
            # about to be replaced): look again in a second
        return due

    def fleet_wake(self) -> float | None:
        """A fleet process's timer task, awake: when to look again. A pass
        (:meth:`fleet_pass`), unless a request's freshness read looked at the store's
        timers since the last pass, less than :data:`FLEET_WAKE` ago, and neither what it
        saw nor a deadline this process committed since (what an input's wake is for) is
        due by now: then the earliest of those, at no round trip. So under load the idle
        passes are gone, and a deadline armed by a process that died before firing it is
        fired at most about 2 x FLEET_WAKE late."""
        look, now = self._look, self.clock.now()
        if look is not None and now - look[0] < FLEET_WAKE:
            due, own = look[1], self._own_due
            if own is not None and (due is None or own < due):
                due = own
            if due is None or due > now:
                return due
        return self.fleet_pass()

    def _next_due(self, key: str) -> float | None:
        timers = self.runtime.timers.for_session(key) if key in self.runtime.sessions else []
        return min(t.due for t in timers) if timers else None

    async def timers(self) -> None:
        """Fire timers on time: sleep until the next deadline or a new input (in a fleet:
        the store's next due time, whichever process's session it is)."""
        while True:
            if self.claims is not None:
                self.run_due()  # evicts sessions whose timers came due: not this one's
                due = self.fleet_wake()
            else:
                self.run_due()
                due = self.runtime.next_deadline()
            if self.bridge is not None:  # a command no app took is withdrawn on time
                self.bridge.expire()
                expiry = self.bridge.next_expiry()
                if expiry is not None:
                    due = expiry if due is None else min(due, expiry)
            # in a fleet, at most FLEET_WAKE: a deadline another process armed (and died
            # before firing) is seen that late at worst
            longest = 60.0 if self.claims is None else FLEET_WAKE
            shortest = 0.0 if self.claims is None else FLEET_TICK
            wait = longest if due is None else max(shortest,
                                                   min(longest, due - self.clock.now()))
            self._wake.clear()
            self._asleep_until = self.clock.now() + wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._asleep_until = None

    def _poke(self, key: str | None = None) -> None:
        """Wake the timer task if what was just handled may have armed a deadline before
        the one it sleeps until (in a fleet: session ``key``'s, the one just committed, or
        the virtual clock moved past it; otherwise always: that costs nothing)."""
        until = self._asleep_until
        if self.claims is None or until is None:
            self._wake.set()
            return
        due = self._next_due(key) if key is not None else None
        if due is not None and (self._own_due is None or due < self._own_due):
            self._own_due = due  # committed after the last look: not in what it saw
        if self.clock.now() >= until:
            self._wake.set()
            return
        if self.bridge is not None:
            expiry = self.bridge.next_expiry()
            if expiry is not None:
                due = expiry if due is None else min(due, expiry)
        if due is not None and due < until:
            self._wake.set()

    def timers_due(self) -> int:
        now = self.clock.now()
        return sum(1 for t in self.runtime.timers if t.due <= now)


def _lines(body: bytes) -> list[tuple[int, Any]]:
    """(line number, parsed JSON) of a body: an object, an array, or JSON Lines."""
    text = body.strip()
    if text[:1] in (b"{", b"["):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            obj = None  # perhaps JSON Lines
        if isinstance(obj, list):
            return [(i, x) for i, x in enumerate(obj, start=1)]
        if obj is not None:
            return [(1, obj)]
    out = []
    for i, raw in enumerate(body.splitlines(), start=1):
        if raw.strip():
            out.append((i, raw))
    return out


def parse_events(body: bytes, vendors: frozenset[str] | None = None) -> list[Event]:
    """Every line of a ``POST /events`` body as an event, or the first TraceError.
    ``vendors``: the installed vendors' names (read once: it scans the entry points)."""
    vendors = vendors if vendors is not None else vendor_names()
    events: list[Event] = []
    for number, item in _lines(body):
        raw = item if isinstance(item, bytes) else orjson.dumps(item)
        record = parse_line(raw, source="POST /events", line=number, vendors=vendors)
        if record is None:
            continue
        if record.kind != "event":
            raise TraceError(f"kind {record.kind!r} is an output; POST /events takes inputs",
                             source="POST /events", line=number, field="kind")
        events.append(parse_event(record.vendor, record.name, record.t, record.data,
                                  record.session, source="POST /events", line=number,
                                  id=record.id))
    return events


def _session_view(row_snapshot: dict[str, Any], version: int) -> dict[str, Any]:
    snap = row_snapshot
    return {"session": snap["key"], "vendor": snap["vendor"], "machine": snap["machine"],
            "state": snap["state"], "recording": snap["recording"], "files": snap["files"],
            "timers": [{"name": t["name"], "due": t["due"]} for t in snap.get("timers", ())],
            "version": version}


def create_app(store: Store, *, clock: Clock | None = None,
               timer_lease: float = TIMER_LEASE,
               bridge_secret: str | None = None, bridge_demo: bool = False,
               bridge_hold: float | None = 30.0) -> Starlette:
    """The service's ASGI app (the runtime is made, and recovers, at startup).
    ``bridge_secret``: mount the client bridge (``/ws``, ``/client/``), its tokens signed with
    this secret (at least 16 bytes: a ValueError here, not at startup); ``bridge_demo``: and
    the demo page with its open token endpoint (``/demo/``; never in production);
    ``bridge_hold``: seconds a command waits for its app. A :class:`ManualClock` makes the
    clock virtual: events move it to their ``t``, and ``/clock`` reads and moves it."""
    holder: dict[str, Any] = {}
    bridge_routes: Any = None
    if bridge_secret is not None:
        from recstate.bridge.app import bridge_routes
        from recstate.bridge.tokens import Tokens
        Tokens(bridge_secret)  # a short secret is refused now, before anything listens
    elif bridge_demo:
        raise ValueError("the bridge's demo page needs the bridge: give bridge_secret too")
    virtual = clock if isinstance(clock, ManualClock) else None
    vendors = vendor_names()

    def service() -> Service:
        svc: Service = holder["service"]
        return svc

    async def post_events(request: Request) -> Response:
        too_big = JSONResponse({"error": f"the body is over {MAX_BODY} bytes: post the lines "
                                "in several requests", "line": None, "field": None,
                                "applied": 0}, status_code=413)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return too_big
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            events = parse_events(body, vendors)
        except TraceError as error:
            reason = error.reason
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind and "json" not in kind and not kind.startswith("text/"):
                reason += f" (the body is {kind}: POST /events takes JSON or JSON Lines)"
            return JSONResponse({"error": reason, "line": error.line,
                                 "field": error.field, "applied": 0}, status_code=400)
        svc = service()
        svc.freshen(events)  # one read for the request's sessions
        for n, ev in enumerate(events):
            if virtual is not None and ev.t is not None and ev.t > virtual.now():
                svc.advance(ev.t)  # virtual time: the events' own time moves the clock
            try:
                svc.handle(ev, fresh=True)
            except Contended as error:
                return JSONResponse({"error": str(error), "line": n + 1, "applied": n},
                                    status_code=503)
        return JSONResponse({"applied": len(events)})

    async def clock_view(request: Request) -> Response:
        """``GET /clock``: the virtual time; ``POST /clock {"to": t}``: move it forward."""
        assert virtual is not None
        if request.method == "POST":
            try:
                to = orjson.loads(await request.body())["to"]
                if isinstance(to, bool) or not isinstance(to, int | float):
                    raise TypeError
            except (orjson.JSONDecodeError, KeyError, TypeError):
                return JSONResponse({"error": 'expected a JSON object {"to": <Unix seconds>}',
                                     "field": "to"}, status_code=400)
            if to < virtual.now():
                return JSONResponse({"error": f"the clock is at {virtual.now()} and never "
                                     f"goes back (to {to}): timers would run out of order",
                                     "field": "to"}, status_code=409)
            service().advance(float(to))
        return JSONResponse({"now": virtual.now(), "virtual": True})

    async def get_sessions(request: Request) -> Response:
        rows = store.load().sessions
        return JSONResponse({"sessions": [_session_view(r.snapshot, r.version)
                                          for r in rows]})

    async def get_session(request: Request) -> Response:
        key = request.path_params["key"]
        row = store.get(key)
        if row is None:
            return JSONResponse({"error": f"no session {key!r}"}, status_code=404)
        return JSONResponse(_session_view(row.snapshot, row.version))

    async def healthz(request: Request) -> Response:
        try:
            store.version("") if hasattr(store, "version") else store.keys()
        except Exception as exc:
            return JSONResponse({"status": "failing", "store": repr(store),
                                 "error": f"{type(exc).__name__}"}, status_code=503)
        return JSONResponse({"status": "ok", "store": repr(store),
                             "sessions": len(service().runtime.sessions)})

    async def metrics(request: Request) -> Response:
        svc = service()
        svc.metrics.timers_due.set(svc.timers_due())
        bridge = holder.get("bridge")
        if bridge is not None:
            bridge.expire()
            for what, value in (("pending", len(bridge.pending)), ("resent", bridge.resent),
                                ("withdrawn", len(bridge.withdrawn)),
                                ("duplicate_events", bridge.duplicates)):
                svc.metrics.bridge.labels(what).set(value)
        svc.metrics.sessions.set(len(svc.runtime.sessions))
        for name, n in svc.runtime.fired.items():
            told = svc._fired_told.get(name, 0)
            if n > told:
                svc.metrics.fired.labels(name).inc(n - told)
                svc._fired_told[name] = n
        trips = getattr(store, "round_trips", None)
        if trips is not None:
            svc.metrics.round_trips.set(trips)
        return Response(generate_latest(svc.metrics.registry),
                        media_type="text/plain; version=0.0.4; charset=utf-8")


    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = holder["service"] = Service(store, clock=clock, timer_lease=timer_lease)
        bridge = None
        if bridge_secret is not None:
            from recstate.bridge.hub import Bridge
            bridge = holder["bridge"] = Bridge(svc.runtime, bridge_secret, deliver=svc.handle,
                                               hold=bridge_hold)
            svc.bridge = bridge
        task = asyncio.create_task(svc.timers())
        try:
            yield
        finally:
            if bridge is not None:
                bridge.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            svc.runtime.flush_store()

    routes: list[BaseRoute] = [Route("/events", post_events, methods=["POST"]),
              Route("/sessions", get_sessions, methods=["GET"]),
              Route("/sessions/{key:path}", get_session, methods=["GET"]),
              Route("/healthz", healthz, methods=["GET"]),
              Route("/metrics", metrics, methods=["GET"]),
              *_endpoints(service, clock)]
    if virtual is not None:
        routes.append(Route("/clock", clock_view, methods=["GET", "POST"]))
    if bridge_routes is not None:
        routes += bridge_routes(lambda: holder["bridge"], demo=bridge_demo)
    return Starlette(routes=routes, lifespan=lifespan)


def _endpoints(service: Callable[[], Service], clock: Clock | None) -> list[Route]:
    """The vendors' own HTTP endpoints (NetEase's 抄送), found through the
    ``recstate.endpoints`` entry points: each is ``endpoint(runtime, handle, clock)`` ->
    ``(path, ASGI app)``, delivering what it receives through ``handle``."""
    mounts = []
    for ep in sorted(entry_points(group=ENDPOINTS), key=lambda e: e.name):
        try:
            make = ep.load()
        except Exception as exc:
            log.error("vendor endpoint %r cannot be loaded and is left out: %s", ep.name, exc)
            continue

        class Lazy:
            """Made at the first request: the runtime exists once the app has started."""

            def __init__(self, make: Any) -> None:
                self.make = make
                self.app: Any = None

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                if self.app is None:
                    svc = service()
                    self.app = self.make(svc.runtime, svc.handle, clock or SystemClock())[1]
                await self.app(scope, receive, send)

        path = make(None, None, None)[0]
        mounts.append(Route(path, Lazy(make)))  # an ASGI app: it answers every method
    return mounts


def serve(url: str, *, host: str = "127.0.0.1", port: int = 8080,
          ready: Callable[[str], None] | None = None,
          bridge_secret: str | None = None, bridge_demo: bool = False,
          bridge_hold: float | None = 30.0, clock: Clock | None = None,
          timer_lease: float = TIMER_LEASE) -> None:
    """Run the service until interrupted (SIGINT/SIGTERM)."""
    import socket

    import uvicorn

    from recstate.stores import open_store

    store = open_store(url)
    try:
        app = create_app(store, clock=clock, timer_lease=timer_lease,
                         bridge_secret=bridge_secret,
                         bridge_demo=bridge_demo, bridge_hold=bridge_hold)
    except BaseException:
        store.close()
        raise
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Answers go out at once (accepted sockets inherit it): without it, a response written
    # in two parts waits for the client's delayed ACK (40 ms) on a kept-alive connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    bound = sock.getsockname()[1]
    if ready is not None:
        ready(f"http://{host}:{bound}")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_keep_alive=75))
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        store.close()

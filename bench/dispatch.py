"""Dispatch, session creation and session memory: one recording lifecycle, three engines.

    .venv/bin/python bench/dispatch.py              # full run (about 1-2 minutes)
    .venv/bin/python bench/dispatch.py --quick      # a short run (smaller counts)
    .venv/bin/python bench/dispatch.py --markdown   # the table as Markdown, for RESULTS.md
    .venv/bin/python bench/dispatch.py --profile    # cProfile of (c) on the mixed workload

The same lifecycle runs, in one process, through

(a) a plain dict-table FSM: ``table[state][event] -> (dest, command)``, sessions in a dict;
(b) raw ``transitions``: one shared ``transitions.Machine(model=None, auto_transitions=False)``,
    one model per session added with ``add_model``, dispatch ``getattr(model, event)()``;
(c) the recstate ``Runtime`` with signals on (a receiver on ``signals.transition`` and on
    ``signals.commands("bench")``, sender=runtime) and tracing to a real file
    (``Runtime(SystemClock(), tracer=TraceWriter(path))``).

The lifecycle (states idle, starting, recording, stopping, stopped)::

    start     idle|stopped -> starting    sends a command (startRec)
    start_ok  starting     -> recording
    data      recording    (internal: the state stays; the common case)
    stop      recording    -> stopping    sends a command (stopRec)
    stop_ok   stopping     -> stopped

``start`` is also accepted from ``stopped`` so that live sessions go round again in every
repeat. Workloads, delivered round-robin across the live sessions (session 1's event, session
2's event, ...):

- *mixed*: start, start_ok, N x data, stop, stop_ok per session (N=16: 80% of events internal);
- *every event changes state*: start, start_ok, stop, stop_ok per session.

All three route by session key (a dict lookup, creating the session on its first event) and
send the two commands (a and b: a callback that counts them; c: ``self.send(Cmd())``, which
the runtime traces and sends on the command signal). Event objects are built before timing:
(a) and (b) get ``(key, name)`` pairs, (c) frozen attrs events with ``session=key``. Only
dispatch is timed (time.perf_counter); the variants take turns within each repeat, and the
best repeat is reported (the machine may be shared: other load only slows a repeat down), with
the median repeat and the median of the repeat-by-repeat (c)/(b) ratios beside it.

Session creation: µs to make one more session live, timed in chunks in a window just below
1k and 100k live sessions (median chunk), three ways: *create* makes the session only
((a) a slots record, (b) a model + ``add_model``, (c) ``Runtime._create``, which is what
``dispatch`` runs for an unknown key); *first event* dispatches ``start`` to a new key
(creation plus its first handling: for (c) trace lines, a transition and a command signal).
Filling (b) up to 100k is untimed and skips add_model's ``model in self.models`` list scan
(otherwise the fill alone takes minutes); the timed window uses the real ``add_model``.

CloudRoom: a vendor's real machine on a workload of its own (``bench_cloudroom``): mixers
with three outputs each (mp4, ts, flv), and a LocMixerOutputInfo WRITING a second for each
output, round-robin across the mixers, with growing duration and size. (a) is a dict of
outputs with the figure check; (b) raw transitions with one model per output (an internal
``info`` transition whose callback checks and takes the figures); (c) the recstate Runtime
running ``cloudroom.mixer`` (routing by mixerID, the numbering table, the check that figures
never go backwards), signals on, tracing to a file. The mixers and outputs are set up
untimed in a fresh engine for every repeat; only the info updates are timed.

Vendor lifecycles: after the table, ``bench/lifecycles.py`` runs the Tencent and the Juphoon
lifecycles through their real machines against raw transitions on the same path (see there).

Memory: bytes per live idle session, by tracemalloc (traced memory before and after creating
20k idle sessions, keys built beforehand, divided by the count): the session objects and the
runtime's own bookkeeping (the sessions dict, transitions' models list).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import gc
import io
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import transitions
from blinker import ANY  # noqa: F401  (the signals are blinker's)

from recstate import signals
from recstate.clock import SystemClock
from recstate.events import Command, Event, command, event
from recstate.machine import Machine, on
from recstate.runtime import Runtime
from recstate.trace import TraceWriter
from recstate.vendors import Vendor, register_vendor

STATES = ("idle", "starting", "recording", "stopping", "stopped")
#        trigger     sources                 dest         command
LIFECYCLE = (
    ("start", ("idle", "stopped"), "starting", "startRec"),
    ("start_ok", ("starting",), "recording", None),
    ("data", ("recording",), None, None),
    ("stop", ("recording",), "stopping", "stopRec"),
    ("stop_ok", ("stopping",), "stopped", None),
)


def lifecycle_names(n_data: int) -> list[str]:
    return ["start", "start_ok", *(["data"] * n_data), "stop", "stop_ok"]


def round_robin(keys: list[str], names: list[str]) -> list[tuple[str, str]]:
    return [(key, name) for name in names for key in keys]


_sent = [0]  # commands "sent" by (a) and (b)


# ---- (a) a plain dict-table FSM ------------------------------------------------------------
class PairDispatch:
    """What (a) and (b) share: events are plain (session key, event name) pairs."""

    def dispatch(self, key: str, name: str) -> None:
        raise NotImplementedError

    def events(self, pairs: list[tuple[str, str]]) -> Any:
        return pairs

    def runner(self, pairs: Any) -> Callable[[], None]:
        dispatch = self.dispatch

        def run() -> None:
            for key, name in pairs:
                dispatch(key, name)
        return run

    def first(self, key: str) -> Any:
        return (key, "start")

    def dispatch_first(self, ev: Any) -> None:
        self.dispatch(*ev)


class DictSession:
    __slots__ = ("key", "state")

    def __init__(self, key: str) -> None:
        self.key = key
        self.state = "idle"


TABLE: dict[str, dict[str, tuple[str | None, str | None]]] = {s: {} for s in STATES}
for _trigger, _sources, _dest, _cmd in LIFECYCLE:
    for _src in _sources:
        TABLE[_src][_trigger] = (_dest, _cmd)


class DictFSM(PairDispatch):
    label = "(a) dict FSM"

    def __init__(self) -> None:
        self.sessions: dict[str, DictSession] = {}

    def create(self, key: str) -> DictSession:
        s = self.sessions[key] = DictSession(key)
        return s

    def dispatch(self, key: str, name: str) -> None:
        s = self.sessions.get(key)
        if s is None:
            s = self.create(key)
        row = TABLE[s.state].get(name)
        if row is None:
            raise LookupError(f"{name!r} not accepted in state {s.state!r}")
        dest, cmd = row
        if cmd is not None:
            _sent[0] += 1
        if dest is not None:
            s.state = dest


    def close(self) -> None:
        pass


# ---- (b) raw transitions, one shared Machine, add_model ------------------------------------
class TModel:
    def __init__(self, key: str) -> None:
        self.key = key

    def send_command(self) -> None:
        _sent[0] += 1


class _FastContains(list):  # type: ignore[type-arg]
    """Only for the untimed fill up to 100k: add_model's ``model not in self.models``."""

    def __contains__(self, item: object) -> bool:
        return False


class RawTransitions(PairDispatch):
    label = "(b) transitions"

    def __init__(self) -> None:
        specs = []
        for trigger, sources, dest, cmd in LIFECYCLE:
            spec: dict[str, Any] = {"trigger": trigger, "source": list(sources), "dest": dest}
            if cmd is not None:
                spec["after"] = "send_command"
            specs.append(spec)
        self.machine = transitions.Machine(model=None, states=list(STATES), transitions=specs,
                                           initial="idle", auto_transitions=False)
        self.sessions: dict[str, TModel] = {}

    def create(self, key: str) -> TModel:
        model = TModel(key)
        self.machine.add_model(model)
        self.sessions[key] = model
        return model

    def dispatch(self, key: str, name: str) -> None:
        model = self.sessions.get(key)
        if model is None:
            model = self.create(key)
        getattr(model, name)()


    def fast_fill(self, on: bool) -> None:
        self.machine.models = (_FastContains if on else list)(self.machine.models)

    def close(self) -> None:
        pass


# ---- (c) the recstate Runtime --------------------------------------------------------------
VENDOR = "bench"


@event(VENDOR, "start")
class Start(Event):
    pass


@event(VENDOR, "start_ok")
class StartOk(Event):
    pass


@event(VENDOR, "data")
class Data(Event):
    pass


@event(VENDOR, "stop")
class Stop(Event):
    pass


@event(VENDOR, "stop_ok")
class StopOk(Event):
    pass


@command(VENDOR, "startRec")
class StartRec(Command):
    pass


@command(VENDOR, "stopRec")
class StopRec(Command):
    pass


EVENT_CLASSES = {cls.name: cls for cls in (Start, StartOk, Data, Stop, StopOk)}


class BenchRecorder(Machine):
    vendor = VENDOR
    states = STATES
    initial = "idle"
    transitions = (
        on("start", ("idle", "stopped"), "starting", after="send_start"),
        on("start_ok", "starting", "recording"),
        on("data", "recording"),
        on("stop", "recording", "stopping", after="send_stop"),
        on("stop_ok", "stopping", "stopped"),
    )
    recording_states = {"idle": "idle", "starting": "starting", "recording": "recording",
                        "stopping": "stopping", "stopped": "stopped"}

    def send_start(self, ev: Event) -> None:
        self.send(StartRec())

    def send_stop(self, ev: Event) -> None:
        self.send(StopRec())


register_vendor(Vendor(name=VENDOR, machines=(BenchRecorder,),
                       machine_for=lambda ev: BenchRecorder, session_key=lambda ev: ev.session))

_heard = {"transition": 0, "command": 0}


def _on_transition(sender: Any, **kw: Any) -> None:
    _heard["transition"] += 1


def _on_command(sender: Any, **kw: Any) -> None:
    _heard["command"] += 1


#: Runtime(restore_context=...): a copy of the context before each handling (issue 10, 13).
RESTORE_CONTEXT = True


class Recstate:
    label = "(c) recstate"

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="recstate-bench-", suffix=".jsonl")
        os.close(fd)
        self.tracer = TraceWriter(self.path)
        self.runtime = Runtime(SystemClock(), tracer=self.tracer,
                               restore_context=RESTORE_CONTEXT)
        signals.transition.connect(_on_transition, sender=self.runtime)
        signals.commands(VENDOR).connect(_on_command, sender=self.runtime)
        self.sessions = self.runtime.sessions
        self._any_start = Start(t=0.0, session=None)  # machine_for's argument

    def create(self, key: str) -> Any:
        return self.runtime._create(key, VENDOR, self._any_start)

    def events(self, pairs: list[tuple[str, str]]) -> Any:
        cache: dict[tuple[str, str], Event] = {}
        out = []
        for key, name in pairs:  # one object per (session, name): data repeats it
            ev = cache.get((key, name))
            if ev is None:
                ev = cache[(key, name)] = EVENT_CLASSES[name](t=0.0, session=key)
            out.append(ev)
        return out

    def runner(self, evs: Any) -> Callable[[], None]:
        dispatch = self.runtime.dispatch

        def run() -> None:
            for ev in evs:
                dispatch(ev)
        return run

    def first(self, key: str) -> Any:
        return Start(t=0.0, session=key)

    def dispatch_first(self, ev: Any) -> None:
        self.runtime.dispatch(ev)

    def close(self) -> None:
        signals.transition.disconnect(_on_transition, sender=self.runtime)
        signals.commands(VENDOR).disconnect(_on_command, sender=self.runtime)
        self.tracer.close()
        self.trace_bytes = os.path.getsize(self.path)
        os.unlink(self.path)


VARIANTS = (DictFSM, RawTransitions, Recstate)


# ---- measurements --------------------------------------------------------------------------
def bench_dispatch(n_sessions: int, n_data: int, repeats: int) -> dict[str, dict[str, float]]:
    """events/s per variant for the mixed and the every-event-changes-state workloads."""
    keys = [f"rec-{i:06d}" for i in range(n_sessions)]
    workloads = {"mixed": lifecycle_names(n_data),
                 "changes": lifecycle_names(0)}
    engines = [cls() for cls in VARIANTS]
    out: dict[str, dict[str, float]] = {e.label: {} for e in engines}
    for wname, names in workloads.items():
        pairs = round_robin(keys, names)
        runs = [(e, e.runner(e.events(pairs))) for e in engines]
        for _, run in runs:  # warm-up: creates the sessions, builds the engine
            run()
        times: dict[str, list[float]] = {e.label: [] for e in engines}
        for _ in range(repeats):
            for e, run in runs:
                gc.collect()
                t0 = time.perf_counter()
                run()
                times[e.label].append(time.perf_counter() - t0)
        for e in engines:
            ts = times[e.label]
            out[e.label][f"{wname}_eps"] = len(pairs) / min(ts)
            out[e.label][f"{wname}_eps_median"] = len(pairs) / statistics.median(ts)
        tb, tc = times[RawTransitions.label], times[Recstate.label]
        out[Recstate.label][f"{wname}_c_b_paired"] = statistics.median(
            b / c for b, c in zip(tb, tc, strict=True))  # repeat by repeat: cancels drifting load
    # sanity: every session went round and ended stopped
    for e in engines:
        assert all(s.state == "stopped" for s in e.sessions.values()), e.label
    assert _heard["command"] > 0
    assert _heard["transition"] > 0
    for e in engines:
        e.close()
    return out


def _timed_chunks(fn: Callable[[str], Any], keys: list[str], chunk: int) -> float:
    """Median µs per call over chunks of ``chunk`` calls."""
    per = []
    for i in range(0, len(keys), chunk):
        part = keys[i:i + chunk]
        t0 = time.perf_counter()
        for key in part:
            fn(key)
        per.append((time.perf_counter() - t0) / len(part) * 1e6)
    return statistics.median(per)


def bench_create(levels: tuple[int, ...], window: int, chunk: int
                 ) -> dict[str, dict[str, float]]:
    """µs per create (and per first event) in a window just below each level of live sessions."""
    out: dict[str, dict[str, float]] = {}
    top = max(levels) + window
    keys = [f"rec-{i:07d}" for i in range(top)]
    for cls in VARIANTS:
        e = cls()
        res = out[e.label] = {}
        live = 0
        firsts = {}
        for level in levels:
            start = level - window  # fill (untimed) up to the window
            if isinstance(e, RawTransitions):
                e.fast_fill(True)
            for key in keys[live:start]:
                e.create(key)
            if isinstance(e, RawTransitions):
                e.fast_fill(False)
            half = window // 2
            create_keys = keys[start:start + half]
            first_keys = keys[start + half:level]
            firsts = {k: e.first(k) for k in first_keys}
            gc.collect()
            res[f"create_{level}"] = _timed_chunks(e.create, create_keys, chunk)
            res[f"first_{level}"] = _timed_chunks(
                lambda k, send=e.dispatch_first, evs=firsts: send(evs[k]), first_keys, chunk)
            live = level
        assert len(e.sessions) == live, (e.label, len(e.sessions), live)
        e.close()
        del e, firsts
        gc.collect()
    return out


def bench_memory(n: int) -> dict[str, float]:
    out = {}
    keys = [f"mem-{i:07d}" for i in range(n + 1)]
    for cls in VARIANTS:
        e = cls()
        e.create(keys[0])  # warm: the vendor lookup, first dict
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for key in keys[1:]:
            e.create(key)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert all(s.state == "idle" for s in e.sessions.values())
        out[e.label] = (after - before) / n
        e.close()
        del e
        gc.collect()
    return out


# ---- CloudRoom: a mixer with three outputs, an info update a second each ----------------------
CR_FORMATS = ("mp4", "ts", "flv")
CR_OUTPUT_STATES = ("added", "created", "writing", "closed")


class _CrOutput:
    __slots__ = ("duration", "size", "state")

    def __init__(self) -> None:
        self.state, self.duration, self.size = "added", 0, 0


def _cr_take(out: Any, duration: int, size: int) -> None:
    if duration < out.duration or size < out.size:
        raise ValueError("figures went backwards")
    out.duration, out.size = duration, size


class CrDict:
    label = DictFSM.label

    def setup(self, mixers: list[str]) -> None:
        self.outputs = {m: {f"D:/{m}.{fmt}": _CrOutput() for fmt in CR_FORMATS} for m in mixers}

    def events(self, infos: list[tuple[str, str, int, int]]) -> Any:
        return infos

    def runner(self, infos: Any) -> Callable[[], None]:
        outputs = self.outputs

        def run() -> None:
            for mixer, name, duration, size in infos:
                out = outputs[mixer][name]
                if out.state not in ("added", "created", "writing"):
                    raise LookupError(f"info for {name!r} in state {out.state!r}")
                _cr_take(out, duration, size)
                out.state = "writing"
        return run

    def check(self) -> None:
        assert all(o.state == "writing" for m in self.outputs.values() for o in m.values())

    def close(self) -> None:
        pass


class CrModel:
    def __init__(self) -> None:
        self.duration, self.size = 0, 0

    def take(self, duration: int, size: int) -> None:
        _cr_take(self, duration, size)


class CrTransitions:
    label = RawTransitions.label

    def setup(self, mixers: list[str]) -> None:
        self.machine = transitions.Machine(
            model=None, states=list(CR_OUTPUT_STATES), initial="added",
            auto_transitions=False,
            transitions=[{"trigger": "info", "source": ["added", "created", "writing"],
                          "dest": "writing", "before": "take"}])
        self.outputs: dict[str, dict[str, CrModel]] = {}
        for m in mixers:
            self.outputs[m] = {}
            for fmt in CR_FORMATS:
                model = self.outputs[m][f"D:/{m}.{fmt}"] = CrModel()
                self.machine.add_model(model)

    def events(self, infos: list[tuple[str, str, int, int]]) -> Any:
        return infos

    def runner(self, infos: Any) -> Callable[[], None]:
        outputs = self.outputs

        def run() -> None:
            for mixer, name, duration, size in infos:
                outputs[mixer][name].info(duration, size)
        return run

    def check(self) -> None:
        assert all(o.state == "writing" for m in self.outputs.values()  # type: ignore[attr-defined]
                   for o in m.values())

    def close(self) -> None:
        pass


class CrRecstate:
    label = Recstate.label

    def setup(self, mixers: list[str]) -> None:
        from recstate.events.cloudroom import AddLocMixerOutput, CreateLocMixer

        fd, self.path = tempfile.mkstemp(prefix="recstate-bench-cr-", suffix=".jsonl")
        os.close(fd)
        self.tracer = TraceWriter(self.path)
        self.runtime = Runtime(SystemClock(), tracer=self.tracer)
        signals.transition.connect(_on_transition, sender=self.runtime)
        signals.commands("cloudroom").connect(_on_command, sender=self.runtime)
        cfg = {"width": 640, "height": 360, "frameRate": 15, "bitRate": 500000}
        content = [{"type": 0, "left": 0, "top": 0, "width": 640, "height": 360,
                    "param": {"camid": "user1.1"}}]
        for m in mixers:
            self.runtime.dispatch(CreateLocMixer(t=0.0, mixerID=m, mixerCfg=cfg,
                                                 mixerContent=content))
            self.runtime.dispatch(AddLocMixerOutput(t=0.0, mixerID=m, outputs=[
                {"type": 0, "filename": f"D:/{m}.{fmt}"} for fmt in CR_FORMATS]))

    def events(self, infos: list[tuple[str, str, int, int]]) -> Any:
        from recstate.events.cloudroom import LocMixerOutputInfo, OutputInfo

        return [LocMixerOutputInfo(t=0.0, mixerID=m, nameOrUrl=name, outputInfo=OutputInfo(
            state=1, duration=duration, fileSize=size, errCode=0))
            for m, name, duration, size in infos]

    def runner(self, evs: Any) -> Callable[[], None]:
        dispatch = self.runtime.dispatch

        def run() -> None:
            for ev in evs:
                dispatch(ev)
        return run

    def check(self) -> None:
        for session in self.runtime.sessions.values():
            assert all(o.state == "writing" for o in session.context.outputs.values())

    def close(self) -> None:
        signals.transition.disconnect(_on_transition, sender=self.runtime)
        signals.commands("cloudroom").disconnect(_on_command, sender=self.runtime)
        self.tracer.close()
        os.unlink(self.path)


CR_VARIANTS = (CrDict, CrTransitions, CrRecstate)


def bench_cloudroom(n_mixers: int, seconds: int, repeats: int) -> dict[str, float]:
    """events/s per variant: ``n_mixers`` mixers of three outputs, ``seconds`` info updates
    per output (one a second), round-robin across the mixers and their outputs."""
    mixers = [f"mixer-{i:05d}" for i in range(n_mixers)]
    infos = [(m, f"D:/{m}.{fmt}", k * 1000, k * 62_500)
             for k in range(1, seconds + 1) for m in mixers for fmt in CR_FORMATS]
    times: dict[str, list[float]] = {cls.label: [] for cls in CR_VARIANTS}
    for _ in range(repeats + 1):  # the first round warms up
        for cls in CR_VARIANTS:
            e = cls()
            e.setup(mixers)
            run = e.runner(e.events(infos))
            gc.collect()
            t0 = time.perf_counter()
            run()
            times[cls.label].append(time.perf_counter() - t0)
            e.check()
            e.close()
    out = {label: len(infos) / min(ts[1:]) for label, ts in times.items()}
    out["c_b_paired"] = statistics.median(
        b / c for b, c in zip(times[RawTransitions.label][1:], times[Recstate.label][1:],
                              strict=True))
    return out


# ---- report --------------------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": f"{cpu}, {os.cpu_count()} CPUs (nproc)",
        "python": f"{platform.python_implementation()} {platform.python_version()} "
                  f"({sys.platform})",
        "packages": ", ".join(f"{p} {version(p)}" for p in
                              ("transitions", "blinker", "attrs", "cattrs", "orjson")),
        "commit": _git_head(),
        "load": "load average {:.2f} {:.2f} {:.2f} at start".format(*os.getloadavg()),
    }


def _git_head() -> str:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                              capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "recstate"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return head + (" (recstate/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _fmt(value: float, unit: str) -> str:
    if unit == "ev/s":
        return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"
    if unit == "µs":
        return f"{value:.2f}" if value < 10 else f"{value:.0f}"
    return f"{value:,.0f}"


def _ratio(c: float, ref: float) -> str:
    if ref == 0:
        return "-"
    r = c / ref
    if r < 0.01:
        return f"1/{1 / r:,.0f}×"
    return f"{r:.3f}×" if r < 0.1 else f"{r:,.2f}×"


def rows(disp: dict[str, dict[str, float]], create: dict[str, dict[str, float]],
         mem: dict[str, float], levels: tuple[int, ...], args: argparse.Namespace
         ) -> list[list[str]]:
    a, b, c = (cls.label for cls in VARIANTS)
    table = []

    def add(title: str, unit: str, va: float, vb: float, vc: float) -> None:
        table.append([title, unit, _fmt(va, unit), _fmt(vb, unit), _fmt(vc, unit),
                      _ratio(vb, va), _ratio(vc, va), _ratio(vc, vb)])

    add(f"dispatch, mixed ({args.data} data of {args.data + 4})", "ev/s",
        disp[a]["mixed_eps"], disp[b]["mixed_eps"], disp[c]["mixed_eps"])
    add("dispatch, every event changes state", "ev/s",
        disp[a]["changes_eps"], disp[b]["changes_eps"], disp[c]["changes_eps"])
    for level in levels:
        add(f"create a session at {level // 1000}k live", "µs",
            create[a][f"create_{level}"], create[b][f"create_{level}"],
            create[c][f"create_{level}"])
    for level in levels:
        add(f"create + first event at {level // 1000}k live", "µs",
            create[a][f"first_{level}"], create[b][f"first_{level}"],
            create[c][f"first_{level}"])
    add("memory per live idle session", "bytes", mem[a], mem[b], mem[c])
    cr = getattr(args, "cloudroom_result", None)
    if cr is not None:
        add(f"CloudRoom: {args.mixers} mixers x 3 outputs, an info a second each", "ev/s",
            cr[a], cr[b], cr[c])
    return table


HEAD = ["measure", "unit", "(a) dict FSM", "(b) transitions", "(c) recstate", "b/a", "c/a",
        "c/b"]


def render(table: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEAD) + " |",
                 "|" + "|".join(["---"] + ["---"] + ["---:"] * (len(HEAD) - 2)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in table]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [HEAD, *table]) for i in range(len(HEAD))]
    fmt = lambda r: "  ".join(  # noqa: E731
        r[i].ljust(widths[i]) if i < 2 else r[i].rjust(widths[i]) for i in range(len(r)))
    return "\n".join([fmt(HEAD), fmt(["-" * w for w in widths]), *map(fmt, table)])


def goals(disp: dict[str, dict[str, float]], create: dict[str, dict[str, float]],
          mem: dict[str, float], levels: tuple[int, ...]) -> list[str]:
    _, b, c = (cls.label for cls in VARIANTS)
    lo, hi = min(levels), max(levels)
    mark = lambda ok: "MET" if ok else "NOT MET"  # noqa: E731
    r_mixed = disp[c]["mixed_eps"] / disp[b]["mixed_eps"]
    r_changes = disp[c]["changes_eps"] / disp[b]["changes_eps"]
    growth = create[c][f"create_{hi}"] / create[c][f"create_{lo}"]
    growth_first = create[c][f"first_{hi}"] / create[c][f"first_{lo}"]
    return [
        f"- dispatch >= 1.0x raw transitions (signals on, tracing to a file): "
        f"{mark(r_mixed >= 1.0 and r_changes >= 1.0)} "
        f"(best repeats: mixed {r_mixed:.2f}x, every event changes state {r_changes:.2f}x; "
        f"repeat by repeat: {disp[c]['mixed_c_b_paired']:.2f}x, "
        f"{disp[c]['changes_c_b_paired']:.2f}x)",
        f"- issue 12: mixed >= 2x raw transitions (tracing to a file, signals on): "
        f"{mark(r_mixed >= 2.0 and disp[c]['mixed_c_b_paired'] >= 2.0)} (best repeats "
        f"{r_mixed:.2f}x, repeat by repeat {disp[c]['mixed_c_b_paired']:.2f}x); every event "
        f"changing state >= 1.0x: "
        f"{mark(r_changes >= 1.0 and disp[c]['changes_c_b_paired'] >= 1.0)}",
        f"- a live idle session <= 1 KiB: {mark(mem[c] <= 1024)} ({mem[c]:,.0f} bytes)",
        f"- create at {hi // 1000}k live within 20% of {lo // 1000}k: "
        f"{mark(abs(growth - 1) <= 0.2)} "
        f"(create {growth:.2f}x; create + first event {growth_first:.2f}x)",
    ]


def profile(n_sessions: int, n_data: int) -> None:
    e = Recstate()
    keys = [f"rec-{i:06d}" for i in range(n_sessions)]
    run = e.runner(e.events(round_robin(keys, lifecycle_names(n_data))))
    run()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(3):
        run()
    prof.disable()
    e.close()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(30)
    print(buf.getvalue())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run (counts scaled down)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--profile", action="store_true", help="cProfile (c) on the mixed workload")
    p.add_argument("--sessions", type=int, default=None, help="live sessions for dispatch")
    p.add_argument("--data", type=int, default=16, help="data events per session (mixed)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--mixers", type=int, default=None, help="CloudRoom mixers (3 outputs each)")
    p.add_argument("--no-restore-context", action="store_true",
                   help="Runtime(restore_context=False): no context copy per handling")
    args = p.parse_args(argv)
    global RESTORE_CONTEXT  # the module's setting, read where the Runtime is made
    RESTORE_CONTEXT = not args.no_restore_context
    n_sessions = args.sessions or (300 if args.quick else 1000)
    repeats = args.repeats or (3 if args.quick else 9)
    levels = (1000, 20000) if args.quick else (1000, 100000)
    window, chunk = (400, 50) if args.quick else (1000, 100)
    n_mem = 5000 if args.quick else 20000
    if args.profile:
        profile(n_sessions, args.data)
        return
    info = machine_info()
    t0 = time.perf_counter()
    disp = bench_dispatch(n_sessions, args.data, repeats)
    create = bench_create(levels, window, chunk)
    mem = bench_memory(n_mem)
    args.mixers = args.mixers or (100 if args.quick else 300)
    args.cloudroom_result = bench_cloudroom(args.mixers, 20 if args.quick else 60, repeats)
    elapsed = time.perf_counter() - t0
    table = rows(disp, create, mem, levels, args)
    say = print
    if args.markdown:
        say(f"- date: {info['date']}")
        say(f"- machine: {info['cpu']}; {info['python']}")
        say(f"- packages: {info['packages']}; recstate at {info['commit']}")
        say(f"- {info['load']} ({os.cpu_count()} CPUs; other work on the machine slows "
            "repeats down)")
        say(f"- run: `bench/dispatch.py{' --quick' if args.quick else ''}`, {n_sessions} live "
            f"sessions round-robin, median of {repeats} repeats; create windows of {window} "
            f"below each level, median of chunks of {chunk}; memory over {n_mem:,} idle "
            f"sessions; {elapsed:.0f} s in all")
        say("")
    else:
        for k, v in info.items():
            say(f"{k:9s} {v}")
        say(f"run       {n_sessions} live sessions round-robin, {args.data} data events per "
            f"lifecycle, median of {repeats} repeats; {elapsed:.0f} s")
        say("")
    say(render(table, args.markdown))
    say("")
    b, c = RawTransitions.label, Recstate.label
    a = DictFSM.label
    say("Dispatch, median repeat instead of best: mixed (a) "
        f"{disp[a]['mixed_eps_median'] / 1e6:.2f}M, (b) {disp[b]['mixed_eps_median'] / 1e3:.0f}k, "
        f"(c) {disp[c]['mixed_eps_median'] / 1e3:.0f}k ev/s; every event changes state (a) "
        f"{disp[a]['changes_eps_median'] / 1e6:.2f}M, "
        f"(b) {disp[b]['changes_eps_median'] / 1e3:.0f}k, "
        f"(c) {disp[c]['changes_eps_median'] / 1e3:.0f}k ev/s. (c)/(b) repeat by repeat (median): "
        f"mixed {disp[c]['mixed_c_b_paired']:.2f}×, every event changes state "
        f"{disp[c]['changes_c_b_paired']:.2f}×.")
    cr = args.cloudroom_result
    say(f"CloudRoom workload ({args.mixers} mixers x 3 outputs, an info a second each): "
        f"(c)/(b) best repeats {cr[c] / cr[b]:.2f}×, repeat by repeat (median) "
        f"{cr['c_b_paired']:.2f}× raw transitions.")
    say("")
    say("Goals:")
    for line in goals(disp, create, mem, levels):
        say(line)
    # Real vendor lifecycles (each vendor's machine against raw transitions on its path).
    import lifecycles  # bench/lifecycles.py, beside this script

    say("")
    say("Vendor lifecycles (bench/lifecycles.py: the vendors' own machines):")
    say("")
    for line in lifecycles.report(lifecycles.run(n_sessions, repeats), args.markdown):
        say(line)


if __name__ == "__main__":
    main()

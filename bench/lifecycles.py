"""Real vendor lifecycles: each vendor's own machine through the recstate Runtime, against raw
``transitions`` taking the same path.

    .venv/bin/python bench/lifecycles.py            # Tencent and Juphoon, full counts
    .venv/bin/python bench/lifecycles.py --quick

``bench/dispatch.py`` prints this table after its own. For each vendor, one recording
lifecycle per session, sessions round-robin:

- Tencent (002/004): ``enterRoom``, ``requestMultiVideoRecorderStart`` (command),
  ``:ok`` (a file opens, the watchdog and rollover timers are armed), ``Stop`` (command),
  ``:ok`` with the file ID (the file closes and takes the ID; a ``SearchMedia`` command),
  ``SearchMedia:ok`` (the file becomes ready): 6 events, 3 commands.
- Juphoon (001): ``join`` (command), ``onJoin:ok``, ``onMediaChannelPropertyChange`` Ready,
  ``enableRecord`` true (command), Running (a file opens), ``enableRecord`` false (command),
  Ready (the file closes; a stat is scheduled), ``stat:ok`` (ready), ``leave`` (command),
  ``onLeave``: 10 events, 4 commands.

(b) is one shared ``transitions.Machine(model=None, auto_transitions=False)`` per vendor with
the states and transitions that path takes (guards that read the event where the vendor's
machine has them, a callback counting each command), ``add_model`` per session, dispatch
``getattr(model, name)(event)``.
(c) is the recstate ``Runtime`` with the vendor's real machine,
signals on (a receiver on ``signals.transition`` and on the vendor's command signal) and
tracing to a real file. Each repeat starts from fresh engines (a session goes round once, as
in life) whose sessions are made before the clock starts (``add_model`` scans a list: at 1000
sessions it would dominate); only dispatch is timed. Each repeat runs the four back to back,
and the comparison is the median over repeats of Juphoon's (c)/(b) over Tencent's, so that
the load of the moment weighs on both alike.

The goal: Juphoon keeps Tencent's ratio to raw transitions, within 20%. Read as a guard
against a slower vendor: it is met when Juphoon's ratio is at least 0.8 of Tencent's; a
quotient above 1.2 (Juphoon's machine costing relatively less than Tencent's, whose path
traces more per event) is reported as such, not as a failure.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import transitions

from recstate import signals
from recstate.clock import SystemClock
from recstate.events import Event
from recstate.events.juphoon import (
    EnableRecord,
    Join,
    JoinOk,
    JoinParam,
    Leave,
    LeftChannel,
    PropertyChange,
    StatOk,
    build_qiniu_record_param,
)
from recstate.events.tencent import (
    EnterRoom,
    RecordParam,
    RoomInfo,
    SearchMediaOk,
    StartOk,
    StartRecording,
    StopOk,
    StopRecording,
    VodFile,
)
from recstate.runtime import Runtime
from recstate.trace import TraceWriter

Spec = tuple[str, str | tuple[str, ...], str | None, bool, Callable[[Any], bool] | None]


# ---- the lifecycles ------------------------------------------------------------------------
def tencent_events(i: int) -> list[Event]:
    key = f"9:{i}:u{i}"
    room = RoomInfo(relationId=9, roomId=i)
    return [
        EnterRoom(t=0.0, session=key, relationId=9, roomId=i, user=f"u{i}"),
        StartRecording(t=0.0, session=key, roomInfo=room, param=RecordParam(fileName=f"r{i}")),
        StartOk(t=0.0, session=key),
        StopRecording(t=0.0, session=key, roomInfo=room),
        StopOk(t=0.0, session=key, fileIds=(f"52858{i:08d}",)),
        SearchMediaOk(t=0.0, session=key, files=(VodFile(fileId=f"52858{i:08d}",
                                                         name=f"r{i}_1", url=f"https://v/{i}",
                                                         size=1),)),
    ]


#: (trigger, sources, dest, sends a command, guard on the event)
TENCENT_PATH: list[Spec] = [
    ("enterRoom", ("idle", "stopped"), None, False, None),
    ("requestMultiVideoRecorderStart", ("idle", "stopped"), "starting", True, None),
    ("requestMultiVideoRecorderStart:ok", "starting", "recording", False, None),
    ("requestMultiVideoRecorderStop", "recording", "stopping", True, None),
    ("requestMultiVideoRecorderStop:ok", "stopping", "stopped", True, None),
    ("SearchMedia:ok", "stopped", None, False, None),
]

_PARAM = build_qiniu_record_param(True, "bench-bucket", "bench-sk", "bench-ak", "rec.mp4")


def juphoon_events(i: int) -> list[Event]:
    key = f"ch-{i}"
    return [
        Join(t=0.0, session=key, channelId=key, joinParam=JoinParam(record=_PARAM)),
        JoinOk(t=0.0, session=key),
        PropertyChange(t=0.0, session=key, recordState="Ready"),
        EnableRecord(t=0.0, session=key, enable=True),
        PropertyChange(t=0.0, session=key, recordState="Running"),
        EnableRecord(t=0.0, session=key, enable=False),
        PropertyChange(t=0.0, session=key, recordState="Ready"),
        StatOk(t=0.0, session=key, fileId="rec.mp4", key="rec.mp4", fsize=1, hash="Fh",
               url="https://d/rec.mp4"),
        Leave(t=0.0, session=key),
        LeftChannel(t=0.0, session=key),
    ]


def _state_is(value: str) -> Callable[[Any], bool]:
    return lambda ev: bool(ev.recordState == value)


PROP = "onMediaChannelPropertyChange"
JUPHOON_PATH: list[Spec] = [
    ("join", ("idle", "left"), "joining", True, None),
    ("onJoin:ok", "joining", "joined", False, None),
    (PROP, ("enabling", "joined"), "recording", False, _state_is("Running")),
    (PROP, ("recording", "disabling"), "stopped", False, _state_is("Ready")),
    (PROP, ("joined", "enabling", "stopped"), None, False, None),
    ("enableRecord", ("joined", "stopped"), "enabling", True, lambda ev: bool(ev.enable)),
    ("enableRecord", "recording", "disabling", True, lambda ev: not ev.enable),
    ("stat:ok", "*", None, False, None),
    ("leave", ("joined", "stopped"), "leaving", True, None),
    ("onLeave", "leaving", "left", False, None),
]

VENDORS: dict[str, tuple[Callable[[int], list[Event]], list[Spec], tuple[str, ...]]] = {
    "tencent": (tencent_events, TENCENT_PATH,
                ("idle", "starting", "recording", "stopping", "stopped")),
    "juphoon": (juphoon_events, JUPHOON_PATH,
                ("idle", "joining", "joined", "enabling", "recording", "disabling",
                 "stopped", "leaving", "left")),
}


# ---- (b) raw transitions -------------------------------------------------------------------
_sent = [0]


class RawModel:
    def __init__(self, key: str) -> None:
        self.key = key

    def send_command(self, ev: Any) -> None:
        _sent[0] += 1


class Raw:
    label = "(b) transitions"

    def __init__(self, vendor: str) -> None:
        _, path, states = VENDORS[vendor]
        specs = []
        for n, (trigger, sources, dest, sends, guard) in enumerate(path):
            spec: dict[str, Any] = {"trigger": trigger, "source": sources, "dest": dest}
            if sends:
                spec["after"] = "send_command"
            if guard is not None:
                name = f"guard_{n}"
                setattr(RawModel, name, staticmethod(guard))
                spec["conditions"] = name
            specs.append(spec)
        self.machine = transitions.Machine(model=None, states=list(states), transitions=specs,
                                           initial="idle", auto_transitions=False)
        self.sessions: dict[str, RawModel] = {}

    def create(self, ev: Event) -> None:
        key = ev.session or ""
        model = self.sessions[key] = RawModel(key)
        self.machine.add_model(model)

    def dispatch(self, ev: Event) -> None:
        key = ev.session or ""
        model = self.sessions.get(key)
        if model is None:
            model = self.sessions[key] = RawModel(key)
            self.machine.add_model(model)
        getattr(model, ev.name)(ev)

    def close(self) -> None:
        pass


# ---- (c) the recstate Runtime ---------------------------------------------------------------
_heard = [0]


def _count(sender: Any, **kw: Any) -> None:
    _heard[0] += 1


class Recstate:
    label = "(c) recstate"

    def __init__(self, vendor: str) -> None:
        fd, self.path = tempfile.mkstemp(prefix=f"recstate-bench-{vendor}-", suffix=".jsonl")
        os.close(fd)
        self.vendor = vendor
        self.tracer = TraceWriter(self.path)
        self.runtime = Runtime(SystemClock(), tracer=self.tracer)
        signals.transition.connect(_count, sender=self.runtime)
        signals.commands(vendor).connect(_count, sender=self.runtime)
        self.sessions = self.runtime.sessions
        self.dispatch = self.runtime.dispatch

    def create(self, ev: Event) -> None:
        self.runtime._create(ev.session or "", self.vendor, ev)

    def close(self) -> None:
        signals.transition.disconnect(_count, sender=self.runtime)
        signals.commands(self.vendor).disconnect(_count, sender=self.runtime)
        self.tracer.close()
        os.unlink(self.path)


def _events(vendor: str, n_sessions: int) -> list[Event]:
    make, _, _ = VENDORS[vendor]
    per_session = [make(i) for i in range(n_sessions)]
    return [ev for step in zip(*per_session, strict=True) for ev in step]  # round-robin


def _once(cls: type[Raw] | type[Recstate], vendor: str, events: list[Event],
          n_sessions: int) -> tuple[float, set[str]]:
    engine = cls(vendor)
    for first in events[:n_sessions]:  # sessions are made untimed: dispatch is timed
        engine.create(first)
    dispatch = engine.dispatch
    gc.collect()
    t0 = time.perf_counter()
    for ev in events:
        dispatch(ev)
    elapsed = time.perf_counter() - t0
    states = {s.state for s in engine.sessions.values()}
    engine.close()
    return elapsed, states


END_STATE = {"tencent": "stopped", "juphoon": "left"}


def run(n_sessions: int, repeats: int) -> dict[str, dict[str, Any]]:
    """Each repeat runs every vendor's (b) and (c) back to back, so that the load of the
    moment weighs on all four alike; the best repeat gives the rates, and the median of the
    repeat-by-repeat ratios the comparison."""
    events = {vendor: _events(vendor, n_sessions) for vendor in VENDORS}
    times: dict[tuple[str, str], list[float]] = {}
    for n in range(repeats + 1):  # the first is a warm-up
        for vendor in VENDORS:
            for cls in (Raw, Recstate):
                elapsed, states = _once(cls, vendor, events[vendor], n_sessions)
                assert states == {END_STATE[vendor]}, (vendor, cls.label, states)
                if n:
                    times.setdefault((vendor, cls.label), []).append(elapsed)
    out: dict[str, dict[str, float]] = {}
    for vendor in VENDORS:
        tb, tc = times[(vendor, Raw.label)], times[(vendor, Recstate.label)]
        count = len(events[vendor])
        out[vendor] = {"events": count / n_sessions, "b_eps": count / min(tb),
                       "c_eps": count / min(tc), "ratio": min(tb) / min(tc),
                       "per_repeat": [b / c for b, c in zip(tb, tc, strict=True)],
                       "paired": statistics.median(b / c for b, c in zip(tb, tc, strict=True))}
    return out


def report(results: dict[str, dict[str, Any]], markdown: bool = False) -> list[str]:
    head = ["lifecycle", "events/session", "(b) transitions", "(c) recstate", "c/b",
            "c/b repeat by repeat"]
    rows = [[vendor, f"{r['events']:.0f}", f"{r['b_eps'] / 1e3:.0f}k ev/s",
             f"{r['c_eps'] / 1e3:.0f}k ev/s", f"{r['ratio']:.2f}×", f"{r['paired']:.2f}×"]
            for vendor, r in results.items()]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True))
                 for x in [head, *rows]]
    t, j = results["tencent"], results["juphoon"]
    rel = statistics.median(a / b for a, b in zip(j["per_repeat"], t["per_repeat"],
                                                  strict=True))
    mark = "MET" if rel >= 0.8 else "NOT MET"
    if rel > 1.2:
        mark += " (Juphoon above Tencent by more than 20%)"
    lines.append("")
    lines.append(f"- Juphoon's ratio to raw transitions not more than 20% below Tencent's: {mark} "
                 f"(median of the repeat-by-repeat quotients: {rel:.2f}; best repeats: "
                 f"Juphoon {j['ratio']:.2f}×, Tencent {t['ratio']:.2f}×, "
                 f"{j['ratio'] / t['ratio']:.2f})")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--sessions", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args(argv)
    n = args.sessions or (300 if args.quick else 500)
    repeats = args.repeats or (3 if args.quick else 11)
    for line in report(run(n, repeats), args.markdown):
        print(line)


if __name__ == "__main__":
    main()

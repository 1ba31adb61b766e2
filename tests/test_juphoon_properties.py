"""Invariants of the Juphoon channel machine over generated event sequences (hypothesis):

- the command ``enableRecord(true)`` goes out only when the vendor last reported Ready, and
  ``enableRecord(false)`` only when it last reported Running;
- a channel's files never overlap in time, and at most one is open;
- every Running span (from the transition into ``recording`` to the one out of the span's
  states) has exactly one file, starting and ending with it;
- the canonical recording state is ``recording`` exactly while a file is open.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from recstate import ManualClock, Runtime
from recstate.events import Event
from recstate.events.juphoon import (
    EnableRecord,
    Join,
    JoinError,
    JoinOk,
    JoinParam,
    Leave,
    LeftChannel,
    PropertyChange,
    StatError,
    StatOk,
    build_qiniu_record_param,
)
from recstate.trace import Record

T0 = 1_700_000_000.0
CHANNELS = ("ch-a", "ch-b")
NAMES = ("x.mp4", "y.mp4", "z")

actions = st.one_of(
    st.tuples(st.just("join"), st.sampled_from((None, "x.mp4", "z"))),
    st.tuples(st.just("join_ok"), st.none()),
    st.tuples(st.just("join_error"), st.integers(1, 5000)),
    st.tuples(st.just("leave"), st.none()),
    st.tuples(st.just("on_leave"), st.none()),
    st.tuples(st.just("enable"), st.sampled_from((None, *NAMES))),
    st.tuples(st.just("disable"), st.none()),
    st.tuples(st.just("state"), st.sampled_from(("None", "Ready", "Running", "Ready",
                                                "Running", None))),
    st.tuples(st.just("stat_ok"), st.sampled_from(NAMES)),
    st.tuples(st.just("stat_612"), st.sampled_from(NAMES)),
)
#: Where a random walk rarely gets by itself: both channels joined with parameters and Ready.
SCENE: list[tuple[str, float, tuple[str, Any]]] = [
    (c, 0.0, step) for c in CHANNELS
    for step in (("join", "x.mp4"), ("join_ok", None), ("state", "Ready"))]
#: The app's part weighs more than the rest, so that enables and disables are often taken.
app = st.one_of(st.tuples(st.just("enable_run"), st.sampled_from((None, *NAMES))),
                st.tuples(st.just("disable_ready"), st.none()),
                st.tuples(st.just("enable"), st.sampled_from((None, *NAMES))),
                st.tuples(st.just("disable"), st.none()),
                st.tuples(st.just("state"), st.sampled_from(("Ready", "Running"))))
steps = st.lists(st.tuples(st.sampled_from(CHANNELS),
                           st.sampled_from((0.0, 0.2, 1.0, 5.0, 29.0, 31.0, 120.0)),
                           st.one_of(app, actions)),
                 max_size=50).map(lambda walk: SCENE + walk)


def make_all(channel: str, t: float, action: str, arg: Any) -> list[Event]:
    """One step's events: ``enable_run`` is the app's enable and the vendor's Running,
    ``disable_ready`` the app's disable and the vendor's Ready."""
    if action == "enable_run":
        return [make(channel, t, "enable", arg), make(channel, t + 0.1, "state", "Running")]
    if action == "disable_ready":
        return [make(channel, t, "disable", None), make(channel, t + 0.1, "state", "Ready")]
    return [make(channel, t, action, arg)]


def make(channel: str, t: float, action: str, arg: Any) -> Event:
    def param(name: str, video: bool = True) -> Any:
        return build_qiniu_record_param(video, "bkt", "sk", "ak", name)
    if action == "join":
        record = None if arg is None else param(arg, video=arg != "z")
        return Join(t=t, channelId=channel, joinParam=JoinParam(record=record))
    if action == "join_ok":
        return JoinOk(t=t, channelId=channel)
    if action == "join_error":
        return JoinError(t=t, channelId=channel, code=arg)
    if action == "leave":
        return Leave(t=t, channelId=channel)
    if action == "on_leave":
        return LeftChannel(t=t, channelId=channel)
    if action == "enable":
        return EnableRecord(t=t, channelId=channel, enable=True,
                            recordParam=None if arg is None else param(arg))
    if action == "disable":
        return EnableRecord(t=t, channelId=channel, enable=False)
    if action == "state":
        return PropertyChange(t=t, session=channel, recordState=arg)
    if action == "stat_ok":
        return StatOk(t=t, session=channel, fileId=arg, key=arg, fsize=10, hash="Fh")
    return StatError(t=t, session=channel, fileId=arg, key=arg, code=612)


def check_open_and_canonical(rt: Runtime) -> None:
    for session in rt.sessions.values():
        open_files = [f for f in session.files if f.status == "open"]
        assert len(open_files) <= 1
        assert (session.recording == "recording") == bool(open_files), (
            session.state, session.recording, [f.to_dict() for f in session.files])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(steps)
def test_invariants_hold_for_any_sequence(seq: list[tuple[str, float, tuple[str, Any]]]
                                          ) -> None:
    records: list[Record] = []
    rt = Runtime(ManualClock(T0), tracer=records.append)
    t = T0
    for channel, dt, (action, arg) in seq:
        t += dt
        for ev in make_all(channel, t, action, arg):
            t = ev.t
            rt.advance(t)
            check_open_and_canonical(rt)
            rt.dispatch(ev)
            check_open_and_canonical(rt)
    rt.advance(t + 1000)  # every deadline and stat falls due
    check_open_and_canonical(rt)

    # enableRecord(true) only after Ready was last reported, (false) only after Running.
    reported: dict[str, str] = {}
    for r in records:
        data = r.data or {}
        if r.kind == "event" and r.name == "onMediaChannelPropertyChange":
            if data.get("recordState") is not None:
                reported[r.session or ""] = data["recordState"]
        elif ((r.kind == "command" and r.name == "join")  # a join the machine took
              or (r.kind == "transition" and data.get("dst") == "left")):
            reported[r.session or ""] = "None"
        elif r.kind == "command" and r.name == "enableRecord":
            want = "Ready" if data["enable"] else "Running"
            assert reported.get(r.session or "", "None") == want, (r, reported)
            event(f"enableRecord({data['enable']}) sent")

    for key, session in rt.sessions.items():
        files = session.files
        # never overlapping, in order
        for a, b in pairwise(files):
            assert a.end is not None
            assert b.start is not None
            assert a.end <= b.start
        # spans: from the transition into recording (from outside the span's states) to the
        # transition out of them
        spans: list[list[float | None]] = []
        for r in records:
            if r.kind != "transition" or r.session != key or r.data is None:
                continue
            inside = ("recording", "disabling")
            if r.data["dst"] in inside and r.data["src"] not in inside:
                spans.append([r.t, None])
            elif r.data["src"] in inside and r.data["dst"] not in inside:
                spans[-1][1] = r.t
        assert len(spans) == len(files)
        for (start, end), f in zip(spans, files, strict=True):
            assert (f.start, f.end) == (start, end)
            assert (f.status == "open") == (end is None)

"""Invariants of the Tencent recorder over generated event sequences (hypothesis).

- at most one recording per user: a new recording starts only once the last one ended;
- the files of a recording are contiguous, never overlap, none longer than 90 minutes;
- every recording that started ends stopped or failed once time passes 60 s after its last
  data (and the answer deadlines);
- every start is checked against the refusal rules, written here from 002/004 (busy here or
  elsewhere, not in the room, a pair room, no file name, a bad source): a start a rule refuses
  sends nothing, leaves the state and notices that rule's code; any other sends the start.

All run derandomized, so a failure reproduces.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recstate import ManualClock, Runtime, signals
from recstate.events import Event
from recstate.events.tencent import (
    EnterRoom,
    ExitRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    StartError,
    StartOk,
    StartRecording,
    StopError,
    StopOk,
    StopRecording,
)
from recstate.machines.tencent import TencentOptions
from recstate.session import Session

T0 = 1_700_000_000.0
ROOM = RoomInfo(relationId=9, roomId=3)
ROOMS = (3, 4)
USERS = ("ann", "ben")
FILE_SECONDS = TencentOptions().file_seconds
BUSY = {"starting", "retry_wait", "recording", "stopping"}
CODES = (30000208, 30000401, 30000404, 30000002, 30000403, 30000412, 30000410, 1)


def key(user: str, room: int = ROOM.roomId) -> str:
    return f"{ROOM.relationId}:{room}:{user}"


actions = st.one_of(
    st.tuples(st.just("enter"), st.sampled_from(("multi", "multi", "pair"))),
    st.tuples(st.just("exit"), st.none()),
    st.tuples(st.just("start"), st.sampled_from(("ok", "ok", "ok", "", "bad-type"))),
    st.tuples(st.just("start_ok"), st.none()),
    st.tuples(st.just("start_error"), st.sampled_from(CODES)),
    st.tuples(st.just("stop"), st.none()),
    st.tuples(st.just("stop_ok"), st.integers(0, 4)),
    st.tuples(st.just("stop_error"), st.sampled_from(CODES)),
    st.tuples(st.just("data"), st.none()),
)
#: A scene a random walk rarely reaches by itself: ann recording in room 3, and in room 4 too.
SCENE: list[tuple[tuple[str, int], float, tuple[str, Any]]] = [
    (("ann", 3), 0.0, ("enter", "multi")), (("ann", 3), 0.0, ("start", "ok")),
    (("ann", 3), 0.5, ("start_ok", None)), (("ann", 4), 0.5, ("enter", "multi")),
]
steps = st.lists(
    st.tuples(st.tuples(st.sampled_from(USERS), st.sampled_from(ROOMS)),
              st.sampled_from((0.0, 0.5, 1.0, 2.0, 10.0, 30.0, 59.0, 61.0, 1800.0, 5400.0)),
              actions),
    max_size=60)


def make_event(who: tuple[str, int], t: float, action: str, arg: Any) -> Event:
    user, room_id = who
    s = key(user, room_id)
    room = RoomInfo(relationId=9, roomId=room_id)
    if action == "enter":
        return EnterRoom(t=t, session=s, relationId=9, roomId=room_id, user=user,
                         roomType=arg)
    if action == "exit":
        return ExitRoom(t=t, session=s)
    if action == "start":
        param = RecordParam(fileName="" if arg == "" else f"rec-{user}",
                            recordDataType=7 if arg == "bad-type" else 0)
        return StartRecording(t=t, session=s, roomInfo=room, param=param)
    if action == "start_ok":
        return StartOk(t=t, session=s)
    if action == "start_error":
        return StartError(t=t, session=s, code=arg)
    if action == "stop":
        return StopRecording(t=t, session=s, roomInfo=room)
    if action == "stop_ok":
        return StopOk(t=t, session=s, fileIds=tuple(f"id{i}" for i in range(arg)))
    if action == "stop_error":
        return StopError(t=t, session=s, code=arg)
    return MediaData(t=t, session=s)


@attrs.define
class Observer:
    """What the runtime told, in order, through its signals."""

    log: list[tuple[str, str, Any]] = attrs.field(factory=list)
    commands: list[Any] = attrs.field(factory=list)
    notices: list[Any] = attrs.field(factory=list)

    def connect(self, runtime: Runtime) -> None:
        signals.transition.connect(self.on_transition, sender=runtime, weak=False)
        signals.commands("tencent").connect(self.on_command, sender=runtime, weak=False)
        signals.error.connect(self.on_error, sender=runtime, weak=False)

    def on_transition(self, sender: Any, *, session: Session, src: str, dst: str,
                      **_: Any) -> None:
        self.log.append(("transition", session.key, (src, dst)))

    def on_command(self, sender: Any, *, session: Session, command: Any, **_: Any) -> None:
        self.commands.append(command)
        self.log.append(("command", session.key, command.name))

    def on_error(self, sender: Any, *, session: Session | None, code: Any, **_: Any) -> None:
        self.notices.append(code)


def drive(script: list[tuple[tuple[str, int], float, tuple[str, Any]]]
          ) -> tuple[Runtime, Observer, float]:
    clock = ManualClock(T0)
    runtime = Runtime(clock)  # lenient: events out of place are violations, recorded
    observer = Observer()
    observer.connect(runtime)
    rooms: dict[tuple[str, int], str | None] = {}  # (user, room) -> roomType while in it
    t = T0
    for who, gap, (action, arg) in script:
        t += gap
        runtime.advance(t)
        sent, noticed = len(observer.commands), len(observer.notices)
        refusal = expected_refusal(runtime, rooms, who, arg) if action == "start" else None
        before = state_of(runtime, who)
        runtime.dispatch(make_event(who, t, action, arg))
        if action == "enter":
            rooms[who] = arg
        elif action == "exit":
            rooms[who] = None
        elif action == "start":
            new_commands = [c.name for c in observer.commands[sent:]]
            if refusal is not None:
                assert new_commands == [], f"a start refused {refusal!r} sent {new_commands}"
                assert observer.notices[noticed:] == [refusal]
                assert state_of(runtime, who) == before
            else:
                assert new_commands == ["requestMultiVideoRecorderStart"]
                assert state_of(runtime, who) == "starting"
    return runtime, observer, t


def state_of(runtime: Runtime, who: tuple[str, int]) -> str:
    session = runtime.sessions.get(key(*who))
    return "idle" if session is None else session.state


def expected_refusal(runtime: Runtime, rooms: dict[tuple[str, int], str | None],
                     who: tuple[str, int], arg: str) -> Any:
    """What a start is refused with, from the documents, or None: a user already recording
    (or starting, or stopping) here or in another room (002 §2: one recording per user at a
    time, 004 §5 30000415); not in the room (002 §2.4: 未进入房间); a two-person room (004 §4);
    no file name (30000002); a video source other than 0 or 1 (30000004)."""
    user, _ = who
    if state_of(runtime, who) in BUSY:
        return 30000415
    room_type = rooms.get(who)
    if room_type is None:
        return "not-in-room"
    if room_type == "pair":
        return "pair-room"
    if arg == "":
        return 30000002
    if arg == "bad-type":
        return 30000004
    if any(state_of(runtime, (user, room)) in BUSY for room in ROOMS):
        return 30000415
    return None


def check_one_recording_at_a_time(observer: Observer) -> None:
    """Per user, across rooms: a new recording starts only once the last one ended."""
    active: dict[str, str | None] = {}
    previous: dict[str, tuple[str, str] | None] = {}
    for kind, session, what in observer.log:
        if kind == "transition":
            src, dst = what
            user = session.rsplit(":", 1)[1]
            if dst == "starting" and src in ("idle", "stopped", "failed"):
                assert active.get(user) is None, (
                    f"{session}: {user} started a second recording while {active[user]} ran")
                active[user] = session
            if dst in ("stopped", "failed") and active.get(user) == session:
                active[user] = None
            previous[session] = what
        elif what == "requestMultiVideoRecorderStart":
            last = previous.get(session)
            assert last is not None
            assert last[1] == "starting", "a start command outside a transition to starting"
            previous[session] = None  # each start command follows its own transition


def check_files(runtime: Runtime, observer: Observer) -> None:
    for session in runtime:
        # A file with no start is one the server reported after the start's answer was
        # lost (a stop sent to find out): its start is unknown, and it is the only one.
        unknown = [f for f in session.files if f.start is None]
        assert all(f.status == "closed" and f.end is not None for f in unknown)
        files = [f for f in session.files if f.status != "lost" and f.start is not None]
        for f in files:
            assert f.start is not None
            if f.end is not None:
                assert f.start <= f.end
                assert f.end - f.start <= FILE_SECONDS + 1e-6, "a file longer than 90 min"
        for before, after in pairwise(files):
            assert before.end is not None, "only the last file may be open"
            assert after.start is not None
            assert after.start >= before.end, "files overlap"


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), steps)
def test_recorder_invariants_hold_for_any_sequence(
        scene: bool, script: list[tuple[tuple[str, int], float, tuple[str, Any]]]) -> None:
    runtime, observer, t_end = drive((SCENE if scene else []) + script)
    check_one_recording_at_a_time(observer)
    check_files(runtime, observer)
    options = TencentOptions()
    quiet = (options.no_data_timeout + options.answer_timeout + sum(options.retry_delays)
             + options.answer_timeout * (len(options.retry_delays) + 1) + 1)
    runtime.advance(t_end + quiet)
    for session in runtime:
        assert session.state not in BUSY, (
            f"{session.key} still {session.state} long after its last data")
        assert all(f.status != "open" for f in session.files), "a file left open"
    check_files(runtime, observer)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 5 * int(FILE_SECONDS)), st.sampled_from((10.0, 30.0, 59.0)),
       st.floats(0.0, 59.0))
def test_long_recordings_roll_over_every_90_minutes_and_stay_contiguous(
        duration: int, step: float, tail: float) -> None:
    clock = ManualClock(T0)
    runtime = Runtime(clock, strict=True)
    s = key("ann")
    runtime.dispatch(EnterRoom(t=T0, session=s, relationId=9, roomId=3, user="ann"))
    runtime.dispatch(StartRecording(t=T0, session=s, roomInfo=ROOM,
                                    param=RecordParam(fileName="long")))
    runtime.dispatch(StartOk(t=T0, session=s))
    t = T0
    while t + step <= T0 + duration:
        t += step
        runtime.advance(t)
        runtime.dispatch(MediaData(t=t, session=s))
    last = t
    runtime.advance(last + tail)
    runtime.dispatch(StopRecording(t=last + tail, session=s, roomInfo=ROOM))
    expected = max(1, -(-(last + tail - T0) // FILE_SECONDS))
    ids = tuple(f"id{i}" for i in range(int(expected)))
    runtime.advance(last + tail + 1)
    runtime.dispatch(StopOk(t=last + tail + 1, session=s, fileIds=ids))
    session = runtime.sessions[s]
    assert session.state == "stopped"
    files = [f for f in session.files if f.status != "lost"]
    lost = [f for f in session.files if f.status == "lost"]
    assert all(f.start == f.end == last + tail for f in lost), "only an empty last file is lost"
    assert [f.id for f in files] == list(ids), "strict: the file count matched the IDs"
    assert files[0].start == T0
    assert files[-1].end == last + tail
    for before, after in pairwise(files):
        assert before.end == after.start
        assert before.end is not None
        assert before.start is not None
        assert before.end - before.start == FILE_SECONDS


BUSY_PREFIXES: dict[str, list[tuple[str, Any]]] = {
    "starting": [("enter", "multi"), ("start", "ok")],
    "retry_wait": [("enter", "multi"), ("start", "ok"), ("start_error", 30000208)],
    "recording": [("enter", "multi"), ("start", "ok"), ("start_ok", None)],
    "stopping": [("enter", "multi"), ("start", "ok"), ("start_ok", None), ("stop", None)],
}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(BUSY_PREFIXES)), st.floats(0.0, 0.9), st.sampled_from(USERS))
def test_a_user_busy_in_one_room_is_refused_in_the_other_without_a_command(
        busy: str, gap: float, user: str) -> None:
    script = [((user, 3), 0.0, step) for step in BUSY_PREFIXES[busy]]
    script += [((user, 4), gap, ("enter", "multi")), ((user, 4), 0.0, ("start", "ok"))]
    runtime, observer, _ = drive(script)
    assert runtime.sessions[key(user, 3)].state == busy
    assert runtime.sessions[key(user, 4)].state == "idle"
    assert 30000415 in observer.notices
    assert [c for c in observer.log if c[0] == "command" and c[1] == key(user, 4)] == []
    check_one_recording_at_a_time(observer)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.sampled_from((1, 2)), st.floats(-90.0, 90.0, allow_nan=False))
def test_a_crash_near_a_90_minute_boundary_keeps_nothing_after_the_last_data(
        boundary: int, offset: float) -> None:
    """Issue 7 (7), over the crash instant: the client's data stops ``offset`` seconds from
    the ``boundary``-th 90-minute rollover. 002 §6: the server closes the recording 60 s
    after the last data, with what was recorded up to it, a file per 90 minutes; so the
    files end at the last data, none covers time after it, and VOD's files (looked up by
    the file name, 002 §4 (3)) are exactly the session's kept files."""
    from recstate.adapters.tencent import TencentSimulator

    rt = Runtime(ManualClock(T0), strict=True)
    sim = TencentSimulator(rt, delay=0.2, data_interval=10.0)
    s = key("ann")
    rt.dispatch(EnterRoom(t=T0, session=s, relationId=9, roomId=3, user="ann"))
    rt.dispatch(StartRecording(t=T0, session=s, roomInfo=ROOM,
                               param=RecordParam(fileName="near-boundary")))
    began = T0 + 0.2  # start:ok, after the simulator's 0.2 s
    crash = began + boundary * FILE_SECONDS + offset
    sim.crash(s, at=crash)
    rt.advance(crash + 200)
    sim.disconnect()
    # Independently of the code: data every 10 s from the start; the last before the crash.
    ticks = int((crash - began) // 10.0)
    last = began + 10.0 * (ticks - 1 if began + 10.0 * ticks >= crash else ticks)
    cuts = [began + j * FILE_SECONDS for j in range(1, 4) if began + j * FILE_SECONDS < last]
    expected = list(pairwise([began, *cuts, last]))
    session = rt.sessions[s]
    assert session.state == "stopped"
    kept = [f for f in session.files if f.status != "lost"]
    assert [(f.start, f.end) for f in kept] == [
        (pytest.approx(a, abs=1e-6), pytest.approx(b, abs=1e-6)) for a, b in expected]
    assert all(f.end is not None and f.end <= last + 1e-6 for f in kept)
    assert all(f.start == f.end for f in session.files if f.status == "lost")
    assert [f.status for f in kept] == ["ready"] * len(expected)
    assert [f.id for f in kept] == [v.fileId for v in sim.vod_files]

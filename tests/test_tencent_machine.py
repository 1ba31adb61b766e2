"""Tencent recorder rules that span rooms or recover from a lost answer (002, 004)."""

from __future__ import annotations

from typing import Any

import pytest

from recstate import ManualClock, Runtime, signals
from recstate.events.tencent import (
    EnterRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    StartOk,
    StartRecording,
    StopError,
    StopOk,
    StopRecording,
)

T0 = 1_700_000_000.0


def key(room: int, user: str = "alice") -> str:
    return f"9:{room}:{user}"


@pytest.fixture
def rt() -> Runtime:
    return Runtime(ManualClock(T0), strict=True)


@pytest.fixture
def commands(rt: Runtime) -> list[tuple[str, str]]:
    sent: list[tuple[str, str]] = []

    def record(sender: Any, *, session: Any, command: Any, **_: Any) -> None:
        sent.append((session.key, command.name))

    signals.commands("tencent").connect(record, sender=rt, weak=False)
    return sent


@pytest.fixture
def notices(rt: Runtime) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def record(sender: Any, *, session: Any, code: Any, **_: Any) -> None:
        seen.append((session.key, code))

    signals.error.connect(record, sender=rt, weak=False)
    return seen


def enter_and_start(rt: Runtime, t: float, room: int, user: str = "alice") -> None:
    rt.advance(t)
    rt.dispatch(EnterRoom(t=t, session=key(room, user), relationId=9, roomId=room, user=user))
    rt.dispatch(StartRecording(t=t, session=key(room, user), roomInfo=RoomInfo(9, room),
                               param=RecordParam(fileName=f"r{room}{user}")))


def test_a_user_recording_in_one_room_is_refused_locally_in_another(
        rt: Runtime, commands: list[tuple[str, str]], notices: list[tuple[str, Any]]) -> None:
    enter_and_start(rt, T0, room=1)
    rt.dispatch(StartOk(t=T0, session=key(1)))
    enter_and_start(rt, T0 + 5, room=2)
    assert rt.sessions[key(2)].state == "idle"
    assert (key(2), 30000415) in notices
    assert [c for c in commands if c[0] == key(2)] == [], "no command for a refused intent"
    enter_and_start(rt, T0 + 6, room=2, user="bob")  # another user may
    assert rt.sessions[key(2, "bob")].state == "starting"


def test_once_the_first_recording_stopped_the_user_may_record_in_another_room(
        rt: Runtime, commands: list[tuple[str, str]]) -> None:
    enter_and_start(rt, T0, room=1)
    rt.dispatch(StartOk(t=T0, session=key(1)))
    rt.dispatch(StopRecording(t=T0, session=key(1), roomInfo=RoomInfo(9, 1)))
    rt.dispatch(StopOk(t=T0, session=key(1), fileIds=("f1",)))
    enter_and_start(rt, T0 + 5, room=2)
    assert rt.sessions[key(2)].state == "starting"
    assert (key(2), "requestMultiVideoRecorderStart") in commands


def test_the_busy_user_index_survives_a_snapshot_and_restore(
        rt: Runtime, notices: list[tuple[str, Any]]) -> None:
    import orjson

    enter_and_start(rt, T0, room=1)
    rt.dispatch(StartOk(t=T0, session=key(1)))
    saved = orjson.loads(orjson.dumps(rt.snapshot(key(1))))
    fresh = Runtime(ManualClock(T0 + 1), strict=True)
    seen: list[Any] = []
    signals.error.connect(lambda s, **kw: seen.append(kw["code"]), sender=fresh, weak=False)
    fresh.restore(saved)
    enter_and_start(fresh, T0 + 2, room=2)
    assert fresh.sessions[key(2)].state == "idle"
    assert seen == [30000415]


def test_a_lost_start_answer_keeps_the_files_the_server_recorded(
        rt: Runtime, commands: list[tuple[str, str]], notices: list[tuple[str, Any]]) -> None:
    enter_and_start(rt, T0, room=1)
    rt.advance(T0 + 31)  # the 30 s answer deadline: a stop is sent to find out
    assert rt.sessions[key(1)].state == "stopping"
    assert commands[-1] == (key(1), "requestMultiVideoRecorderStop")
    rt.dispatch(StopOk(t=T0 + 31, session=key(1), fileIds=("vod-1",)))
    session = rt.sessions[key(1)]
    assert session.state == "stopped"
    [f] = session.files
    assert (f.id, f.status, f.start, f.end) == ("vod-1", "closed", None, T0 + 30)
    codes = [code for s, code in notices if s == key(1)]
    assert codes == ["no-answer", "start-answer-lost"]
    assert commands[-1] == (key(1), "SearchMedia"), "VOD can still make it ready"


def test_already_stopped_after_the_watchdog_ends_the_file_at_the_last_data() -> None:
    # The stop goes out after data stopped but before our 60 s watchdog: the server's own
    # watchdog closed the recording at the last data.
    rt = Runtime(ManualClock(T0))
    enter_and_start(rt, T0, room=1)
    rt.dispatch(StartOk(t=T0, session=key(1)))
    rt.advance(T0 + 20)
    rt.dispatch(MediaData(t=T0 + 20, session=key(1)))
    rt.advance(T0 + 79)
    rt.dispatch(StopRecording(t=T0 + 79, session=key(1), roomInfo=RoomInfo(9, 1)))
    rt.advance(T0 + 80.5)
    rt.dispatch(StopError(t=T0 + 80.5, session=key(1), code=30000412))
    [f] = rt.sessions[key(1)].files
    assert rt.sessions[key(1)].state == "stopped"
    assert f.end == T0 + 20

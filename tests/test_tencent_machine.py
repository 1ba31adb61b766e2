"""Tencent recorder rules that span rooms or recover from a lost answer (002, 004)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from recstate import ManualClock, Runtime, signals
from recstate.events.tencent import (
    EnterRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    SearchMediaOk,
    StartError,
    StartOk,
    StartRecording,
    StopError,
    StopOk,
    StopRecording,
    VodFile,
)
from recstate.machines.tencent import NO_IDS, TencentContext, TencentOptions

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


def test_files_vod_does_not_list_yet_are_searched_for_again_with_backoff(
        rt: Runtime, commands: list[tuple[str, str]], notices: list[tuple[str, Any]]) -> None:
    from recstate.events.tencent import SearchMediaOk, VodFile

    searches: list[tuple[float, tuple[str, ...]]] = []
    signals.commands("tencent").connect(
        lambda s, *, command, t, **_: searches.append((t, command.fileIds))
        if command.name == "SearchMedia" else None, sender=rt, weak=False)
    enter_and_start(rt, T0, room=1)
    rt.dispatch(StartOk(t=T0, session=key(1)))
    rt.advance(T0 + 10)
    rt.dispatch(StopRecording(t=T0 + 10, session=key(1), roomInfo=RoomInfo(9, 1)))
    rt.dispatch(StopOk(t=T0 + 10, session=key(1), fileIds=("a",)))
    assert searches == [(T0 + 10, ("a",))]
    rt.dispatch(SearchMediaOk(t=T0 + 10, session=key(1), files=()))  # not listed yet
    rt.advance(T0 + 39)
    assert len(searches) == 1
    rt.advance(T0 + 40)  # 30 s later: asked again
    assert searches[-1] == (T0 + 40, ("a",))
    rt.dispatch(SearchMediaOk(t=T0 + 40, session=key(1), files=(
        VodFile(fileId="a", url="https://vod.example/a.mp4", size=42),)))
    [f] = rt.sessions[key(1)].files
    assert (f.status, f.url, f.size) == ("ready", "https://vod.example/a.mp4", 42)
    rt.advance(T0 + 5000)
    assert len(searches) == 2, "found: no more searches"


def test_a_file_vod_never_lists_is_given_up_with_a_warning(
        notices: list[tuple[str, Any]]) -> None:
    from recstate.events.tencent import SearchMediaOk
    from recstate.machines.tencent import TencentOptions

    rt = Runtime(ManualClock(T0), strict=True,
                 options={"tencent": TencentOptions(search_delays=(5.0, 10.0))})
    seen: list[tuple[str, Any]] = []
    signals.error.connect(lambda s, **kw: seen.append((kw["level"], kw["code"])), sender=rt,
                          weak=False)
    signals.commands("tencent").connect(
        lambda s, *, session, command, t, **_: rt.deliver_at(
            t + 1, SearchMediaOk(t=t + 1, session=session.key, files=()))
        if command.name == "SearchMedia" else None, sender=rt, weak=False)
    enter_and_start(rt, T0, room=1)
    rt.dispatch(StartOk(t=T0, session=key(1)))
    rt.dispatch(StopRecording(t=T0, session=key(1), roomInfo=RoomInfo(9, 1)))
    rt.dispatch(StopOk(t=T0, session=key(1), fileIds=("a",)))
    rt.advance(T0 + 100)
    assert seen == [("info", "vod-search"), ("info", "vod-search"), ("warning", "vod-search")]
    # Issue 7 (6): a file never found ends lost, named in the warning.
    assert rt.sessions[key(1)].files[0].status == "lost"


def test_a_new_context_shares_one_empty_list_that_refuses_to_grow_in_place() -> None:
    """Three empty lists were 168 bytes of every session (issue 12): the fields start as
    the one shared NO_IDS, which reads as [], and adding to it in place is refused rather
    than reaching every other context."""
    ctx, other = TencentContext(), TencentContext()
    assert ctx.search_ids is ctx.search_files is ctx.recording_files is NO_IDS
    assert other.recording_files is NO_IDS
    assert ctx == TencentContext(search_ids=[], search_files=[], recording_files=[])
    assert "search_ids=[], search_files=[]" in repr(ctx)
    for add in (lambda x: x.append("a"), lambda x: x.extend(["a"]),
                lambda x: x.insert(0, "a"), lambda x: x.__setitem__(slice(0, 0), ["a"])):
        with pytest.raises(TypeError, match=r"shared empty list of a TencentContext field.*"
                           r"assign a new list instead \(ctx.field = \[\.\.\.\]\)"):
            add(ctx.recording_files)
    grown = ctx.search_ids
    grown += ["a"]
    assert grown == ["a"]
    assert type(grown) is list
    assert NO_IDS == []
    assert ctx.search_ids is NO_IDS
    assert copy.copy(NO_IDS) is NO_IDS
    assert copy.deepcopy(ctx).search_ids is NO_IDS
    assert pickle.loads(pickle.dumps(ctx)).recording_files is NO_IDS


def test_a_recordings_file_ids_are_a_list_of_its_own(rt: Runtime) -> None:
    enter_and_start(rt, T0, 1)
    rt.dispatch(StartOk(t=T0, session=key(1)))
    session = rt.sessions[key(1)]
    ids = session.context.recording_files
    assert ids == ["r1alice#1"]
    assert type(ids) is list
    for t in range(50, 90 * 60 + 1, 50):  # data under the watchdog, to the rollover
        rt.advance(T0 + t)
        rt.dispatch(MediaData(t=T0 + t, session=key(1), bytes=1))
    assert session.context.recording_files == ["r1alice#1", "r1alice#2"]
    assert ids == ["r1alice#1"]
    assert rt.snapshot(key(1))["context"]["search_ids"] == []


def test_a_start_timing_out_while_a_stop_waits_sends_the_stop(
        rt: Runtime, commands: list[tuple[str, str]]) -> None:
    """30000208 to a start whose stop was deferred: the timed-out attempt may have got
    through, so the stop goes to the server rather than the start failing or retrying."""
    enter_and_start(rt, T0, 1)
    rt.dispatch(StopRecording(t=T0 + 1, session=key(1), roomInfo=RoomInfo(9, 1)))
    rt.dispatch(StartError(t=T0 + 2, session=key(1), code=30000208))
    session = rt.sessions[key(1)]
    assert session.state == "stopping"
    assert session.context.timed_out_at == T0
    assert commands == [(key(1), "requestMultiVideoRecorderStart"),
                        (key(1), "requestMultiVideoRecorderStop")]


def test_a_user_who_entered_a_room_is_snapshot_with_the_contexts_defaults(rt: Runtime) -> None:
    rt.dispatch(EnterRoom(t=T0, session=key(1), relationId=9, roomId=1, user="alice"))
    assert rt.snapshot(key(1))["context"] == {
        "relationId": 9, "roomId": 1, "user": "alice", "roomType": "multi", "in_room": True,
        "room": None, "param": None, "retries": 0, "stop_pending": False,
        "start_unanswered": False, "started_at": None, "attempt_sent": None,
        "timed_out_at": None, "stop_sent": None, "last_data": None, "file_seq": 0,
        "open_file": None, "search_prefix": "", "search_ids": [], "search_files": [],
        "search_named": False, "search_after": None, "searches": 0, "recording_files": []}


def test_a_stop_at_the_rollover_instant_leaves_the_file_it_closed_as_it_was(
        rt: Runtime) -> None:
    """The rollover closed the first file at the very instant the stop was sent: that file
    already ends there and is not closed again; the one it opened holds nothing (lost)."""
    changes: list[tuple[str, str]] = []

    def record(sender: Any, *, file: Any, change: str, **_: Any) -> None:
        changes.append((file.id, change))

    signals.file_changed.connect(record, sender=rt, weak=False)
    enter_and_start(rt, T0, 1)
    rt.dispatch(StartOk(t=T0, session=key(1)))
    for t in range(50, 90 * 60, 50):
        rt.advance(T0 + t)
        rt.dispatch(MediaData(t=T0 + t, session=key(1), bytes=1))
    rt.advance(T0 + 90 * 60)  # the rollover: the first file closed, the second opened
    rt.dispatch(StopRecording(t=T0 + 90 * 60, session=key(1), roomInfo=RoomInfo(9, 1)))
    rt.dispatch(StopOk(t=T0 + 90 * 60 + 1, session=key(1), fileIds=("v1",)))
    first = [c for f, c in changes if f in ("r1alice#1", "v1")]
    assert first.count("closed") == 1
    assert ("r1alice#2", "lost") in changes


@pytest.mark.parametrize(("created", "found"), [
    ("1970-01-01T00:00:00Z", "r1alice#1"),  # created at 0: the file whose end is nearest
    ("", "r1alice#1"),  # no CreateTime: the earliest started of the free files
])
def test_a_vod_file_without_an_id_of_ours_goes_to_the_nearest_free_file(
        created: str, found: str) -> None:
    """A recording from the epoch's first second, 0.5 s files (0-0.5, 0.5-1, 1-1.2): VOD's
    one file named for it goes to the free file whose end is nearest its CreateTime, or, with
    none, to the earliest started (002 §4: matched by name and time)."""
    rt = Runtime(ManualClock(0.0), strict=True,
                 options={"tencent": TencentOptions(file_seconds=0.5)})
    enter_and_start(rt, 0.0, 1)
    rt.dispatch(StartOk(t=0.0, session=key(1)))
    rt.advance(1.2)
    rt.dispatch(StopRecording(t=1.2, session=key(1), roomInfo=RoomInfo(9, 1)))
    rt.dispatch(StopOk(t=1.2, session=key(1), fileIds=()))
    rt.dispatch(SearchMediaOk(t=2.0, session=key(1), files=(
        VodFile(fileId="vod1", name="r1alice", url="https://v/1", size=1,
                createTime=created),)))
    files = {f.id: f for f in rt.sessions[key(1)].files}
    assert sorted(files) == sorted({"r1alice#1", "r1alice#2", "r1alice#3", "vod1"} - {found})
    assert files["vod1"].status == "ready"

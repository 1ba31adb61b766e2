"""Issue 7, Tencent half, through the machine: the files after a crash are looked up in VOD
(6), a retried start answered 30000415 after a timeout records (8), the stop's file IDs are
matched by ID or by name and time (9).

Rules: 002 §4 (3) (DescribeVodPlayInfo finds a recording's files by the start's file name),
§6 (2) (1 minute without data closes the recording); 004 §5 (30000208 "请求录制服务器超时",
30000410/30000411 "...或者用户是否已经退出房间", 30000412/30000413 "无需处理", 30000415
"用户正在录制"). VOD API 3.0 SearchMedia: ``FileId``, ``BasicInfo.Vid``, ``CreateTime``.
"""

from __future__ import annotations

from typing import Any

import pytest

from recstate import ManualClock, Runtime, signals
from recstate.adapters.tencent import TencentSimulator
from recstate.events.tencent import (
    EnterRoom,
    ExitRoom,
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
from recstate.machines.tencent import TencentOptions

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
KEY = "9:1:alice"
ROOM = RoomInfo(9, 1)
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"
OPTIONS = {"tencent": TencentOptions(search_delays=(30.0, 60.0))}


class Seen:
    """Commands and notices of one runtime."""

    def __init__(self, rt: Runtime) -> None:
        self.commands: list[tuple[float, Any]] = []
        self.notices: list[tuple[str, Any, str]] = []
        signals.commands("tencent").connect(
            lambda s, *, command, t, **_: self.commands.append((t, command)), sender=rt,
            weak=False)
        signals.error.connect(
            lambda s, *, code, level, message, **_: self.notices.append((level, code, message)),
            sender=rt, weak=False)

    def names(self) -> list[str]:
        return [c.name for _, c in self.commands]

    def searches(self) -> list[Any]:
        return [c for _, c in self.commands if c.name == "SearchMedia"]

    def codes(self) -> list[tuple[str, Any]]:
        return [(level, code) for level, code, _ in self.notices]


def runtime(**options: Any) -> tuple[Runtime, Seen]:
    rt = Runtime(ManualClock(T0), strict=True,
                 options={"tencent": TencentOptions(search_delays=(30.0, 60.0), **options)})
    return rt, Seen(rt)


def enter_and_start(rt: Runtime, t: float = T0, name: str = "lesson-7") -> None:
    rt.dispatch(EnterRoom(t=t, session=KEY, relationId=9, roomId=1, user="alice"))
    rt.dispatch(StartRecording(t=t, session=KEY, roomInfo=ROOM,
                               param=RecordParam(fileName=name)))


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def vod(file_id: str, name: str, created: float, size: int = 1000, vid: str = "") -> VodFile:
    return VodFile(fileId=file_id, name=name, url=f"https://1252.vod2.myqcloud.com/{file_id}.mp4",
                   size=size, vid=vid, createTime=iso(created))


# ---- 6. after a crash, the files are still looked up -----------------------------------------
def crash_by_watchdog(rt: Runtime) -> float:
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.advance(T0 + 20)
    rt.dispatch(MediaData(t=T0 + 20, session=KEY))
    rt.advance(T0 + 80)  # 60 s without data
    return T0 + 20


def crash_then_unanswered_stop(rt: Runtime) -> float:
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.advance(T0 + 20)
    rt.dispatch(StopRecording(t=T0 + 20, session=KEY, roomInfo=ROOM))
    rt.advance(T0 + 50)  # the 30 s answer deadline
    return T0 + 20


def crash_then_already_stopped(code: int) -> Any:
    def run(rt: Runtime) -> float:
        rt.dispatch(StartOk(t=T0, session=KEY))
        rt.advance(T0 + 20)
        rt.dispatch(MediaData(t=T0 + 20, session=KEY))
        rt.advance(T0 + 70)
        rt.dispatch(StopRecording(t=T0 + 70, session=KEY, roomInfo=ROOM))
        rt.advance(T0 + 81)  # the server's watchdog closed it at T0 + 80
        rt.dispatch(StopError(t=T0 + 81, session=KEY, code=code))
        return T0 + 20
    return run


def crash_then_failed_stop(rt: Runtime) -> float:
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.advance(T0 + 20)
    rt.dispatch(StopRecording(t=T0 + 20, session=KEY, roomInfo=ROOM))
    rt.dispatch(StopError(t=T0 + 21, session=KEY, code=30000201))
    return T0 + 20


ENDINGS = {
    "watchdog": (crash_by_watchdog, "stopped", "no-data"),
    "unanswered-stop": (crash_then_unanswered_stop, "stopped", "no-answer"),
    "30000412": (crash_then_already_stopped(30000412), "stopped", 30000412),
    "30000413": (crash_then_already_stopped(30000413), "stopped", 30000413),
    "failed-stop": (crash_then_failed_stop, "failed", 30000201),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_after_each_kind_of_crash_the_file_is_found_in_vod_by_the_start_file_name(
        ending: str) -> None:
    rt, seen = runtime()
    enter_and_start(rt)
    run, state, code = ENDINGS[ending]
    end = run(rt)
    session = rt.sessions[KEY]
    assert session.state == state
    assert code in [c for _, c in seen.codes()]
    [search] = seen.searches()
    assert (search.namePrefix, search.fileIds) == ("lesson-7", ()), "by name: no IDs known"
    [f] = session.files
    assert (f.status, f.end) == ("closed", end)
    now = rt.clock.now()
    rt.dispatch(SearchMediaOk(t=now, session=KEY, files=(
        vod("5285890799999999001", "lesson-7", now, size=2_000_000),)))
    [f] = session.files
    assert (f.id, f.status, f.size) == ("5285890799999999001", "ready", 2_000_000)
    assert f.url == "https://1252.vod2.myqcloud.com/5285890799999999001.mp4"
    assert (f.start, f.end) == (T0, end), "VOD gives the address, not the bounds"


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_after_each_kind_of_crash_a_file_never_found_ends_lost_with_a_warning(
        ending: str) -> None:
    rt, seen = runtime()
    signals.commands("tencent").connect(
        lambda s, *, session, command, t, **_: rt.deliver_at(
            t + 1, SearchMediaOk(t=t + 1, session=session.key, files=()))
        if command.name == "SearchMedia" else None, sender=rt, weak=False)
    enter_and_start(rt)
    ENDINGS[ending][0](rt)
    rt.advance(rt.clock.now() + 200)
    assert len(seen.searches()) == 3, "the first search and the two of the schedule"
    [f] = rt.sessions[KEY].files
    assert f.status == "lost"
    [warning] = [m for level, code, m in seen.notices if code == "vod-search"
                 and level == "warning"]
    assert "lesson-7" in warning
    assert "lost" in warning


def test_an_earlier_recording_under_the_same_file_name_is_not_taken() -> None:
    rt, _seen = runtime()
    enter_and_start(rt)
    crash_by_watchdog(rt)
    rt.dispatch(SearchMediaOk(t=T0 + 80, session=KEY, files=(
        vod("old", "lesson-7", T0 - 86_400),  # yesterday's recording, same name
        vod("new", "lesson-7", T0 + 80))))
    [f] = rt.sessions[KEY].files
    assert (f.id, f.status) == ("new", "ready")


# ---- 7. a crash just before a 90-minute boundary ---------------------------------------------
def test_data_stopping_30_s_before_a_rollover_ends_the_file_at_the_last_data() -> None:
    rt, _seen = runtime()
    enter_and_start(rt)
    rt.dispatch(StartOk(t=T0, session=KEY))
    last = T0 + 90 * 60 - 30
    t = T0
    while t + 30 <= last:
        t += 30
        rt.advance(t)
        rt.dispatch(MediaData(t=t, session=KEY))
    rt.advance(last + 61)  # the rollover at 90:00, then the watchdog at 90:30
    files = rt.sessions[KEY].files
    kept = [f for f in files if f.status != "lost"]
    assert [(f.start, f.end) for f in kept] == [(T0, last)]
    assert all(f.start == f.end for f in files if f.status == "lost")


# ---- 8. 30000415 on a retried start after a timeout ------------------------------------------
def timeout_then_already_recording(rt: Runtime) -> None:
    enter_and_start(rt)
    rt.dispatch(StartError(t=T0 + 0.5, session=KEY, code=30000208))
    rt.advance(T0 + 1.5)  # the retry, 1 s later
    rt.dispatch(StartError(t=T0 + 2, session=KEY, code=30000415))


def test_30000415_after_a_timeout_means_the_first_attempt_records() -> None:
    rt, seen = runtime()
    timeout_then_already_recording(rt)
    session = rt.sessions[KEY]
    assert session.state == "recording"
    assert ("warning", 30000415) in seen.codes()
    [f] = session.files
    assert (f.status, f.start) == ("open", T0), "from the attempt that timed out"
    # The user stays busy: a start in another room is refused locally.
    rt.dispatch(EnterRoom(t=T0 + 3, session="9:2:alice", relationId=9, roomId=2, user="alice"))
    rt.dispatch(StartRecording(t=T0 + 3, session="9:2:alice", roomInfo=RoomInfo(9, 2),
                               param=RecordParam(fileName="other")))
    assert rt.sessions["9:2:alice"].state == "idle"
    # The app's stop reaches the server.
    rt.advance(T0 + 60)
    rt.dispatch(StopRecording(t=T0 + 60, session=KEY, roomInfo=ROOM))
    assert seen.names()[-1] == STOP
    rt.dispatch(StopOk(t=T0 + 61, session=KEY, fileIds=("f1",)))
    [f] = session.files
    assert (f.id, f.start, f.end) == ("f1", T0, T0 + 60)


def test_30000415_without_a_timeout_still_fails_the_start() -> None:
    rt, _seen = runtime()
    enter_and_start(rt)
    rt.dispatch(StartError(t=T0 + 0.5, session=KEY, code=30000404))
    rt.advance(T0 + 1.5)
    rt.dispatch(StartError(t=T0 + 2, session=KEY, code=30000415))
    assert rt.sessions[KEY].state == "failed"


@pytest.mark.parametrize("how", ["stop", "exitRoom"])
def test_a_stop_during_retry_wait_after_a_timeout_reaches_the_server(how: str) -> None:
    rt, seen = runtime()
    enter_and_start(rt)
    rt.dispatch(StartError(t=T0 + 0.5, session=KEY, code=30000208))
    assert rt.sessions[KEY].state == "retry_wait"
    if how == "stop":
        rt.dispatch(StopRecording(t=T0 + 0.7, session=KEY, roomInfo=ROOM))
    else:
        rt.dispatch(ExitRoom(t=T0 + 0.7, session=KEY))
    assert rt.sessions[KEY].state == "stopping"
    assert seen.names() == [START, STOP]
    rt.advance(T0 + 10)
    assert seen.names() == [START, STOP], "the retry is cancelled"
    # The timed-out attempt had started: the server answers its file IDs.
    rt.dispatch(StopOk(t=T0 + 1, session=KEY, fileIds=("f1",)))
    [f] = rt.sessions[KEY].files
    assert (f.id, f.status) == ("f1", "closed")


def test_a_stop_during_retry_wait_after_a_timeout_answered_already_stopped_ends_stopped() -> None:
    rt, seen = runtime()
    enter_and_start(rt)
    rt.dispatch(StartError(t=T0 + 0.5, session=KEY, code=30000208))
    rt.dispatch(StopRecording(t=T0 + 0.7, session=KEY, roomInfo=ROOM))
    rt.dispatch(StopError(t=T0 + 1, session=KEY, code=30000412))
    assert rt.sessions[KEY].state == "stopped"
    assert rt.sessions[KEY].files == []
    assert seen.searches() == [], "nothing was recorded: nothing to look up"


@pytest.mark.parametrize("code", [30000410, 30000411])
def test_room_gone_after_the_user_left_reads_as_already_closed(code: int) -> None:
    rt, seen = runtime()
    enter_and_start(rt)
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.advance(T0 + 30)
    rt.dispatch(ExitRoom(t=T0 + 30, session=KEY))
    rt.dispatch(StopError(t=T0 + 31, session=KEY, code=code))
    assert rt.sessions[KEY].state == "stopped"
    assert ("warning", code) in seen.codes()
    [search] = seen.searches()
    assert search.namePrefix == "lesson-7"


def test_room_gone_while_still_in_the_room_is_a_failed_stop() -> None:
    rt, _seen = runtime()
    enter_and_start(rt)
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.dispatch(StopRecording(t=T0 + 30, session=KEY, roomInfo=ROOM))
    rt.dispatch(StopError(t=T0 + 31, session=KEY, code=30000410))
    assert rt.sessions[KEY].state == "failed"


# ---- 9. file IDs -------------------------------------------------------------------------------
def two_files_then_stop(rt: Runtime, ids: tuple[str, ...]) -> None:
    """100 minutes: two local files (90 + 10), then a stop answered with ``ids``."""
    enter_and_start(rt)
    rt.dispatch(StartOk(t=T0, session=KEY))
    t = T0
    while t + 30 <= T0 + 100 * 60:
        t += 30
        rt.advance(t)
        rt.dispatch(MediaData(t=t, session=KEY))
    rt.dispatch(StopRecording(t=t, session=KEY, roomInfo=ROOM))
    rt.dispatch(StopOk(t=t + 1, session=KEY, fileIds=ids))


def test_the_search_sends_the_stops_ids_and_the_sub_app_id() -> None:
    rt, seen = runtime(sub_app_id=1500000001)
    two_files_then_stop(rt, ("a1", "a2"))
    [search] = seen.searches()
    assert (search.namePrefix, search.fileIds, search.subAppId) == (
        "lesson-7", ("a1", "a2"), 1500000001)


def test_an_id_that_is_the_old_apis_vid_matches_basic_info_vid() -> None:
    rt, _seen = runtime()
    two_files_then_stop(rt, ("200025_v1", "200025_v2"))
    end = T0 + 100 * 60
    rt.dispatch(SearchMediaOk(t=end + 2, session=KEY, files=(
        vod("5285890700000000001", "lesson-7_1", T0 + 90 * 60, vid="200025_v1"),
        vod("5285890700000000002", "lesson-7_2", end, vid="200025_v2"))))
    files = rt.sessions[KEY].files
    assert [(f.id, f.status) for f in files] == [("200025_v1", "ready"),
                                                 ("200025_v2", "ready")]
    assert files[0].url.endswith("5285890700000000001.mp4")  # type: ignore[union-attr]


def test_fewer_ids_than_local_files_is_no_violation_and_is_matched_by_time() -> None:
    rt, seen = runtime()  # strict: a violation would raise
    two_files_then_stop(rt, ("only",))
    assert ("info", "file-ids") in seen.codes()
    end = T0 + 100 * 60
    # The one file VOD lists was created at the end: it is the second local file's.
    rt.dispatch(SearchMediaOk(t=end + 2, session=KEY, files=(vod("only", "lesson-7", end),)))
    files = rt.sessions[KEY].files
    assert [(f.id, f.status) for f in files] == [("lesson-7#1", "lost"), ("only", "ready")]
    assert ("warning", "file-ids") in seen.codes()


def test_more_ids_than_local_files_keeps_the_extra_file() -> None:
    rt, _seen = runtime()
    enter_and_start(rt)
    rt.dispatch(StartOk(t=T0, session=KEY))
    rt.dispatch(StopRecording(t=T0 + 60, session=KEY, roomInfo=ROOM))
    rt.dispatch(StopOk(t=T0 + 61, session=KEY, fileIds=("x1", "x2")))
    assert rt.sessions[KEY].state == "stopped"
    rt.dispatch(SearchMediaOk(t=T0 + 62, session=KEY, files=(
        vod("x1", "lesson-7_1", T0 + 30), vod("x2", "lesson-7_2", T0 + 61))))
    files = rt.sessions[KEY].files
    assert sorted((f.id, f.status) for f in files) == [("x1", "ready"), ("x2", "ready")]


def test_sub_app_id_must_be_a_positive_integer() -> None:
    for bad in (0, -3, True, "1500000001"):
        with pytest.raises(ValueError, match="SubAppId"):
            TencentOptions(sub_app_id=bad)  # type: ignore[arg-type]


# ---- the simulator: the same runs end to end -------------------------------------------------
def simulated(**kwargs: Any) -> tuple[Runtime, TencentSimulator, Seen]:
    rt = Runtime(ManualClock(T0), strict=True, options=OPTIONS)
    return rt, TencentSimulator(rt, **kwargs), Seen(rt)


def test_simulated_timeout_that_got_through_records_and_stops_with_ready_files() -> None:
    rt, sim, seen = simulated()
    sim.fail_next(START, 30000208, got_through=True)
    rt.dispatch(EnterRoom(t=T0, relationId=9, roomId=1, user="alice"))
    rt.dispatch(StartRecording(t=T0, roomInfo=ROOM, user="alice",
                               param=RecordParam(fileName="lesson-7")))
    rt.advance(T0 + 10 * 60)
    assert rt.sessions[KEY].state == "recording"
    assert sim.recording_user("alice") == KEY
    rt.dispatch(StopRecording(t=T0 + 10 * 60, roomInfo=ROOM, user="alice"))
    rt.advance(T0 + 10 * 60 + 5)
    session = rt.sessions[KEY]
    assert seen.names() == [START, START, STOP, "SearchMedia"]
    assert [(f.id, f.status) for f in session.files] == [
        (v.fileId, "ready") for v in sim.vod_files]
    assert sim.recording_user("alice") is None


def test_simulated_stop_returning_vids_is_matched_by_vid() -> None:
    rt, sim, _seen = simulated(stop_ids="Vid")
    rt.dispatch(EnterRoom(t=T0, relationId=9, roomId=1, user="alice"))
    rt.dispatch(StartRecording(t=T0, roomInfo=ROOM, user="alice",
                               param=RecordParam(fileName="lesson-7")))
    rt.advance(T0 + 100 * 60)
    rt.dispatch(StopRecording(t=T0 + 100 * 60, roomInfo=ROOM, user="alice"))
    rt.advance(T0 + 100 * 60 + 5)
    files = rt.sessions[KEY].files
    assert [(f.id, f.status, f.url) for f in files] == [
        (v.vid, "ready", v.url) for v in sim.vod_files]

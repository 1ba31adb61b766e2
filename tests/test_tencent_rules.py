"""The Tencent recorder's rules one by one, with expected values from the documents.

002 (录制接口): one recording per user at a time (§2), the file name and ``recordDataType``
(0 camera, 1 aux stream, §2.1-2.4), a new MP4 every 90 minutes and the 60 s no-data close (§6),
files found in VOD by the start's file name (§4 (3)). 004 §5: the error codes, which are
retried (30000208, 30000401, 30000402, 30000404: "重试处理"), 30000412/30000413 (already
stopped), 30000410/30000411 (room gone, "或者用户是否已经退出房间"). The schedules the
documents leave open (retry 1, 2, 4 s; answer deadline 30 s; VOD re-search after 30 s, 1, 2,
5, 10 min) are the project's, as docs/architecture.md states them; the values below are
written from there, never read back from the code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from recstate import ManualClock, Runtime, signals
from recstate.errors import Violation
from recstate.events import Command, Event
from recstate.events.tencent import (
    EnterRoom,
    ExitRoom,
    MediaData,
    RecordParam,
    RoomInfo,
    SearchMediaError,
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
RELATION = 9
START = "requestMultiVideoRecorderStart"
STOP = "requestMultiVideoRecorderStop"
SEARCH = "SearchMedia"
NINETY_MINUTES = 90 * 60.0


def iso(t: float) -> str:
    """VOD's CreateTime for epoch seconds ``t`` (ISO 8601, UTC, "Z")."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key(room: int = 1, user: str = "alice") -> str:
    return f"{RELATION}:{room}:{user}"


class Rec:
    """A strict runtime on a manual clock; what it sent and noticed, in order."""

    def __init__(self, options: TencentOptions | None = None, *, strict: bool = True) -> None:
        self.rt = Runtime(ManualClock(T0), strict=strict,
                          options={"tencent": options} if options else None)
        self.commands: list[tuple[float, str, Command]] = []
        self.notices: list[tuple[str, Any, str, str]] = []
        self.violations: list[Violation] = []
        signals.commands("tencent").connect(self._command, sender=self.rt, weak=False)
        signals.error.connect(self._notice, sender=self.rt, weak=False)
        signals.violation.connect(self._violation, sender=self.rt, weak=False)

    def _command(self, sender: Any, *, session: Any, command: Command, t: float) -> None:
        self.commands.append((t, session.key, command))

    def _notice(self, sender: Any, *, session: Any, name: str, code: Any, message: str,
                level: str, t: float) -> None:
        self.notices.append((session.key, code, level, message))

    def _violation(self, sender: Any, *, violation: Violation, session: Any) -> None:
        self.violations.append(violation)

    # ---- events ---------------------------------------------------------------------------
    def at(self, dt: float, ev: type[Event], room: int = 1, who: str = "alice",
           **fields: Any) -> None:
        t = T0 + dt
        self.rt.advance(t)
        self.rt.dispatch(ev(t=t, session=key(room, who), **fields))

    def enter(self, dt: float = 0.0, room: int = 1, user: str = "alice",
              room_type: str = "multi") -> None:
        self.at(dt, EnterRoom, room, user, relationId=RELATION, roomId=room, user=user,
                roomType=room_type)

    def start(self, dt: float = 0.0, room: int = 1, user: str = "alice",
              file_name: str = "rec", data_type: int = 0) -> None:
        self.at(dt, StartRecording, room, user, roomInfo=RoomInfo(RELATION, room), user=user,
                param=RecordParam(fileName=file_name, recordDataType=data_type))

    def stop(self, dt: float, room: int = 1, user: str = "alice") -> None:
        self.feed(dt, room, user)
        self.at(dt, StopRecording, room, user, roomInfo=RoomInfo(RELATION, room), user=user)

    def recording(self, dt: float = 0.0, room: int = 1, user: str = "alice",
                  file_name: str = "rec", data_type: int = 0) -> None:
        self.enter(dt, room, user)
        self.start(dt, room, user, file_name, data_type)
        self.at(dt, StartOk, room, user)

    def feed(self, dt: float, room: int = 1, user: str = "alice") -> None:
        """A live client: data every 20 s, up to ``dt``, while the session records."""
        session = self.rt.sessions.get(key(room, user))
        if session is None or session.state != "recording":
            return
        last = session.context.last_data - T0
        t = last + 20.0
        while t < dt:
            self.at(t, MediaData, room, user)
            t += 20.0
        self.at(dt, MediaData, room, user)

    def data_until(self, begin: float, end: float, every: float = 20.0, room: int = 1) -> None:
        t = begin
        while t <= end:
            self.at(t, MediaData, room)
            t += every

    # ---- what happened --------------------------------------------------------------------
    def sent(self, name: str | None = None, room: int = 1, user: str = "alice"
             ) -> list[tuple[float, Any]]:
        return [(round(t - T0, 6), c) for t, s, c in self.commands
                if s == key(room, user) and (name is None or c.name == name)]

    def codes(self, room: int = 1, user: str = "alice") -> list[tuple[Any, str]]:
        return [(code, level) for s, code, level, _ in self.notices if s == key(room, user)]

    def message(self, code: Any, room: int = 1) -> str:
        [text] = [m for s, c, _, m in self.notices if s == key(room) and c == code]
        return text

    def session(self, room: int = 1, user: str = "alice") -> Any:
        return self.rt.sessions[key(room, user)]

    def files(self, room: int = 1) -> list[tuple[str, str, float | None, float | None]]:
        return [(f.id, f.status, None if f.start is None else f.start - T0,
                 None if f.end is None else f.end - T0) for f in self.session(room).files]


# ---- start refused locally: no command, a notice with the code ---------------------------

def test_a_start_outside_the_room_is_refused_not_in_room() -> None:
    r = Rec()
    r.start(0.0)  # 002 §2.4: "开始录制视频失败：未进入房间"
    assert r.session().state == "idle"
    assert r.codes() == [("not-in-room", "error")]
    assert r.sent() == []


def test_a_start_after_leaving_the_room_is_refused_not_in_room() -> None:
    r = Rec()
    r.enter(0.0)
    r.at(1.0, ExitRoom)
    r.start(2.0)
    assert r.codes() == [("not-in-room", "error")]
    assert r.sent() == []


def test_a_start_in_a_pair_room_is_refused() -> None:
    r = Rec()
    r.enter(0.0, room_type="pair")  # 004 §4: 双人音视频房间不支持录制功能
    r.start(0.0)
    assert r.session().state == "idle"
    assert r.codes() == [("pair-room", "error")]
    assert r.sent() == []


def test_a_start_without_a_file_name_is_refused_30000002() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0, file_name="")
    assert r.session().state == "idle"
    assert r.codes() == [(30000002, "error")]
    assert r.sent() == []


@pytest.mark.parametrize("data_type", [2, 7, -1])
def test_a_start_with_a_video_source_neither_camera_nor_aux_is_refused_30000004(
        data_type: int) -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0, data_type=data_type)
    assert r.session().state == "idle"
    assert r.codes() == [(30000004, "error")]
    assert f"recordDataType {data_type}" in r.message(30000004)
    assert r.sent() == []


def test_the_first_refusal_rule_that_applies_is_the_one_noticed() -> None:
    r = Rec()
    r.start(0.0, file_name="", data_type=5)  # not in the room, and every field wrong
    r.enter(1.0, room_type="pair")
    r.start(1.0, file_name="", data_type=5)  # a pair room, and every field wrong
    r.enter(2.0)
    r.start(2.0, file_name="", data_type=5)  # no file name, and a bad source
    assert [c for c, _ in r.codes()] == ["not-in-room", "pair-room", 30000002]
    assert r.sent() == []


@pytest.mark.parametrize(("data_type", "kind"), [(0, "video"), (1, "screen")])
def test_camera_and_aux_stream_are_both_recorded(data_type: int, kind: str) -> None:
    r = Rec()
    r.recording(0.0, data_type=data_type)  # 002: record_data_type 0 摄像头视频, 1 辅流
    [(_, cmd)] = r.sent(START)
    assert cmd.param.recordDataType == data_type
    assert r.session().state == "recording"
    [f] = r.session().files
    assert (f.kind, f.format, f.status, f.start) == (kind, "mp4", "open", T0)


def test_a_user_busy_in_one_room_is_refused_30000415_in_another_until_it_stops() -> None:
    r = Rec()
    r.recording(0.0, room=1)
    r.enter(1.0, room=2)
    r.start(1.0, room=2)
    assert r.codes(room=2) == [(30000415, "error")]
    assert "9:1:alice" in r.message(30000415, room=2), "the notice names the busy session"
    # The refused session stopping, leaving and coming back frees nothing: room 1 records.
    r.stop(2.0, room=2)
    r.at(3.0, ExitRoom, room=2)
    r.enter(4.0, room=2)
    r.start(4.0, room=2)
    r.enter(4.0, room=3)
    r.start(4.0, room=3)
    assert [c for c, _ in r.codes(room=2)] == [30000415, "not-recording", 30000415]
    assert r.codes(room=3) == [(30000415, "error")]
    assert r.sent(room=2) == []
    assert r.sent(room=3) == []
    # Once room 1's recording stopped, the user may record elsewhere.
    r.stop(5.0, room=1)
    r.at(6.0, StopOk, room=1, fileIds=("f1",))
    r.start(7.0, room=3)
    assert r.session(3).state == "starting"
    assert [t for t, _ in r.sent(START, room=3)] == [7.0]


def test_a_second_start_in_the_same_room_while_busy_is_refused_30000415() -> None:
    r = Rec()
    r.recording(0.0)
    r.start(1.0)
    assert r.codes() == [(30000415, "error")]
    assert len(r.sent(START)) == 1


def test_another_user_may_record_in_the_room_of_a_busy_one() -> None:
    r = Rec()
    r.recording(0.0, user="alice")
    r.enter(1.0, user="bob")
    r.start(1.0, user="bob")
    assert r.session(user="bob").state == "starting"


def test_a_failed_start_frees_the_user_for_another_room() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(1.0, StartError, code=30000403)  # the room does not exist: not retried
    assert r.session().state == "failed"
    r.enter(2.0, room=2)
    r.start(2.0, room=2)
    assert r.session(2).state == "starting"


@pytest.mark.parametrize("end", ["stopped", "failed"])
def test_a_restored_session_that_no_longer_records_does_not_hold_its_user(end: str) -> None:
    """002 §2, one recording per user at a time: only a recording in progress holds the user.
    A stopped or failed session restored from its snapshot (a restart, another worker) leaves
    the user free to record in another room; a recording one still holds it (30000415)."""
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    if end == "stopped":
        r.at(1.0, StartOk)
        r.stop(60.0)
        r.at(61.0, StopOk, fileIds=("f1",))
    else:
        r.at(1.0, StartError, code=30000403)  # not retried: failed
    assert r.session().state == end
    r.recording(62.0, room=3, user="bob")
    saved = [r.rt.snapshot(key(1)), r.rt.snapshot(key(3, "bob"))]
    fresh = Rec()
    fresh.rt.advance(T0 + 70.0)
    for snapshot in saved:
        fresh.rt.restore(snapshot)
    fresh.enter(71.0, room=2)
    fresh.start(71.0, room=2)
    assert fresh.session(2).state == "starting"
    assert [c.name for _, c in fresh.sent(room=2)] == [START]
    fresh.enter(72.0, room=4, user="bob")
    fresh.start(72.0, room=4, user="bob")
    assert fresh.session(4, "bob").state == "idle"
    assert fresh.codes(4, "bob") == [(30000415, "error")]


# ---- a second recording in the same session --------------------------------------------

def test_a_second_recording_in_the_same_session_has_its_own_files() -> None:
    r = Rec()
    r.recording(0.0, file_name="first")
    r.stop(100.0)
    r.at(101.0, StopOk, fileIds=("F1",))
    r.start(200.0, file_name="second")
    r.at(201.0, StartOk)
    r.stop(300.0)
    r.at(301.0, StopOk, fileIds=("F2",))
    assert r.session().state == "stopped"
    assert r.files() == [("F1", "closed", 0.0, 100.0), ("F2", "closed", 201.0, 300.0)]
    assert "file-ids" not in [c for c, _ in r.codes()], "one ID for the one file"
    searches = [(t, c.namePrefix, c.fileIds) for t, c in r.sent(SEARCH)]
    assert searches == [(101.0, "first", ("F1",)), (301.0, "second", ("F2",))]


# ---- retries (004 §5: 重试处理) -----------------------------------------------------------

def test_a_retryable_start_error_is_retried_after_1_2_4_s_then_fails() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(0.5, StartError, code=30000401)
    assert r.session().state == "retry_wait"
    r.rt.advance(T0 + 1.49)
    assert len(r.sent(START)) == 1
    r.at(1.5, StartError, code=30000402)  # the retry fires at 1.5 first
    r.at(3.5, StartError, code=30000404)  # the 2nd retry, 2 s later
    r.rt.advance(T0 + 7.49)
    assert [t for t, _ in r.sent(START)] == [0.0, 1.5, 3.5]
    r.at(7.5, StartError, code=30000401)  # the 3rd retry went out at 7.5: answered
    assert [t for t, _ in r.sent(START)] == [0.0, 1.5, 3.5, 7.5]
    assert r.session().state == "failed"
    assert r.codes() == [(30000401, "warning"), (30000402, "warning"), (30000404, "warning"),
                         (30000401, "error")]
    assert "after 3 retries" in r.notices[-1][3]
    r.rt.advance(T0 + 100)
    assert len(r.sent(START)) == 4, "no more attempts after the third retry"


def test_a_start_error_that_is_not_retryable_fails_at_once() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(0.5, StartError, code=30000403)
    assert r.session().state == "failed"
    assert r.codes() == [(30000403, "error")]
    assert "retries" not in r.message(30000403)
    r.rt.advance(T0 + 100)
    assert len(r.sent(START)) == 1


def test_a_retryable_stop_error_is_retried_after_1_2_4_s_then_fails() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(0.5, StartError, code=30000401)  # a retried start: its retries do not count later
    r.at(1.5, StartOk)
    r.stop(100.0)
    r.at(100.5, StopError, code=30000404)
    r.at(101.5, StopError, code=30000404)
    r.at(103.5, StopError, code=30000404)
    r.at(107.5, StopError, code=30000404)
    assert [t for t, _ in r.sent(STOP)] == [100.0, 101.5, 103.5, 107.5]
    assert r.session().state == "failed"
    assert r.codes()[-1] == (30000404, "error")


def test_a_stop_retried_then_answered_ends_the_files_when_the_good_attempt_went_out() -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(100.0)
    r.at(100.5, StopError, code=30000401)  # the server went on recording
    r.at(102.0, StopOk, fileIds=("F1",))  # answers the retry sent at 101.5
    assert [t for t, _ in r.sent(STOP)] == [100.0, 101.5]
    assert r.session().state == "stopped"
    assert r.files() == [("F1", "closed", 0.0, 101.5)]


# ---- deadlines --------------------------------------------------------------------------

def test_an_unanswered_stop_is_taken_as_stopped_after_30_s() -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(100.0)
    r.rt.advance(T0 + 129.9)
    assert r.session().state == "stopping"
    r.rt.advance(T0 + 130.0)
    assert r.session().state == "stopped"
    assert r.codes() == [("no-answer", "error")]
    assert r.files() == [("rec#1", "closed", 0.0, 100.0)]
    [(t, cmd)] = r.sent(SEARCH)
    assert (t, cmd.namePrefix, cmd.fileIds) == (130.0, "rec", ())


def test_the_stop_answer_deadline_runs_from_the_last_attempt() -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(100.0)
    r.at(110.0, StopError, code=30000401)  # retried at 111
    r.rt.advance(T0 + 140.9)
    assert r.session().state == "stopping"
    r.rt.advance(T0 + 141.0)
    assert r.session().state == "stopped"
    assert r.files() == [("rec#1", "closed", 0.0, 111.0)]


def test_an_unanswered_start_sends_a_stop_after_30_s() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.rt.advance(T0 + 29.9)
    assert r.session().state == "starting"
    r.rt.advance(T0 + 30.0)
    assert r.session().state == "stopping"
    assert [t for t, _ in r.sent(STOP)] == [30.0]
    r.at(31.0, StopError, code=30000412)  # the server never started
    assert r.session().state == "stopped"
    assert r.files() == []


def test_no_data_for_60_s_closes_the_recording_at_the_last_data() -> None:
    r = Rec()
    r.recording(0.0)
    r.at(10.0, MediaData)
    r.rt.advance(T0 + 69.9)
    assert r.session().state == "recording"
    r.rt.advance(T0 + 70.0)
    assert r.session().state == "stopped"
    assert r.files() == [("rec#1", "closed", 0.0, 10.0)]
    assert r.codes() == [("no-data", "error")]
    assert iso(T0 + 10.0)[:19] in r.message("no-data"), "the notice names the last data"
    [(t, cmd)] = r.sent(SEARCH)
    assert (t, cmd.namePrefix, cmd.fileIds) == (70.0, "rec", ())
    assert r.sent(STOP) == [], "the server closed it: nothing to stop"


# ---- stops in every state ----------------------------------------------------------------

def test_a_stop_while_starting_is_sent_once_the_start_succeeded() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.stop(0.2)
    assert r.session().state == "starting"
    assert r.codes() == [("stop-deferred", "info")]
    assert r.sent(STOP) == []
    r.stop(0.3)  # asked again: noticed once
    assert r.codes() == [("stop-deferred", "info")]
    r.at(0.5, StartOk)
    assert r.session().state == "stopping"
    assert [t for t, _ in r.sent(STOP)] == [0.5]


def test_a_stop_during_retry_wait_after_a_network_error_abandons_the_start() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(0.5, StartError, code=30000401)  # fails before the recording server is asked
    r.stop(0.7)
    assert r.session().state == "stopped"
    assert r.codes() == [(30000401, "warning"), ("start-abandoned", "info")]
    r.rt.advance(T0 + 60)
    assert len(r.sent(START)) == 1, "the retry was cancelled"
    assert r.sent(STOP) == []
    assert r.files() == []
    r.enter(61.0, room=2)
    r.start(61.0, room=2)
    assert r.session(2).state == "starting", "the user is free again"


def test_a_stop_during_retry_wait_after_a_timeout_asks_the_server() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(0.5, StartError, code=30000208)  # 请求录制服务器超时: it may have got through
    r.stop(0.7)
    assert r.session().state == "stopping"
    assert [t for t, _ in r.sent(STOP)] == [0.7]
    assert ("stop-after-timeout", "info") in r.codes()
    r.rt.advance(T0 + 20)
    assert len(r.sent(START)) == 1, "the retry was cancelled"
    assert len(r.sent(STOP)) == 1, "one stop"
    r.at(21.0, StopOk, fileIds=("F1",))  # it did record
    assert r.session().state == "stopped"
    [f] = r.session().files
    assert (f.id, f.status, f.start, f.end) == ("F1", "closed", None, T0 + 0.7)


def test_leaving_the_room_during_retry_wait_after_a_timeout_asks_the_server() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(0.5, StartError, code=30000208)
    r.at(0.7, ExitRoom)
    assert r.session().state == "stopping"
    assert [t for t, _ in r.sent(STOP)] == [0.7]


def test_a_timeout_then_30000415_means_the_first_attempt_is_recording() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(0.5, StartError, code=30000208)
    r.at(1.5, StartError, code=30000415)  # the retry at 1.5: 用户正在录制
    assert r.session().state == "recording"
    assert r.codes() == [(30000208, "warning"), (30000415, "warning")]
    assert r.files() == [("rec#1", "open", 0.0, None)], "recorded from the first attempt"
    r.stop(10.0)
    assert [t for t, _ in r.sent(STOP)] == [10.0]


def test_30000415_without_a_timeout_before_fails_the_start() -> None:
    r = Rec()
    r.enter(0.0)
    r.start(0.0)
    r.at(0.5, StartError, code=30000401)
    r.at(1.5, StartError, code=30000415)
    assert r.session().state == "failed"


def test_a_stop_that_fails_outright_closes_the_files_and_looks_them_up_by_name() -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(100.0)
    r.at(101.0, StopError, code=30000403)  # not retryable, not "already stopped"
    assert r.session().state == "failed"
    assert r.codes() == [(30000403, "error")]
    assert r.files() == [("rec#1", "closed", 0.0, 100.0)]
    [(t, cmd)] = r.sent(SEARCH)
    assert (t, cmd.namePrefix, cmd.fileIds) == (101.0, "rec", ())
    r.enter(102.0, room=2)
    r.start(102.0, room=2)
    assert r.session(2).state == "starting", "a failed stop frees the user"


@pytest.mark.parametrize("code", [30000412, 30000413])
def test_a_repeated_stop_is_not_a_failure(code: int) -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(100.0)
    r.at(101.0, StopError, code=code)
    assert r.session().state == "stopped"
    assert r.codes() == [(code, "warning")]
    assert "left the room" not in r.message(code)
    assert r.files() == [("rec#1", "closed", 0.0, 100.0)]


@pytest.mark.parametrize("code", [30000410, 30000411])
def test_room_gone_after_leaving_the_room_is_already_stopped(code: int) -> None:
    r = Rec()
    r.recording(0.0)
    r.feed(100.0)
    r.at(100.0, ExitRoom)  # leaving sends the stop
    assert [t for t, _ in r.sent(STOP)] == [100.0]
    r.at(101.0, StopError, code=code)
    assert r.session().state == "stopped"
    assert r.codes() == [(code, "warning")]
    assert "after the user left the room" in r.message(code)


@pytest.mark.parametrize("code", [30000410, 30000411])
def test_room_gone_while_still_in_the_room_is_a_failed_stop(code: int) -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(100.0)
    r.at(101.0, StopError, code=code)
    assert r.session().state == "failed"
    assert r.codes() == [(code, "error")]


def test_another_error_after_leaving_the_room_is_still_a_failed_stop() -> None:
    r = Rec()
    r.recording(0.0)
    r.feed(100.0)
    r.at(100.0, ExitRoom)
    r.at(101.0, StopError, code=30000403)
    assert r.session().state == "failed"


# ---- 90-minute files (002 §6 (1)) ----------------------------------------------------------

def test_a_new_file_every_90_minutes() -> None:
    r = Rec()
    r.recording(0.0)
    r.data_until(20.0, NINETY_MINUTES - 20.0)
    assert r.files() == [("rec#1", "open", 0.0, None)]
    r.rt.advance(T0 + NINETY_MINUTES)
    assert r.files() == [("rec#1", "closed", 0.0, NINETY_MINUTES),
                         ("rec#2", "open", NINETY_MINUTES, None)]


def test_a_stop_at_the_rollover_instant_keeps_no_empty_file() -> None:
    r = Rec()
    r.recording(0.0)
    r.data_until(20.0, NINETY_MINUTES - 20.0)
    r.stop(NINETY_MINUTES)  # the rollover fired first, at the same instant
    r.at(NINETY_MINUTES + 1, StopOk, fileIds=("F1",))
    assert r.files() == [("F1", "closed", 0.0, NINETY_MINUTES),
                         ("rec#2", "lost", NINETY_MINUTES, NINETY_MINUTES)]
    assert "file-ids" not in [c for c, _ in r.codes()], "one ID for the one real file"


def test_a_crash_just_before_a_rollover_keeps_nothing_after_the_last_data() -> None:
    r = Rec()
    r.recording(0.0)
    r.data_until(20.0, NINETY_MINUTES - 20.0)  # the last data 20 s before the boundary
    r.rt.advance(T0 + NINETY_MINUTES - 20.0 + 60.0)
    assert r.session().state == "stopped"
    assert r.files() == [("rec#1", "closed", 0.0, NINETY_MINUTES - 20.0),
                         ("rec#2", "lost", NINETY_MINUTES, NINETY_MINUTES)]


# ---- VOD (002 §4 (3)) ----------------------------------------------------------------------

def crashed_after(r: Rec, last: float) -> None:
    """A recording from 0 whose client's data stops at ``last`` (the watchdog closes it)."""
    r.recording(0.0)
    r.data_until(20.0, last)
    r.rt.advance(T0 + last + 60.0)
    assert r.session().state == "stopped"


def test_files_are_found_by_the_file_name_and_not_taken_from_an_earlier_recording() -> None:
    r = Rec()
    crashed_after(r, 600.0)
    old = VodFile(fileId="OLD", name="rec", url="https://vod.example/old.mp4", size=1,
                  createTime=iso(T0 - 3600))
    new = VodFile(fileId="NEW", name="rec", url="https://vod.example/new.mp4", size=2,
                  createTime=iso(T0 + 662))
    other = VodFile(fileId="OTHER", name="another", url="https://vod.example/x.mp4", size=3,
                    createTime=iso(T0 + 661))
    r.at(662.0, SearchMediaOk, files=(old, other, new))
    [f] = r.session().files
    assert (f.id, f.status, f.url, f.size) == ("NEW", "ready", "https://vod.example/new.mp4", 2)
    assert (f.start, f.end) == (T0, T0 + 600.0)


def test_each_vod_file_goes_to_its_own_local_file() -> None:
    r = Rec()
    crashed_after(r, NINETY_MINUTES + 100.0)
    end = NINETY_MINUTES + 160.0
    a = VodFile(fileId="A", name="rec", url="https://vod.example/a.mp4", size=1,
                createTime=iso(T0 + end + 5))
    b = VodFile(fileId="B", name="rec", url="https://vod.example/b.mp4", size=2,
                createTime=iso(T0 + end + 6))
    r.at(end + 10, SearchMediaOk, files=(a, b))
    files = r.session().files
    assert sorted(f.id for f in files) == ["A", "B"]
    assert [f.status for f in files] == ["ready", "ready"]
    assert r.sent(SEARCH)[-1][0] == end, "all found: no search again"
    r.rt.advance(T0 + end + 5000)
    assert len(r.sent(SEARCH)) == 1


def test_a_vod_file_goes_to_the_local_file_whose_end_is_nearest_its_creation() -> None:
    r = Rec()
    crashed_after(r, NINETY_MINUTES + 100.0)
    end = NINETY_MINUTES + 160.0  # the watchdog: the second file ended at the last data
    b = VodFile(fileId="B", name="rec", url="https://vod.example/b.mp4", size=2,
                createTime=iso(T0 + NINETY_MINUTES + 130))
    r.at(end + 10, SearchMediaOk, files=(b,))
    assert r.files() == [("rec#1", "closed", 0.0, NINETY_MINUTES),
                         ("B", "ready", NINETY_MINUTES, NINETY_MINUTES + 100.0)]
    assert r.codes()[-1][0] == "vod-search", "the first file is searched for again"


def test_vod_files_without_creation_time_go_in_natural_name_order() -> None:
    r = Rec()
    crashed_after(r, NINETY_MINUTES + 100.0)
    ten = VodFile(fileId="F10", name="rec_10", url="https://vod.example/10.mp4")
    two = VodFile(fileId="F2", name="rec_2", url="https://vod.example/2.mp4")
    r.at(NINETY_MINUTES + 170.0, SearchMediaOk, files=(ten, two))
    assert [f.id for f in r.session().files] == ["F2", "F10"]


def test_the_stops_ids_are_matched_as_file_id_or_vid() -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(100.0)
    r.at(101.0, StopOk, fileIds=("vid-1",))  # the old API's vid
    r.at(102.0, SearchMediaOk, files=(
        VodFile(fileId="5285890781", name="rec", url="https://vod.example/1.mp4",
                vid="vid-1", createTime=iso(T0 + 101)),))
    assert r.files() == [("vid-1", "ready", 0.0, 100.0)]


def test_more_ids_than_local_files_keeps_each_named_file() -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(100.0)
    r.at(101.0, StopOk, fileIds=("A", "B"))
    assert ("file-ids", "info") in r.codes()
    [(_, cmd)] = r.sent(SEARCH)
    assert cmd.fileIds == ("A", "B")
    r.at(102.0, SearchMediaOk, files=(
        VodFile(fileId="A", name="rec", url="https://vod.example/a.mp4",
                createTime=iso(T0 + 101)),
        VodFile(fileId="B", name="rec", url="https://vod.example/b.mp4",
                createTime=iso(T0 + 101))))
    assert r.files() == [("A", "ready", 0.0, 100.0), ("B", "ready", None, None)]
    r.rt.advance(T0 + 5000)
    assert len(r.sent(SEARCH)) == 1


def test_fewer_ids_than_local_files_loses_the_files_left_once_every_id_is_found() -> None:
    r = Rec()
    r.recording(0.0)
    r.data_until(20.0, NINETY_MINUTES + 80.0)
    r.stop(NINETY_MINUTES + 100.0)
    r.at(NINETY_MINUTES + 101.0, StopOk, fileIds=("A",))
    r.at(NINETY_MINUTES + 102.0, SearchMediaOk, files=(
        VodFile(fileId="A", name="rec", url="https://vod.example/a.mp4",
                createTime=iso(T0 + NINETY_MINUTES + 101)),))
    statuses = sorted((f.id, f.status) for f in r.session().files)
    assert statuses == [("A", "ready"), ("rec#1", "lost")]
    assert r.codes()[-1] == ("file-ids", "warning")


def test_vod_is_searched_again_after_30_s_1_2_5_10_min_then_the_file_is_lost() -> None:
    r = Rec()
    signals.commands("tencent").connect(
        lambda s, *, session, command, t, **_: r.rt.deliver_at(
            t + 1, SearchMediaOk(t=t + 1, session=session.key, files=()))
        if command.name == SEARCH else None, sender=r.rt, weak=False)
    r.recording(0.0)
    r.stop(10.0)
    r.at(10.0, StopOk, fileIds=("A",))
    r.rt.advance(T0 + 10_000)
    expected = [10.0]
    for delay in (30.0, 60.0, 120.0, 300.0, 600.0):  # each after the previous answer (+1 s)
        expected.append(expected[-1] + 1 + delay)
    assert [t for t, _ in r.sent(SEARCH)] == expected
    assert r.codes() == [("vod-search", "info")] * 5 + [("vod-search", "warning")]
    assert "'A'" in r.notices[-1][3], "the warning names the missing ID"
    assert r.files() == [("A", "lost", 0.0, 10.0)]


def test_a_file_never_listed_after_a_crash_is_lost_with_its_name_in_the_warning() -> None:
    r = Rec(TencentOptions(search_delays=(5.0,)))
    crashed_after(r, 100.0)
    r.at(161.0, SearchMediaOk, files=())
    r.at(166.0, SearchMediaOk, files=())
    assert [t for t, _ in r.sent(SEARCH)] == [160.0, 166.0]
    assert r.codes()[-1] == ("vod-search", "warning")
    assert "rec#1" in r.notices[-1][3]
    assert r.files() == [("rec#1", "lost", 0.0, 100.0)]


def test_a_failed_search_is_tried_again_with_its_code() -> None:
    r = Rec()
    r.recording(0.0)
    r.stop(10.0)
    r.at(10.0, StopOk, fileIds=("A",))
    r.at(11.0, SearchMediaError, code="InternalError", desc="try later")
    assert r.codes()[-1] == ("InternalError", "info")
    r.rt.advance(T0 + 41.0)
    assert [t for t, _ in r.sent(SEARCH)] == [10.0, 41.0]


@pytest.mark.parametrize("bad", [0, -3, True, "1400"])
def test_sub_app_id_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ValueError, match="SubAppId"):
        TencentOptions(sub_app_id=bad)


def test_sub_app_id_goes_with_every_search() -> None:
    r = Rec(TencentOptions(sub_app_id=1400123456))
    r.recording(0.0)
    r.stop(10.0)
    r.at(10.0, StopOk, fileIds=("A",))
    [(_, cmd)] = r.sent(SEARCH)
    assert (cmd.namePrefix, cmd.fileIds, cmd.subAppId) == ("rec", ("A",), 1400123456)
    assert TencentOptions().sub_app_id is None


@pytest.mark.parametrize(("before", "rec2"), [
    (2, ("rec#2", "closed")),  # created 2 s before rec#2 began: not that file
    (1, ("X", "ready")),  # 1 s before, in whole seconds: may be that file
])
def test_a_vod_file_created_before_a_local_file_began_is_not_that_file(
        before: int, rec2: tuple[str, str]) -> None:
    """SearchMedia's CreateTime is in whole seconds ("2020-12-11T07:25:52Z"): a VOD file whose
    CreateTime is 1 s before a local file began may be that file (the second is cut, and
    the two clocks differ); 2 s before it is an earlier file's."""
    r = Rec()
    crashed_after(r, NINETY_MINUTES + 100.0)  # rec#1 [0, 5400], rec#2 [5400, 5500]
    w = VodFile(fileId="W", name="rec", url="https://vod.example/w.mp4",
                createTime=iso(T0 + NINETY_MINUTES - 3))
    x = VodFile(fileId="X", name="rec", url="https://vod.example/x.mp4",
                createTime=iso(T0 + NINETY_MINUTES - before))
    r.at(NINETY_MINUTES + 170.0, SearchMediaOk, files=(w, x))
    assert r.files() == [("W", "ready", 0.0, NINETY_MINUTES),
                         (*rec2, NINETY_MINUTES, NINETY_MINUTES + 100.0)]


def test_a_vod_file_named_by_its_vid_is_taken_when_ids_and_files_do_not_pair() -> None:
    r = Rec()
    r.recording(0.0)
    r.data_until(20.0, NINETY_MINUTES + 80.0)
    r.stop(NINETY_MINUTES + 100.0)
    r.at(NINETY_MINUTES + 101.0, StopOk, fileIds=("v1",))  # one old-style vid, two files
    r.at(NINETY_MINUTES + 102.0, SearchMediaOk, files=(
        VodFile(fileId="F9", name="rec", url="https://vod.example/9.mp4", vid="v1",
                createTime=iso(T0 + NINETY_MINUTES + 101)),
        VodFile(fileId="F8", name="rec", url="https://vod.example/8.mp4", vid="v8",
                createTime=iso(T0 + NINETY_MINUTES + 101))))  # another vid: not ours
    assert sorted((f.id, f.status) for f in r.session().files) == [
        ("F9", "ready"), ("rec#1", "lost")]


def test_a_vod_file_created_before_the_start_was_sent_is_an_earlier_recordings() -> None:
    r = Rec()
    crashed_after(r, 600.0)
    r.at(662.0, SearchMediaOk, files=(
        VodFile(fileId="OLD", name="rec", url="https://vod.example/old.mp4",
                createTime=iso(T0 - 1)),))  # one second before the start
    assert r.files() == [("rec#1", "closed", 0.0, 600.0)]


# ---- the vendor's registration: partitions and the meaning of codes ---------------------------
def test_sessions_are_partitioned_by_user_so_one_users_rooms_meet_in_one_worker() -> None:
    """002 §2: one recording per user at a time, across rooms: every session of a user (key
    ``{relationId}:{roomId}:{user}``) has the user as its partition key."""
    from recstate.machines.tencent import VENDOR_SPEC

    part = VENDOR_SPEC.partition_key
    assert part is not None
    assert part("15000:7:alice") == "alice"
    assert part("15000:8:alice") == "alice"
    assert part("15000:7:bob") == "bob"
    assert part("15000:7:a:b") == "a:b"  # a user name may hold a colon: only two are split


def test_explain_gives_004s_meaning_of_a_code_and_nothing_for_the_machines_own_words() -> None:
    from recstate.machines.tencent import VENDOR_SPEC

    assert VENDOR_SPEC.explain is not None
    known = VENDOR_SPEC.explain(30000002)
    # 004 §5: 30000002 SDK请求解析失败-没有录制文件名字段, 【录制请求字段填写是否完整】
    assert known.code == 30000002
    assert known.meaning.startswith("SDK请求解析失败-没有录制文件名字段")
    assert "录制请求字段填写是否完整" in known.advice
    assert VENDOR_SPEC.explain("not-in-room") is None

"""Every state has a way out (issue 9, point 1): NetEase answer deadlines, the call's end learnt
from the server side (抄送 eventType 5, the files), a maximum call duration; and, over fault
scenarios of every vendor, no session is stuck 24 h after its data stops: Juphoon's
``max_record_duration`` (001 reports nothing while Running), CloudRoom's no-report watchdog
(003: LocMixerOutputInfo comes all through the recording)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_juphoon_machine import Channel
from test_juphoon_machine import params as jparams
from test_netease_callback import SECRET, signed
from test_netease_machine import AV0, CID, T0, Harness, connect_caller, fileinfo

from recstate.adapters.cloudroom import CloudRoomSimulator
from recstate.adapters.netease import CallbackReceiver, NetEaseSimulator, deliver_to
from recstate.adapters.tencent import TencentSimulator
from recstate.clock import ManualClock
from recstate.events import parse_event
from recstate.events.cloudroom import (
    AddLocMixerOutput,
    CreateLocMixer,
    DestroyLocMixer,
    LocMixerOutputInfo,
    OutputInfo,
    RmLocMixerOutput,
    UpdateLocMixerContent,
)
from recstate.machines.cloudroom import CloudRoomOptions
from recstate.machines.juphoon import JuphoonOptions
from recstate.machines.netease import NetEaseOptions
from recstate.machines.tencent import TencentOptions
from recstate.runtime import Runtime


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


def codes(h: Harness) -> list[Any]:
    return [code for _, code, _, _ in h.notices]


AUDIO_SINGLE = {"recordType": "2", "recordAudio": True}


# ---- answer deadlines ---------------------------------------------------------------------------
def test_1_an_unanswered_start_rtc_hangs_up_after_30_s_and_expects_the_files(h: Harness
                                                                            ) -> None:
    h.at(0, "call", {"callee": "bob", "type": 1, "record": AUDIO_SINGLE})
    h.at(1, "callAccepted", {"account": "bob", "cid": CID})
    h.runtime.advance(T0 + 30.9)
    assert h.session.state == "connecting"
    h.runtime.advance(T0 + 31)
    assert h.session.state == "awaiting_files"
    assert h.names() == ["call", "startRtc", "hangup"]
    assert "no-answer" in codes(h)
    assert h.files() == {"caller.aac": "expected", "callee.aac": "expected"}
    h.runtime.advance(T0 + 31 + 30 * 60)  # files_deadline
    assert h.session.state == "complete"
    assert h.files() == {"caller.aac": "lost", "callee.aac": "lost"}


def test_1_an_unanswered_start_rtc_of_an_unrecorded_call_fails_it(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 1})
    h.at(1, "callAccepted", {"account": "bob", "cid": CID})
    h.runtime.advance(T0 + 31)
    assert h.session.state == "failed"
    assert h.names() == ["call", "startRtc", "hangup"]


def test_1_an_unanswered_response_fails_the_call(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "ann", "cid": CID, "type": 1})
    h.at(5, "accept", {"record": AUDIO_SINGLE})
    h.runtime.advance(T0 + 35)
    assert h.session.state == "failed"
    assert h.names() == ["response", "hangup"]
    assert "no-answer" in codes(h)


def test_1_an_unanswered_join_channel_fails_and_leaves(h: Harness) -> None:
    h.at(0, "joinChannel", {"channelName": CID, "type": 2, "record": AV0})
    h.runtime.advance(T0 + 30)
    assert h.session.state == "failed"
    assert h.names() == ["joinChannel", "leaveChannel"]


def test_1_a_call_that_rings_with_no_accept_or_reject_ends(h: Harness) -> None:
    h.at(0, "beCalling", {"caller": "ann", "cid": CID, "type": 1})
    h.runtime.advance(T0 + 59)
    assert h.session.state == "ringing"
    h.runtime.advance(T0 + 60)
    assert h.session.state == "ended"
    assert h.names() == []


# ---- the server's word: 抄送 eventType 5 and the files ------------------------------------------
def call_record(**more: Any) -> dict[str, Any]:
    return {"eventType": "5", "channelId": CID, "createtime": str(int(T0 * 1000)),
            "duration": "298", "status": "SUCCESS", "type": "AUDIO",
            "members": '[{"accid":"ann","caller":true,"duration":298},'
                       '{"accid":"bob","duration":298}]', **more}


def test_1_the_servers_call_record_ends_a_call_whose_hangup_was_lost(h: Harness) -> None:
    connect_caller(h, type_=1, record=AUDIO_SINGLE)
    h.at(2.5, "call:ok", {"cid": CID})
    assert h.session.state == "recording"
    h.at(300, "callback", call_record(), session=None)
    assert h.session.state == "awaiting_files"
    assert "ended-by-server" in codes(h)
    h.at(360, "callback", fileinfo(("ann", True, "aac", False), ("bob", False, "aac", False)),
         session=None)
    assert h.session.state == "complete"
    assert h.files() == {"caller.aac": "ready", "callee.aac": "ready"}


def test_1_a_call_record_after_the_local_end_is_compared_with_it(h: Harness) -> None:
    connect_caller(h, type_=1, record=AUDIO_SINGLE)
    h.at(2.5, "call:ok", {"cid": CID})
    h.at(300, "hangup")
    h.at(301, "callback", call_record(), session=None)  # 298 s there, 298 s here
    assert ("server-record" in codes(h), "server-duration" in codes(h)) == (True, False)
    h.at(302, "callback", call_record(duration="5000"), session=None)
    assert "server-duration" in codes(h)
    assert h.session.state == "awaiting_files"


def test_1_files_while_start_rtc_is_unanswered_end_the_call(h: Harness) -> None:
    h.at(0, "call", {"callee": "bob", "type": 1, "record": AUDIO_SINGLE})
    h.at(1, "callAccepted", {"account": "bob", "cid": CID})
    h.at(20, "callback", fileinfo(("ann", True, "aac", False), ("bob", False, "aac", False)),
         session=None)
    assert h.session.state == "complete"
    assert "ended-by-files" in codes(h)


def test_1_the_receiver_hands_a_call_record_to_the_call_of_its_channel() -> None:
    rt = Runtime(ManualClock(T0))
    for t, name, data in ((T0, "beCalling", {"caller": "ann", "cid": CID, "type": 1}),
                          (T0 + 1, "accept", {"record": AUDIO_SINGLE}),
                          (T0 + 2, "response:ok", None), (T0 + 3, "startRtc:ok", None)):
        rt.advance(t)
        rt.dispatch(parse_event("netease", name, t, data, CID))
    rt.advance(T0 + 300)
    receiver = CallbackReceiver(SECRET, clock=rt.clock)
    body = orjson.dumps(call_record())
    events = receiver(signed(body, cur=T0 + 300), body)
    assert [(e.name, e.session) for e in events] == [("callback", CID)]
    deliver_to(rt)(events)
    assert rt.sessions[CID].state == "awaiting_files"


# ---- a maximum call duration --------------------------------------------------------------------
def test_1_max_call_duration_hangs_up_a_call_no_end_reached() -> None:
    h = Harness(options=NetEaseOptions(max_call_duration=3600))
    connect_caller(h, type_=1, record=AUDIO_SINGLE)
    h.runtime.advance(T0 + 2 + 3599)
    assert h.session.state == "recording"
    h.runtime.advance(T0 + 2 + 3600)
    assert h.session.state == "awaiting_files"
    assert h.names()[-1] == "hangup"
    assert "max-duration" in codes(h)
    h.close()
    with pytest.raises(ValueError, match="max_call_duration"):
        NetEaseOptions(max_call_duration=0)


# ---- no session stuck 24 h after its data stops -------------------------------------------------
NETEASE_DONE = {"idle", "complete", "ended", "failed"}
TENCENT_DONE = {"idle", "stopped", "failed"}
DAY = 24 * 3600.0
NEVER = 10 * DAY  # an answer that comes after the check: never, as far as it can tell


@st.composite
def netease_faults(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "role": draw(st.sampled_from(["caller", "callee", "channel"])),
        "record": draw(st.sampled_from([None, AUDIO_SINGLE, AV0,
                                        {"recordType": "1", "recordVideo": True}])),
        "delay": draw(st.sampled_from([0.1, 5.0, NEVER])),
        "errors": draw(st.sets(st.sampled_from(["call", "response", "startRtc",
                                                "joinChannel"]), max_size=1)),
        "answer": draw(st.sampled_from(["accept", "reject", "none"])),
        "accept": draw(st.booleans()),
        "hangup_after": draw(st.sampled_from([None, 30.0, 3600.0])),
        "files_after": draw(st.sampled_from([60.0, NEVER])),
        "drop": draw(st.sets(st.sampled_from(["caller", "callee", "self", "mix"]))),
        "record_5": draw(st.booleans()),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
          database=None, derandomize=True)
@given(netease_faults())
def test_1_no_netease_session_is_stuck_24_h_after_its_data_stops(f: dict[str, Any]) -> None:
    rt = Runtime(ManualClock(T0), options={"netease": NetEaseOptions(
        max_call_duration=6 * 3600)})
    sim = NetEaseSimulator(rt, delay=f["delay"], answer=f["answer"],
                           files_after=f["files_after"], drop=tuple(f["drop"]),
                           errors={api: (500, "server error") for api in f["errors"]})
    record = {"record": f["record"]} if f["record"] else {}
    try:
        if f["role"] == "caller":
            rt.dispatch(parse_event("netease", "call", T0, {"callee": "bob", "type": 1,
                                                             **record}, CID))
        elif f["role"] == "callee":
            rt.dispatch(parse_event("netease", "beCalling", T0,
                                    {"caller": "ann", "cid": CID, "type": 1}, CID))
            rt.advance(T0 + 3)
            if f["accept"]:
                rt.dispatch(parse_event("netease", "accept", T0 + 3, record, CID))
        else:
            rt.dispatch(parse_event("netease", "joinChannel", T0,
                                    {"channelName": CID, "type": 2, **record}, CID))
        last = rt.clock.now()
        if f["hangup_after"] is not None:
            last = T0 + f["hangup_after"]
            rt.advance(last)
            rt.dispatch(parse_event("netease", "hangup", last, {}, CID))
        if f["record_5"]:  # the server's record of the end, 90 s after it
            last = (last if f["hangup_after"] is not None else T0 + 600) + 90
            rt.advance(last)
            rt.dispatch(parse_event("netease", "callback", last, {
                "eventType": "5", "channelId": CID, "duration": "100", "status": "SUCCESS"}))
        rt.advance(last + DAY)
    finally:
        sim.close()
    stuck = {k: s.state for k, s in rt.sessions.items() if s.state not in NETEASE_DONE}
    assert stuck == {}, f


@st.composite
def tencent_faults(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "fault": draw(st.sampled_from(["none", "crash", "drop_start_ok", "drop_stop_ok",
                                       "fail_start", "fail_stop", "never_stop",
                                       "slow"])),
        "minutes": draw(st.sampled_from([1, 10, 100, 200])),
        "stop": draw(st.booleans()),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
          database=None, derandomize=True)
@given(tencent_faults())
def test_1_no_tencent_session_is_stuck_24_h_after_its_data_stops(f: dict[str, Any]) -> None:
    from recstate.events.tencent import (
        EnterRoom,
        RecordParam,
        RoomInfo,
        StartRecording,
        StopRecording,
    )

    rt = Runtime(ManualClock(T0), options={"tencent": TencentOptions()})
    sim = TencentSimulator(rt)
    room = RoomInfo(relationId=1, roomId=2)
    fault = f["fault"]
    if fault == "drop_start_ok":
        sim.drop_next("requestMultiVideoRecorderStart:ok")
    elif fault == "fail_start":
        sim.fail_next("requestMultiVideoRecorderStart", 30000208)
    elif fault == "slow":
        sim.delay(NEVER, "requestMultiVideoRecorderStart")
    try:
        rt.dispatch(EnterRoom(t=T0, relationId=1, roomId=2, user="bob"))
        rt.dispatch(StartRecording(t=T0, roomInfo=room, user="bob",
                                   param=RecordParam(fileName="lesson")))
        end = T0 + f["minutes"] * 60
        if fault == "crash":
            rt.advance(T0 + 30)
            sim.crash("1:2:bob")
        rt.advance(end)
        if f["stop"] and fault != "never_stop":
            if fault == "drop_stop_ok":
                sim.drop_next("requestMultiVideoRecorderStop:ok")
            elif fault == "fail_stop":
                sim.fail_next("requestMultiVideoRecorderStop", 30000208)
            rt.dispatch(StopRecording(t=end, roomInfo=room, user="bob"))
        elif fault != "crash":
            sim.crash("1:2:bob")  # the client goes away without a stop: its data stops
        rt.advance(end + DAY)
    finally:
        sim.disconnect()
    stuck = {k: s.state for k, s in rt.sessions.items() if s.state not in TENCENT_DONE}
    assert stuck == {}, f


# ---- Juphoon: a maximum record duration (001 gives no end signal while Running) -------------
def juphoon_recording(**options: Any) -> Channel:
    """Joined at 0, Ready at 0.4, enableRecord(true) at 1, Running at 1.2."""
    ch = Channel(**options)
    ch.join(0, jparams("a.mp4"))
    ch.state(0.4, "Ready")
    ch.enable(1, True)
    ch.state(1.2, "Running")
    assert ch.session.state == "recording"
    return ch


def enables(ch: Channel) -> list[Any]:
    return [(c.name, c.data.get("enable")) for c in ch.commands()  # type: ignore[union-attr]
            if c.name != "stat"]


def test_1_juphoon_max_record_duration_defaults_to_12_h_and_is_checked() -> None:
    assert JuphoonOptions().max_record_duration == 12 * 3600
    assert JuphoonOptions(max_record_duration=None).max_record_duration is None
    for bad in (0, -1, float("inf"), float("nan"), True, "3600"):
        with pytest.raises(ValueError, match="max_record_duration"):
            JuphoonOptions(max_record_duration=bad)  # type: ignore[arg-type]


def test_1_juphoon_max_record_duration_stops_a_recording_with_enable_record_false() -> None:
    ch = juphoon_recording(max_record_duration=3600)
    ch.rt.advance(T0 + 1.2 + 3599.9)
    assert ch.session.state == "recording"
    ch.rt.advance(T0 + 1.2 + 3600)
    assert ch.session.state == "disabling"
    assert enables(ch) == [("join", None), ("enableRecord", True), ("enableRecord", False)]
    assert "max-duration" in ch.codes()
    ch.state(3601.5, "Ready")  # a live client answers: the file ends at its Ready
    assert ch.session.state == "stopped"
    (f,) = ch.session.files
    assert (f.start, f.end, f.status) == (T0 + 1.2, T0 + 3601.5, "closed")
    assert ch.kind("violation") == []


def test_1_an_unanswered_stop_at_max_record_duration_leaves_the_channel() -> None:
    ch = juphoon_recording(max_record_duration=3600)
    limit = T0 + 1.2 + 3600
    ch.rt.advance(limit + 29.9)  # enable_timeout: 30 s
    assert ch.session.state == "disabling"
    ch.rt.advance(limit + 30)
    assert ch.session.state == "leaving"
    assert enables(ch)[-1] == ("leave", None)
    (f,) = ch.session.files
    assert (f.end, f.status) == (limit + 30, "closed")
    ch.rt.advance(limit + 60)  # answer_timeout: 30 s
    assert ch.session.state == "left"
    assert ch.codes().count("no-answer") == 1
    assert ch.changes == [("idle", "starting"), ("starting", "recording"),
                          ("recording", "stopped")]


def test_1_the_limit_during_an_asked_stop_makes_its_deadline_leave() -> None:
    ch = juphoon_recording(max_record_duration=3600)
    ch.enable(3590, False)  # the app's own stop, never answered
    ch.rt.advance(T0 + 1.2 + 3600)
    assert ch.session.state == "disabling"
    assert "max-duration" in ch.codes()
    ch.rt.advance(T0 + 3590 + 30)
    assert ch.session.state == "leaving"
    assert [n for n, _ in enables(ch)] == ["join", "enableRecord", "enableRecord", "leave"]


def test_1_without_a_limit_an_unanswered_stop_keeps_the_file_open() -> None:
    ch = juphoon_recording(max_record_duration=None)
    ch.rt.advance(T0 + 10 * DAY)
    assert ch.session.state == "recording"
    ch.enable(10 * DAY + 1, False)
    ch.rt.advance(T0 + 10 * DAY + 31)
    assert ch.session.state == "recording"  # 001: the vendor still says Running


def test_1_each_span_has_its_own_limit() -> None:
    ch = juphoon_recording(max_record_duration=3600)
    ch.enable(1000, False)
    ch.state(1000.2, "Ready")
    ch.enable(2000, True, jparams("b.mp4"))
    ch.state(2000.2, "Running")
    ch.rt.advance(T0 + 1.2 + 3600)  # the first span's limit: long gone
    assert ch.session.state == "recording"
    ch.rt.advance(T0 + 2000.2 + 3600)
    assert ch.session.state == "disabling"


def test_1_no_juphoon_session_is_stuck_24_h_after_its_client_goes_silent() -> None:
    from recstate.adapters.juphoon.scenarios import CHANNEL, params
    from recstate.adapters.juphoon.simulator import JuphoonSimulator
    from recstate.events.juphoon import EnableRecord, Join, JoinParam

    rt = Runtime(ManualClock(T0))
    sim = JuphoonSimulator(rt)
    try:
        rt.dispatch(Join(t=T0, channelId=CHANNEL, joinParam=JoinParam(record=params("a.mp4"))))
        rt.advance(T0 + 2)
        rt.dispatch(EnableRecord(t=T0 + 2, channelId=CHANNEL, enable=True))
        rt.advance(T0 + 10)
        assert rt.sessions[CHANNEL].state == "recording"
    finally:
        sim.disconnect()  # the client says nothing more, and answers nothing
    rt.advance(T0 + 10 + DAY)
    session = rt.sessions[CHANNEL]
    assert session.state == "left"
    (f,) = session.files
    # Running at 2.2 (the simulator's 0.2 s), 12 h, then the stop's 30 s deadline
    assert (f.end, f.status) == (T0 + 2.2 + 12 * 3600 + 30, "closed")


JUPHOON_DONE = {"idle", "joined", "stopped", "left", "failed"}  # joined/stopped hold no file


@st.composite
def juphoon_faults(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "silent_after": draw(st.sampled_from(["join", "enable", "running", "never"])),
        "fail_join": draw(st.booleans()),
        "drop": draw(st.sets(st.sampled_from(["onJoin:ok", "onLeave",
                                              "onMediaChannelPropertyChange"]), max_size=2)),
        "mute_enables": draw(st.sampled_from([0, 1, 2])),
        "disable_at": draw(st.sampled_from([None, 600.0])),
        "leave_at": draw(st.sampled_from([None, 900.0])),
        "limit": draw(st.sampled_from([3600.0, 12 * 3600.0])),
    }


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck),
          database=None, derandomize=True)
@given(juphoon_faults())
def test_1_no_juphoon_session_is_stuck_24_h_after_its_data_stops(f: dict[str, Any]) -> None:
    from recstate.adapters.juphoon.simulator import JuphoonSimulator
    from recstate.events.juphoon import EnableRecord, Join, JoinParam, Leave

    key = "lesson-9"
    rt = Runtime(ManualClock(T0), options={"juphoon": JuphoonOptions(
        max_record_duration=f["limit"])})
    sim = JuphoonSimulator(rt)
    if f["fail_join"]:
        sim.fail_next("join", 10)
    for name in f["drop"]:
        sim.drop_next(name)
    if f["mute_enables"]:
        sim.never_answer_next(times=f["mute_enables"])
    silent = False

    def go_silent(when: str) -> None:
        nonlocal silent
        if f["silent_after"] == when and not silent:
            sim.disconnect()
            silent = True

    try:
        rt.dispatch(Join(t=T0, channelId=key, joinParam=JoinParam(record=jparams("a.mp4"))))
        go_silent("join")
        rt.advance(T0 + 5)
        rt.dispatch(EnableRecord(t=T0 + 5, channelId=key, enable=True))
        go_silent("enable")
        rt.advance(T0 + 60)
        go_silent("running")
        last = T0 + 60
        for at, ev in ((f["disable_at"], EnableRecord(t=0, channelId=key, enable=False)),
                       (f["leave_at"], Leave(t=0, channelId=key))):
            if at is not None:
                last = T0 + at
                rt.advance(last)
                rt.dispatch(attrs.evolve(ev, t=last))
        rt.advance(last + DAY)
    finally:
        if not silent:
            sim.disconnect()
    session = rt.sessions[key]
    assert session.state in JUPHOON_DONE, f
    assert [x.id for x in session.files if x.status == "open"] == [], f


# ---- CloudRoom: a no-report watchdog (003 §3: LocMixerOutputInfo all through a recording) ---
CR_CFG = {"width": 640, "height": 360, "frameRate": 8, "bitRate": 350000}
CR_CONTENT = [{"type": 0, "left": 0, "top": 0, "width": 640, "height": 360,
               "param": {"camid": "user1.1"}}]
WRITING = 1  # Windows / Web numbering (Constant.md): CREATED 0, WRITING 1, CLOSED 2, ERR 3


class Mixer:
    """Mixer "1" on Windows, on a manual clock, with its trace records."""

    def __init__(self, **options: Any) -> None:
        self.records: list[Any] = []
        self.rt = Runtime(ManualClock(T0), tracer=self.records.append,
                          options={"cloudroom": CloudRoomOptions(**options)})
        self.rt.dispatch(CreateLocMixer(t=T0, mixerID="1", mixerCfg=CR_CFG,
                                        mixerContent=CR_CONTENT))

    def add(self, *names: str, s: float = 0) -> None:
        self.rt.advance(T0 + s)
        self.rt.dispatch(AddLocMixerOutput(t=T0 + s, mixerID="1", outputs=[
            {"type": 0, "filename": n} for n in names]))

    def writing(self, name: str, s: float, duration: int, size: int) -> None:
        self.rt.advance(T0 + s)
        self.rt.dispatch(LocMixerOutputInfo(t=T0 + s, mixerID="1", nameOrUrl=name,
                                            outputInfo=OutputInfo(state=WRITING,
                                                                  duration=duration,
                                                                  fileSize=size)))

    @property
    def session(self) -> Any:
        return self.rt.sessions["1"]

    def file(self, name: str) -> Any:
        f = next(f for f in self.session.files if f.id == name)
        return (f.status, None if f.end is None else f.end - T0, f.size)

    def codes(self) -> list[Any]:
        return [r.data["code"] for r in self.records if r.kind == "error"]


def test_1_cloudroom_silence_timeout_defaults_past_the_8_h_maximum_and_is_checked() -> None:
    # Constant.md 901: "单次录制达到最大时长(8h)"; the default waits 10 min past it
    assert CloudRoomOptions().silence_timeout == 8 * 3600 + 600
    assert CloudRoomOptions(silence_timeout=None).silence_timeout is None
    for bad in (0, -5, float("inf"), float("nan"), False, "60"):
        with pytest.raises(ValueError, match="silence_timeout"):
            CloudRoomOptions(silence_timeout=bad)  # type: ignore[arg-type]


def test_1_a_mixer_whose_every_output_goes_silent_ends_as_in_a_crash() -> None:
    m = Mixer(silence_timeout=60)
    m.add("D:/1.mp4", "D:/1.flv")
    for s in (10, 20, 30):  # 350 kbps is 43,750 bytes a second
        m.writing("D:/1.mp4", s, s * 1000, s * 43_750)
        m.writing("D:/1.flv", s, s * 1000, s * 43_750)
    m.rt.advance(T0 + 89.9)
    assert (m.session.state, m.file("D:/1.flv")[0]) == ("created", "open")
    m.rt.advance(T0 + 90)
    assert m.session.state == "crashed"
    assert "app-silent" in m.codes()
    # 003: only flv and ts survive a crash; both end at the last report, with its figures
    assert m.file("D:/1.flv") == ("closed", 30, 30 * 43_750)
    assert m.file("D:/1.mp4")[:2] == ("lost", 30)
    assert m.session.context.outputs["D:/1.flv"].closed_by == "silence"


def test_1_one_silent_output_is_closed_while_the_others_go_on() -> None:
    m = Mixer(silence_timeout=60)
    m.add("D:/a.flv", "D:/b.ts")
    m.writing("D:/a.flv", 20, 20_000, 875_000)
    for s in range(20, 150, 20):
        m.writing("D:/b.ts", s, s * 1000, s * 43_750)
    assert m.session.state == "created"
    assert m.file("D:/a.flv") == ("closed", 20, 875_000)  # at 80: 60 s after its last report
    assert m.file("D:/b.ts")[0] == "open"
    assert m.codes().count("output-silent") == 1
    m.rt.advance(T0 + 140 + 60)  # b's last report at 140
    assert m.session.state == "crashed"
    assert m.file("D:/b.ts") == ("closed", 140, 140 * 43_750)


def test_1_an_output_that_never_reported_ends_at_its_add() -> None:
    m = Mixer(silence_timeout=60)
    m.add("D:/1.ts", s=5)
    m.rt.advance(T0 + 65)
    assert m.session.state == "crashed"
    assert m.file("D:/1.ts") == ("closed", 5, None)  # no size was ever reported


def test_1_a_report_after_the_silence_is_taken_and_said_once() -> None:
    m = Mixer(silence_timeout=60)
    m.add("D:/1.flv")
    m.writing("D:/1.flv", 10, 10_000, 437_500)
    m.rt.advance(T0 + 70)
    assert m.session.state == "crashed"
    m.writing("D:/1.flv", 80, 80_000, 3_500_000)
    m.writing("D:/1.flv", 90, 90_000, 3_937_500)
    assert m.codes().count("heard-after-silence") == 1
    assert m.file("D:/1.flv") == ("closed", 90, 3_937_500)


def test_1_a_destroyed_mixer_and_a_mixer_without_a_watchdog_are_left_alone() -> None:
    m = Mixer(silence_timeout=60)
    m.add("D:/1.mp4")
    m.writing("D:/1.mp4", 10, 10_000, 437_500)
    m.rt.advance(T0 + 20)
    m.rt.dispatch(DestroyLocMixer(t=T0 + 20, mixerID="1"))
    m.rt.advance(T0 + DAY)
    assert (m.session.state, m.file("D:/1.mp4")) == ("destroyed", ("closed", 10, 437_500))
    assert "app-silent" not in m.codes()
    off = Mixer(silence_timeout=None)
    off.add("D:/1.mp4")
    off.rt.advance(T0 + 10 * DAY)
    assert (off.session.state, off.file("D:/1.mp4")[0]) == ("created", "open")


def test_1_a_mixer_that_writes_nothing_ends_when_its_app_says_nothing() -> None:
    m = Mixer(silence_timeout=60)
    m.add("D:/1.mp4")
    m.rt.advance(T0 + 10)
    m.rt.dispatch(RmLocMixerOutput(t=T0 + 10, mixerID="1", outputs=("D:/1.mp4",)))
    m.rt.advance(T0 + 50)  # a word from the app: a new layout
    m.rt.dispatch(UpdateLocMixerContent(t=T0 + 50, mixerID="1", mixerContent=CR_CONTENT))
    m.rt.advance(T0 + 109.9)
    assert m.session.state == "created"
    m.rt.advance(T0 + 110)
    assert m.session.state == "crashed"
    (message,) = [r.data["message"] for r in m.records
                  if r.kind == "error" and r.data["code"] == "app-silent"]
    assert "nothing was recording" in message
    assert m.file("D:/1.mp4") == ("closed", 10, None)  # removed, never reported: untouched


def test_1_with_the_default_a_silent_app_ends_8_h_10_min_after_its_last_report() -> None:
    rt = Runtime(ManualClock(T0))
    sim = CloudRoomSimulator(rt, interval=60.0)
    try:
        rt.dispatch(CreateLocMixer(t=T0, mixerID="m", mixerCfg=CR_CFG,
                                   mixerContent=CR_CONTENT))
        rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[
            {"type": 0, "filename": "D:/1.ts"}]))
        sim.go_silent(["m"], T0 + 3630)  # the last report: WRITING at 3600 s
        rt.advance(T0 + 3600 + 8 * 3600 + 599)
        assert rt.sessions["m"].state == "created"
        rt.advance(T0 + 3600 + 8 * 3600 + 600)
    finally:
        sim.disconnect()
    s = rt.sessions["m"]
    assert s.state == "crashed"
    (f,) = s.files
    # the simulator's 62,500 bytes a second, 3600 s
    assert (f.status, f.end, f.size) == ("closed", T0 + 3600, 3600 * 62_500)


CLOUDROOM_DONE = {"idle", "destroyed", "crashed"}


@st.composite
def cloudroom_faults(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "platform": draw(st.sampled_from(["windows", "android"])),
        "formats": draw(st.lists(st.sampled_from(["mp4", "flv", "ts", "mp3", "avi"]),
                                 min_size=1, max_size=3, unique=True)),
        "interval": draw(st.sampled_from([10.0, 60.0, 600.0])),
        "silence": draw(st.sampled_from([None, 120.0, 3600.0])),
        "fault": draw(st.sampled_from(["silent", "crash", "destroy", "remove_one",
                                       "disk_full", "fail_one", "none"])),
        "minutes": draw(st.sampled_from([1, 30, 120, 400])),
        "upload": draw(st.booleans()),
        "silent_later": draw(st.booleans()),
    }


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck),
          database=None, derandomize=True)
@given(cloudroom_faults())
def test_1_no_cloudroom_output_is_open_24_h_after_its_client_goes_silent(f: dict[str, Any]
                                                                         ) -> None:
    options = CloudRoomOptions() if f["silence"] is None else CloudRoomOptions(
        silence_timeout=f["silence"])
    if f["upload"]:
        options.upload_target = "https://record.example.com/upload/"
    rt = Runtime(ManualClock(T0), options={"cloudroom": options})
    sim = CloudRoomSimulator(rt, interval=f["interval"])
    names = [f"D:/rec/1.{ext}" for ext in f["formats"]]
    end = T0 + f["minutes"] * 60
    try:
        rt.dispatch(CreateLocMixer(t=T0, mixerID="m", mixerCfg=CR_CFG,
                                   mixerContent=CR_CONTENT, platform=f["platform"]))
        rt.dispatch(AddLocMixerOutput(t=T0, mixerID="m", outputs=[
            {"type": 0, "filename": n} for n in names]))
        fault = f["fault"]
        if fault == "silent":
            sim.go_silent(["m"], end)
        elif fault == "crash":
            sim.crash(["m"], end)
        elif fault == "disk_full":
            sim.disk_full(end)
        elif fault == "fail_one":
            sim.fail_output(names[0], 904, end)
        rt.advance(end)
        if fault == "destroy":
            rt.dispatch(DestroyLocMixer(t=end, mixerID="m"))
        elif fault == "remove_one":
            rt.dispatch(RmLocMixerOutput(t=end, mixerID="m", outputs=(names[0],)))
        if f["silent_later"] and fault != "silent":  # then the app goes away unannounced
            sim.go_silent(["m"], end + 1)
        rt.advance(end + 1 + DAY)
    finally:
        sim.disconnect()
    s = rt.sessions["m"]
    still = {n: o.state for n, o in s.context.outputs.items()
             if o.state in ("added", "created", "writing")}
    assert still == {}, f
    assert [x.id for x in s.files if x.status == "open"] == [], f
    if f["silent_later"] or fault in ("silent", "crash", "destroy"):
        assert s.state in CLOUDROOM_DONE, f
